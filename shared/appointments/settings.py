"""Settings of the reminder functions: offsets, fan-out window, quiet hours, caps, pacing."""

from __future__ import annotations

from datetime import time

from pydantic import Field

from shared.outbound.caps import FrequencyCaps
from shared.outbound.pacing import DEFAULT_RATES
from shared.outbound.quiet_hours import QuietHours
from shared.runtime.settings import CoreSettings


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
