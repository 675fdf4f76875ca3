"""The staff console's rules on in-memory fakes: admins only where the issue says so, another
department answers like one that does not exist, and every look at the audit trail is recorded first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from shared.audit.service import AuditReader
from shared.core.clock import FixedClock
from shared.core.errors import InvalidInput, NotFound
from shared.inbox.access import RequestOrigin, StaffIdentity
from shared.inbox.canned import CannedResponseRequest
from shared.inbox.departments import DepartmentSettings
from shared.staff.ports import CannedResponse
from shared.staff.service import AdminsOnly, StaffConsole
from tests.fakes import FakeAuditLog

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
ORIGIN = RequestOrigin("203.0.113.7", "inbox-web/1.0")


class MemoryDirectory:
    def __init__(self) -> None:
        self.stored: dict[str, DepartmentSettings] = {}

    def all(self) -> Mapping[str, DepartmentSettings]:
        return dict(self.stored)

    def get(self, department: str) -> DepartmentSettings | None:
        return self.stored.get(department)

    def put(self, department: str, settings: DepartmentSettings) -> None:
        self.stored[department] = settings


class MemoryCanned:
    def __init__(self) -> None:
        self.stored: list[CannedResponse] = []

    def add(self, canned: CannedResponse) -> None:
        self.stored.append(canned)

    def for_department(self, department: str) -> list[CannedResponse]:
        return [c for c in self.stored if c.request.department == department]


def staff(*departments: str, admin: bool = False, user: str = "u-nurse") -> StaffIdentity:
    return StaffIdentity(user, user, frozenset(departments), admin, "inboxclient")


@pytest.fixture
def console() -> StaffConsole:
    ids = iter(f"cr_{n}" for n in range(100))
    return StaffConsole(
        directory=MemoryDirectory(),
        canned=MemoryCanned(),
        audit=AuditReader(FakeAuditLog()),
        departments=frozenset({"front-desk", "nursing", "billing"}),
        default_time_zone="America/Chicago",
        clock=FixedClock(NOW),
        new_id=lambda: next(ids),
    )


def test_admins_see_every_configured_department_and_staff_their_own(console: StaffConsole) -> None:
    assert console.visible_departments(staff(admin=True)) == ["billing", "front-desk", "nursing"]
    assert console.visible_departments(staff("nursing")) == ["nursing"]


def test_another_department_is_told_apart_from_no_department_in_no_way(console: StaffConsole) -> None:
    nurse = staff("nursing")
    settings, configured = console.department_settings(nurse, "nursing")
    assert (
        not configured and settings.time_zone == "America/Chicago" and settings.first_response_minutes == 60
    )
    with pytest.raises(NotFound) as other:
        console.department_settings(nurse, "billing")
    with pytest.raises(NotFound) as missing:
        console.department_settings(nurse, "radiology")
    assert str(other.value) == str(missing.value)
    with pytest.raises(InvalidInput) as bad:
        console.department_settings(nurse, "Not A Department")
    assert bad.value.field == "department"


def test_only_admins_change_settings_and_create_canned_responses(console: StaffConsole) -> None:
    settings = DepartmentSettings(time_zone="America/Denver", first_response_minutes=30)
    with pytest.raises(AdminsOnly):
        console.set_department(staff("nursing"), "nursing", settings)
    assert console.directory.all() == {}
    console.set_department(staff(admin=True), "nursing", settings)
    assert console.department_settings(staff("nursing"), "nursing") == (settings, True)
    request = CannedResponseRequest(department="nursing", name="Refill", body="Hi {first_name}, ready.")
    with pytest.raises(AdminsOnly):
        console.create_canned(staff("nursing"), request)
    created = console.create_canned(staff(admin=True, user="u-admin"), request)
    assert (created.id, created.created_by, created.created_at) == (
        "cr_0",
        "u-admin",
        "2026-11-24T15:30:00.000000Z",
    )
    unknown = CannedResponseRequest(department="pharmacy", name="Refill", body="Ready.")
    with pytest.raises(NotFound):
        console.create_canned(staff(admin=True), unknown)


def test_staff_list_the_canned_responses_of_their_departments_only(console: StaffConsole) -> None:
    admin = staff(admin=True)
    for department in ("nursing", "billing"):
        console.create_canned(admin, CannedResponseRequest(department=department, name="Hi", body="Hello."))
    assert [c.request.department for c in console.list_canned(staff("nursing"))] == ["nursing"]
    assert {c.request.department for c in console.list_canned(admin)} == {"nursing", "billing"}
    with pytest.raises(NotFound):
        console.list_canned(staff("nursing"), "billing")


def test_a_look_at_the_trail_is_recorded_before_the_read_and_a_refusal_records_nothing(
    console: StaffConsole,
) -> None:
    log = console.audit.log
    assert isinstance(log, FakeAuditLog)
    with pytest.raises(AdminsOnly):
        console.read_audit(staff("nursing"), ORIGIN, conversation_id="c_AAAAAAAAAAAAAAAAAAAAAA")
    with pytest.raises(InvalidInput) as bad:
        console.read_audit(staff(admin=True), ORIGIN, conversation_id="c_AAAAAAAAAAAAAAAAAAAAAA", limit=0)
    assert bad.value.field == "limit"
    with pytest.raises(InvalidInput) as bad:
        console.read_audit(staff(admin=True), ORIGIN, user="not an id")
    assert bad.value.field == "user"
    assert log.records == []
    page = console.read_audit(
        staff(admin=True, user="u-admin"), ORIGIN, conversation_id="c_AAAAAAAAAAAAAAAAAAAAAA"
    )
    assert [r.action for r in page.records] == ["audit_read"]  # the look shows itself
    record = log.records[0]
    assert (record.user_id, record.conversation_id, record.source_ip) == (
        "u-admin",
        "c_AAAAAAAAAAAAAAAAAAAAAA",
        "203.0.113.7",
    )
    assert record.client_id == "inboxclient"
