"""The staff console, built once per container from InboxApiFunction's environment."""

from __future__ import annotations

from shared.audit.wiring import audit_reader
from shared.core.clock import SystemClock
from shared.runtime import aws
from shared.runtime.wiring import cached
from shared.staff.service import StaffConsole
from shared.staff.settings import StaffApiSettings
from shared.staff.store import DynamoCannedResponses, DynamoDepartmentDirectory


@cached
def staff_settings() -> StaffApiSettings:
    return StaffApiSettings()  # read from the environment


@cached
def staff_console() -> StaffConsole:
    settings = staff_settings()
    table = aws.table(settings.inbox_settings_table)
    return StaffConsole(
        directory=DynamoDepartmentDirectory(table),
        canned=DynamoCannedResponses(table),
        audit=audit_reader(),
        departments=settings.department_names,
        default_time_zone=settings.default_time_zone,
        clock=SystemClock(),
    )
