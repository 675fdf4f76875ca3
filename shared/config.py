"""Typed configuration, read from the environment the template declares. Read once per container.

Domain code never reads ``os.environ``: handlers build these models and pass values in.
"""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import crypto
from shared.pacing import DEFAULT_RATES
from shared.quiet_hours import QuietHours
from shared.reminders.caps import FrequencyCaps


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
    idempotency_table: str
    appointments_table: str
    reminders_table: str
    control_table: str
    rejected_queue_url: str = ""
    # PHI data-key cache (shared.crypto): one data key serves up to N payloads or this many seconds, so a
    # container that writes or reads 1,000 texts in one window makes one KMS request for each direction.
    phi_cache_capacity: int = Field(default=crypto.CACHE_CAPACITY, ge=1, le=100_000)
    phi_cache_max_age_seconds: float = Field(default=crypto.MAX_CACHE_AGE_SECONDS, gt=0.0, le=3600.0)
    phi_cache_max_messages_per_key: int = Field(default=crypto.MAX_MESSAGES_PER_DATA_KEY, ge=1, le=2**32)

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


class TwilioSettings(CoreSettings):
    """Twilio webhook: where the auth token lives and the public URL Twilio signs."""

    twilio_auth_token_secret_arn: str = ""
    twilio_auth_token_parameter: str = ""
    public_base_url: str = ""
    token_cache_seconds: int = 300


class DeliverySettings(CoreSettings):
    """Delivery status: the SNS SMS delivery log groups (comma-separated) the function accepts."""

    delivery_log_groups: str = ""

    @property
    def log_groups(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.delivery_log_groups.split(",") if name.strip())


class ReminderSettings(CoreSettings):
    reminder_offsets_minutes: str = "2880,120"
    reminder_queue_url: str = ""
    fanout_lookback_hours: int = 26
    requeue_after_minutes: int = 30
    quiet_hours_start: str = "08:00"  # recipient's local time; TCPA: no earlier than 08:00
    quiet_hours_end: str = "21:00"  # and no later than 21:00 (some states: 20:00)
    frequency_cap_per_day: int = Field(default=1, ge=1, le=24)  # FCC healthcare exemption: <= 1 a day
    frequency_cap_per_week: int = Field(default=3, ge=1, le=168)  # and <= 3 a week
    origination_type: str = "TollFree"
    send_rate_parts_per_second: float = Field(default=0.0, ge=0.0, le=1000.0)  # 0: the type's default
    pacer_max_wait_seconds: float = Field(default=20.0, gt=0.0, le=50.0)
    template_cache_seconds: float = Field(default=60.0, ge=0.0, le=3600.0)  # a saved template is used within

    @property
    def caps(self) -> FrequencyCaps:
        return FrequencyCaps(self.frequency_cap_per_day, self.frequency_cap_per_week)

    @property
    def parts_per_second(self) -> float:
        if self.send_rate_parts_per_second > 0:
            return self.send_rate_parts_per_second
        try:
            return DEFAULT_RATES[self.origination_type]
        except KeyError:
            raise ValueError(
                f"ORIGINATION_TYPE {self.origination_type!r} is not one of {sorted(DEFAULT_RATES)}"
            ) from None

    @property
    def quiet_hours(self) -> QuietHours:
        return QuietHours(
            time.fromisoformat(self.quiet_hours_start), time.fromisoformat(self.quiet_hours_end)
        )

    @property
    def offsets(self) -> list[int]:
        values = sorted({int(part) for part in self.reminder_offsets_minutes.split(",") if part.strip()})
        if not values:
            raise ValueError("REMINDER_OFFSETS_MINUTES names no offset")
        return sorted(values, reverse=True)
