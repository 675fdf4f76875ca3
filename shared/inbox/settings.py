"""The inbox functions' settings, read from the environment template.yaml declares."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.inbox.departments import check_department
from shared.outbound.pacing import DEFAULT_RATES
from shared.runtime.settings import CoreSettings, EnvSettings


class InboxFunctionSettings(CoreSettings):
    conversations_table: str
    on_call_topic_arn: str
    default_department: str = "front-desk"
    staff_app_url: str = Field(min_length=1, max_length=200, default="https://inbox.invalid")
    escalation_interval_minutes: int = Field(default=10, ge=1, le=240)
    escalation_max_attempts: int = Field(default=6, ge=1, le=50)
    origination_type: str = "TollFree"
    send_rate_parts_per_second: float = Field(default=0.0, ge=0.0, le=1000.0)
    pacer_max_wait_seconds: float = Field(default=5.0, gt=0.0, le=50.0)

    @field_validator("default_department")
    @classmethod
    def _department(cls, value: str) -> str:
        return check_department(value)

    @property
    def parts_per_second(self) -> float:
        if self.send_rate_parts_per_second > 0:
            return self.send_rate_parts_per_second
        return DEFAULT_RATES.get(self.origination_type, 1.0)


class SweepMetricsSettings(EnvSettings):
    """The sweep's own variables (read per run, not cached: the local stack runs every function in one
    process, and another function's environment has no DEPARTMENTS)."""

    departments: str = ""  # the Departments parameter, joined with commas
    default_department: str = "front-desk"

    @property
    def department_names(self) -> frozenset[str]:
        names = {n.strip() for n in self.departments.split(",") if n.strip()} | {self.default_department}
        return frozenset(check_department(n) for n in names)
