"""Pure reminder planning: keys, statuses, due buckets and which reminders an appointment needs.

No AWS here. The DynamoDB adapters (:mod:`shared.reminders.book`) turn these decisions into writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from shared.clock import iso
from shared.ingest.models import AppointmentIntake

# Appointment statuses for which reminders go out. Every other status stops pending reminders.
REMINDABLE: Final[frozenset[str]] = frozenset({"booked", "pending", "proposed"})

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
