"""The reminder as an outbound message kind: what a queued reminder must be, to be worth a text at all.

Pure rules over the items the sender read (no AWS): a reminder already final, moved to another version
of its appointment, or claimed by another delivery is not sent again; an appointment that moved, is no
longer remindable or has started closes the reminder. What is left becomes an
:class:`~shared.outbound.pipeline.OutboundText` of kind ``reminder`` and goes through the one outbound
pipeline (consent, caps, quiet hours, pacing, claim, log).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.appointments import plan
from shared.appointments.fanout import QueuedReminder
from shared.core.clock import iso, parse_iso

# Longer than ReminderSenderFunction's Timeout (60 s in template.yaml): a claim this old is abandoned.
CLAIM_TIMEOUT = timedelta(minutes=5)
FINAL = frozenset(
    {
        plan.SENT,
        plan.UNCONFIRMED,
        plan.CANCELLED,
        plan.SUPERSEDED,
        plan.SKIPPED_OPTED_OUT,
        plan.SKIPPED_PASSED,
        plan.SKIPPED_QUIET_HOURS,
        plan.SKIPPED_FREQUENCY_CAP,
        plan.REJECTED,
    }
)
# Words for a claim the reminder's own conditions refused.
CLAIMED_ELSEWHERE = "claimed_elsewhere"
APPOINTMENT_CHANGED = "appointment_changed"


@dataclass(frozen=True)
class Verdict:
    """What to do with a queued reminder before any text is composed.

    ``word`` is the outcome when nothing is sent; ``write`` names the final status to record (``None``: no
    write); ``retry`` sends the message back to the queue; ``send`` means go on to the pipeline.
    """

    word: str = ""
    write: str | None = None
    retry: bool = False
    abandoned_claim: bool = False

    @property
    def send(self) -> bool:
        return not self.word and not self.retry


GO = Verdict()


def triage(
    message: QueuedReminder,
    reminder: dict[str, Any] | None,
    appointment: dict[str, Any] | None,
    now: datetime,
) -> Verdict:
    """Decide from the reminder and its appointment (both read consistently) whether to go on."""
    if reminder is None:
        return Verdict("missing")
    status = str(reminder["status"])
    version = int(reminder["appointment_version"])
    if status in FINAL:
        return Verdict(f"already_{status}")
    if version != message.appointment_version:
        return Verdict("stale_message")  # the appointment moved; the rewritten reminder is queued on its own
    if status == plan.SENDING:
        claimed_at = parse_iso(str(reminder.get("claimed_at") or iso(now)))
        if now - claimed_at < CLAIM_TIMEOUT:
            return Verdict("claim_fresh", retry=True)
        return Verdict(plan.UNCONFIRMED, write=plan.UNCONFIRMED, abandoned_claim=True)
    if appointment is None or int(appointment["version"]) != version:
        return Verdict(plan.SUPERSEDED, write=plan.SUPERSEDED)
    if appointment["status"] not in plan.REMINDABLE or not appointment.get("phone_hmac"):
        return Verdict(plan.CANCELLED, write=plan.CANCELLED)
    if parse_iso(str(appointment["start_at"])) <= now:
        return Verdict(plan.SKIPPED_PASSED, write=plan.SKIPPED_PASSED)
    return GO


def claim_refused(failed: list[int]) -> str:
    """The reminder's claim items are (0) the reminder ``queued``/``pending`` -> ``sending`` and (1) the
    appointment still at that version and remindable: an appointment that changed says more."""
    return APPOINTMENT_CHANGED if 1 in failed else CLAIMED_ELSEWHERE


def message_id(reminder: dict[str, Any]) -> str:
    """The reminder's message id in the log: one per reminder and appointment version."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reminder:{reminder['pk']}:{reminder['appointment_version']}"))
