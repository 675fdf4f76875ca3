"""Answers to reminders: confirm (C, YES, 👍, "see you then") and reschedule (R, "can I move it").

Keywords (STOP, START, HELP...) and then plain-words opt-outs (:mod:`shared.inbound.revocation`: "please stop
texting me", "stop it") are handled before this router is asked and always win, so "yes, stop texting me" is
never a confirmation. Answers that use an opt-out word about the appointment ("can I cancel and rebook?", "I
need to cancel my appointment") are deliberately not revocations and reach this router: rebooking is a
reschedule request, a bare cancellation is left to staff (we never reply to CANCEL, a carrier opt-out word).

A reply is matched to the patient's most recently reminded upcoming appointment (``by_phone`` index). Anything
not understood, or a number with no reminded appointment, returns None: the text stays in the thread for staff
and the patient gets no "invalid response" reply.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from shared.core.models import InboundKind

CONFIRMED: Final = "confirmed"
RESCHEDULE_REQUESTED: Final = "reschedule_requested"

_CONFIRM_WORDS: Final = frozenset(
    {"c", "confirm", "confirmed", "confirming", "y", "yes", "yes please", "yep", "yeah", "yup", "ok", "okay"}
)
_RESCHEDULE_WORDS: Final = frozenset(
    {"r", "reschedule", "rescheduled", "re schedule", "move", "change", "rebook", "re book", "reprogramar"}
)
_THUMBS_UP = "\U0001f44d"
_SKIN_TONES = "".join(chr(cp) for cp in range(0x1F3FB, 0x1F400))
_NEGATION = re.compile(r"\b(no|not|can ?t|cannot|won ?t|don ?t|unable|isn ?t)\b")
_RESCHEDULE = re.compile(
    r"\b(re ?schedul\w*|re ?book\w*|book (another|a new|again)\b|reprogram\w*|reagend\w*"
    r"|move (it|my|the|this)\b|change (it|my|the|this)\b|another (day|time)"
    r"|different (day|time)|new (day|time)|push (it|my) back)"
)
_CONFIRM = re.compile(
    r"\b(i ?ll be there|i will be there|will be there|see you (then|there|soon)|confirm(ed)?"
    r"|i ll come|i will come|be there)\b"
)


def _normalized(body: str) -> str:
    text = unicodedata.normalize("NFKC", body).lower().replace("\u2019", "'")
    text = text.replace("'", "")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def _is_thumbs_up(body: str) -> bool:
    stripped = "".join(ch for ch in body.strip() if ch not in _SKIN_TONES and ch != "\ufe0f")
    return bool(stripped) and set(stripped) == {_THUMBS_UP}


def classify_reply(body: str) -> InboundKind | None:
    """CONFIRM, RESCHEDULE or None (not understood: left to staff)."""
    if _is_thumbs_up(body):
        return InboundKind.CONFIRM
    text = _normalized(body)
    if not text:
        return None
    if text in _RESCHEDULE_WORDS or _RESCHEDULE.search(text):
        return InboundKind.RESCHEDULE
    if text in _CONFIRM_WORDS:
        return InboundKind.CONFIRM
    if _NEGATION.search(text):
        return None  # "I won't be there", "no": a person should read it
    first = text.split()[0]
    if _CONFIRM.search(text) or (first in {"yes", "yep", "yeah", "y", "c"} and len(text.split()) <= 8):
        return InboundKind.CONFIRM
    return None
