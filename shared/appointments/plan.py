"""Pure reminder planning: keys, statuses, due buckets and which reminders an appointment needs.

No AWS here. The DynamoDB adapters (:mod:`shared.appointments.store.book`) turn these decisions into writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from shared.appointments.intake import CANCELLATION_STATUSES, REMINDABLE_STATUSES, AppointmentIntake
from shared.core.clock import iso

# Appointment statuses for which reminders go out: booked only (see REMINDABLE_STATUSES for why a proposed
# or pending appointment is not reminded). Every other status stops pending reminders.
REMINDABLE: Final[frozenset[str]] = REMINDABLE_STATUSES

# Reminder statuses.
PENDING: Final = "pending"  # waiting for its due time (carries due_bucket/due_key: in the `due` index)
QUEUED: Final = "queued"  # handed to the reminder queue by a fan-out run
SENDING: Final = "sending"  # claimed by a sender; the SMS may be going out right now
SENT: Final = "sent"
UNCONFIRMED: Final = "unconfirmed"  # the provider may or may not have sent it: never retried
CANCELLED: Final = "cancelled"  # the appointment was cancelled (or is no longer remindable)
SUPERSEDED: Final = "superseded"  # the appointment moved and this reminder's time passed or no longer applies
SKIPPED_OPTED_OUT: Final = "skipped_opted_out"
SKIPPED_PASSED: Final = "skipped_passed"
SKIPPED_QUIET_HOURS: Final = "skipped_quiet_hours"
SKIPPED_FREQUENCY_CAP: Final = "skipped_frequency_cap"  # held by the caps until after the start
REJECTED: Final = "rejected"  # the provider refused the number for good

# Why an appointment has no reminder to come, as a code kept on the appointment item (no PHI) and an
# explanation the EHR or the clinic can act on.
NotReminded = Literal["cancelled", "not_booked", "no_mobile", "patient_not_sent", "other_patient", "passed"]
NOT_REMINDED_REASONS: Final[dict[str, str]] = {
    "cancelled": "the appointment is {status}, so its reminders are stopped",
    "not_booked": "only booked appointments are reminded, and this one is {status}",
    "no_mobile": "ClinicText has no number for the patient that can receive texts",
    "patient_not_sent": (
        "the Patient was not sent with the Appointment and ClinicText holds no number for this appointment "
        "from an earlier import; send the Patient with it"
    ),
    "other_patient": (
        "the Appointment now names a different patient than before and that Patient was not sent with "
        "it; the number stored for the earlier patient is not used. Send the Patient with it"
    ),
    "passed": "every reminder time before the start ({offsets}) has already passed",
}


def not_reminded_text(code: str, *, status: str, offsets: list[int]) -> str:
    """The explanation of a :data:`NotReminded` code (names statuses and offsets, never PHI)."""
    shown = ", ".join(_offset_text(minutes) for minutes in sorted(offsets, reverse=True))
    return NOT_REMINDED_REASONS[code].format(status=status, offsets=shown + " before")


def _offset_text(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


def why_not_reminded(
    status: str, *, has_phone: bool, patient: str, pending: int, reached: int
) -> NotReminded | None:
    """Why nothing is planned for an appointment after an upsert; ``None`` when a reminder is to come or has
    already reached the patient. ``patient`` is "sent", "kept", "not_stored" or "other" (see the book)."""
    if status in CANCELLATION_STATUSES:
        return "cancelled"
    if status not in REMINDABLE:
        return "not_booked"
    if not has_phone:
        if patient == "not_stored":
            return "patient_not_sent"
        if patient == "other":
            return "other_patient"
        return "no_mobile"
    if pending == 0 and reached == 0:
        return "passed"
    return None


# Statuses a (re)plan may overwrite. Anything else has reached, or may have reached, the patient.
REWRITABLE: Final[frozenset[str]] = frozenset({PENDING, QUEUED, CANCELLED, SUPERSEDED})
STOPPABLE: Final[frozenset[str]] = frozenset({PENDING, QUEUED})


def appointment_pk(source_id: str) -> str:
    return f"appt#{source_id}"


def reminder_pk(source_id: str, offset_minutes: int) -> str:
    return f"rem#{source_id}#{offset_minutes}"


def contact_record_ref(source_id: str) -> str:
    """Encryption context of an appointment's contact payload (shared by its reminders' copies)."""
    return f"appointment#{source_id}"


def due_bucket(at: datetime) -> str:
    """The UTC hour a reminder is due in, the partition key of the sparse `due` index."""
    return iso(at)[:13]


def due_key(at: datetime, pk: str) -> str:
    return f"{iso(at)}#{pk}"


def hour_buckets(start: datetime, end: datetime) -> list[str]:
    """Every UTC hour bucket from ``start``'s hour to ``end``'s hour, in order."""
    buckets: list[str] = []
    at = start.replace(minute=0, second=0, microsecond=0)
    while at <= end:
        buckets.append(due_bucket(at))
        at += timedelta(hours=1)
    return buckets


def content_fingerprint_input(intake: AppointmentIntake, offsets: list[int]) -> bytes:
    """Canonical bytes of everything an upsert depends on; equal bytes mean "nothing changed".

    It contains PHI (first name, number), so it is only ever stored keyed-hashed (see ``Fingerprint``).
    """
    data = intake.model_dump(mode="json")
    return json.dumps({"intake": data, "offsets": offsets}, sort_keys=True, separators=(",", ":")).encode()


def plain_fingerprint(data: bytes) -> str:
    """Unkeyed digest, for tests and fakes only (production keys it with KMS)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PlannedReminder:
    offset_minutes: int
    due_at: datetime | None  # None: no reminder for this offset (passed, or not before the start)


def plan_reminders(start: datetime, offsets: list[int], now: datetime) -> list[PlannedReminder]:
    """One entry per offset; ``due_at`` is None when the reminder is already due or not before ``start``."""
    planned = []
    for offset in offsets:
        due = start - timedelta(minutes=offset)
        keep = offset > 0 and now < due < start
        planned.append(PlannedReminder(offset, due if keep else None))
    return planned
