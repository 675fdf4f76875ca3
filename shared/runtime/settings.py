"""Typed configuration, read from the environment the template declares. Read once per container.

Domain code never reads ``os.environ``: handlers build these models and pass values in.
"""

from __future__ import annotations

import os
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EnvSettings(BaseModel):
    """A frozen pydantic model read from the process environment by :meth:`from_env`: a field ``name``
    from the variable ``NAME`` (any case), other variables ignored; values are validated (and coerced from
    their text) by the model as any pydantic input is.

    What ``pydantic_settings.BaseSettings`` did for these flat models (scalar fields only), without importing
    it: its import cost about an eighth of a Powertools hello handler's init in CPU time, on every function's
    cold start (issue 11)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, **values: Any) -> Self:
        """The model of this process's environment; keyword arguments take precedence."""
        names = cls.model_fields
        found = {key.lower(): value for key, value in os.environ.items() if key.lower() in names}
        return cls.model_validate({**found, **values})


class CoreSettings(EnvSettings):
    """What every ClinicText function needs: the clinic, its keys and its tables."""

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


class RejectionSettings(EnvSettings):
    """Where input that can never be processed is parked (the encrypted AsyncFailureQueue)."""

    rejected_queue_url: str = ""
