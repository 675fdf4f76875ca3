"""The staff API's settings, read from the environment template.yaml declares for InboxApiFunction."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.inbox.departments import check_department
from shared.runtime.settings import EnvSettings


class StaffApiSettings(EnvSettings):
    inbox_settings_table: str = Field(min_length=3, max_length=255)
    default_time_zone: str = "America/New_York"
    # The Departments parameter, joined with commas: the groups that count as departments.
    departments: str = Field(min_length=1)
    staff_issuer: str = Field(min_length=8)
    staff_client_ids: str = Field(min_length=1)  # comma-separated app client ids
    staff_user_pool_id: str = Field(default="", max_length=55)  # the staff directory (assignments)

    @field_validator("departments")
    @classmethod
    def _departments(cls, value: str) -> str:
        for name in value.split(","):
            check_department(name.strip())
        return value

    @property
    def department_names(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.departments.split(",") if name.strip())

    @property
    def client_ids(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.staff_client_ids.split(",") if name.strip())
