"""Message kinds: what each kind of outbound text must pass besides what every text passes.

Every kind, without a switch to turn it off: consent at send time (checked atomically with the claim),
pacing on the origination number's schedule, the exactly-once claim, and the message log written in the
same transaction that marks the text sent. What differs is whether the text is *automated*:

* frequency caps (FCC healthcare exemption, DOMAIN: <= 1 a day, <= 3 a week) hold and count automated
  texts only;
* quiet hours (TCPA) hold non-urgent automated texts; a person answering a patient, or an emergency
  notice, goes out at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessageKind:
    """The policy of one kind of outbound text (its ``name`` is the ``kind`` in the message log)."""

    name: str
    caps: bool  # counted against, and held by, the number's frequency caps
    quiet_hours: bool  # held until the recipient's sending window opens

    @property
    def automated(self) -> bool:
        return self.caps or self.quiet_hours


REMINDER = MessageKind("reminder", caps=True, quiet_hours=True)
# A person is answering the patient: no caps, no quiet hours (the patient wrote first).
STAFF_REPLY = MessageKind("staff_reply", caps=False, quiet_hours=False)
# Staff sent a secure message: the text carries only the clinic's name and the link (no PHI). A person is
# answering the patient, like a reply: no caps, no quiet hours; consent as for every text.
SECURE_MESSAGE = MessageKind("secure_message", caps=False, quiet_hours=False)
BROADCAST = MessageKind("broadcast", caps=True, quiet_hours=True)
SURVEY = MessageKind("survey", caps=True, quiet_hours=True)
# DOMAIN: emergency notices may exceed the caps (and are urgent), but never reach an opt-out.
EMERGENCY_NOTICE = MessageKind("emergency_notice", caps=False, quiet_hours=False)

KINDS: dict[str, MessageKind] = {
    kind.name: kind for kind in (REMINDER, STAFF_REPLY, SECURE_MESSAGE, BROADCAST, SURVEY, EMERGENCY_NOTICE)
}
