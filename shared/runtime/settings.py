"""Typed configuration, read from the environment the template declares. Read once per container.

Domain code never reads ``os.environ``: handlers build these models and pass values in.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoreSettings(BaseSettings):
    """What every ClinicText function needs: the clinic, its keys and its tables."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    clinic_name: str = Field(min_length=1, max_length=40)
    support_contact: str = Field(min_length=3, max_length=60)
    clinic_phone: str = ""
    default_time_zone: str = "America/New_York"
    default_phone_region: str = "US"
    origination_number: str = ""
    data_key_arn: str
    blind_index_key_arn: str
    consent_table: str
    messages_table: str
    delivery_table: str
    idempotency_table: str
    appointments_table: str
    reminders_table: str
    control_table: str
    rejected_queue_url: str = ""

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"DEFAULT_TIME_ZONE {value!r} is not an IANA time zone") from exc
        return value


class RejectionSettings(BaseSettings):
    """Where input that can never be processed is parked (the encrypted AsyncFailureQueue)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    rejected_queue_url: str = ""
