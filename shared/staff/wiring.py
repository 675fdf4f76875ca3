"""The staff console, built once per container from InboxApiFunction's environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.audit.wiring import audit_reader
from shared.core.clock import SystemClock
from shared.runtime import aws
from shared.runtime.observability import MetricsCounter
from shared.runtime.wiring import cached, core_settings
from shared.staff.service import StaffConsole
from shared.staff.settings import StaffApiSettings
from shared.staff.store import CognitoStaffDirectory, DynamoCannedResponses, DynamoDepartmentDirectory

if TYPE_CHECKING:
    from shared.inbox.access import AdminNotice
    from shared.inbox.service_staff import StaffInbox


@cached
def staff_settings() -> StaffApiSettings:
    return StaffApiSettings.from_env()  # read from the environment


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


@cached
def staff_directory() -> CognitoStaffDirectory:
    """Who may be assigned: the department groups of the staff user pool."""
    settings = staff_settings()
    return CognitoStaffDirectory(
        aws.client("cognito-idp"), settings.staff_user_pool_id, settings.department_names
    )


@cached
def staff_inbox() -> StaffInbox:
    """The staff side of the conversations (list, open, close, notes, labels, break-glass)."""
    from shared.audit.wiring import audit_log
    from shared.consent.wiring import consent_ledger
    from shared.crypto.wiring import blind_index, cipher
    from shared.inbox.service_staff import StaffInbox
    from shared.inbox.wiring import conversation_store, patient_names, staff_reply_sender
    from shared.messaging.wiring import message_log

    store = conversation_store()
    settings = staff_settings()
    return StaffInbox(
        store=store,
        cipher=cipher(),
        staff=staff_directory(),
        consent=consent_ledger(),
        blind_index=blind_index(),
        names=patient_names(),
        settings=store,
        default_time_zone=settings.default_time_zone,
        messages=message_log(),
        send=staff_reply_sender(),
        clinic_name=core_settings().clinic_name,
        clinic_phone=core_settings().clinic_phone,
        audit=audit_log(),
        departments=staff_settings().department_names,
        clock=SystemClock(),
        counter=MetricsCounter(),
    )


def notify_admins(notice: AdminNotice) -> None:
    """A break-glass access, published to OnCallTopic by the inbox's wiring (ids only)."""
    from shared.inbox.wiring import notify_admins as publish

    publish(notice)
