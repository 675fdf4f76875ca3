"""Answers to reminders: confirm (C, YES, 👍, "see you then") and reschedule (R, "can I move it").

Keywords (STOP, START, HELP...) and then plain-words opt-outs (:mod:`shared.revocation`: "please stop texting
me", "stop it") are handled before this router is asked and always win, so "yes, stop texting me" is never a
confirmation. Answers that use an opt-out word about the appointment ("can I cancel and rebook?", "I need to
cancel my appointment") are deliberately not revocations and reach this router: rebooking is a reschedule
request, a bare cancellation is left to staff (we never reply to CANCEL, a carrier opt-out word).

A reply is matched to the patient's most recently reminded upcoming appointment (``by_phone`` index). Anything
not understood, or a number with no reminded appointment, returns None: the text stays in the thread for staff
and the patient gets no "invalid response" reply.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Final

from shared.clock import iso
from shared.models import InboundKind, InboundText
from shared.replies import ReplyBook

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


class ReminderReplyRouter:
    """``ConversationRouter`` for answers to reminders (see :mod:`shared.inbound`)."""

    def __init__(self, *, appointments: Any, replies: ReplyBook) -> None:
        self._appointments = appointments
        self._replies = replies

    def route(self, text: InboundText, phone_hmac: str) -> Any:
        from shared.inbound import RoutedReply

        kind = classify_reply(text.body)
        if kind is None:
            return None
        appointment = self._latest_reminded(phone_hmac, iso(text.received_at))
        if appointment is None:
            return None
        if kind is InboundKind.CONFIRM:
            self._record(appointment, CONFIRMED, text, staff_flag=None)
            reply = self._replies.confirmed()
        else:
            self._record(appointment, RESCHEDULE_REQUESTED, text, staff_flag="reschedule_requested")
            reply = self._replies.reschedule()
        return RoutedReply(kind=kind, reply=reply, appointment_id=str(appointment["source_id"]))

    def _latest_reminded(self, phone_hmac: str, now: str) -> dict[str, Any] | None:
        best: dict[str, Any] | None = None
        args: dict[str, Any] = {
            "IndexName": "by_phone",
            "KeyConditionExpression": "phone_hmac = :p AND start_at > :now",
            "ExpressionAttributeValues": {":p": phone_hmac, ":now": now},
        }
        while True:
            page = self._appointments.query(**args)
            for item in page.get("Items", []):
                reminded = item.get("last_reminded_at")
                if reminded and (best is None or reminded > best["last_reminded_at"]):
                    best = item
            if "LastEvaluatedKey" not in page:
                return best
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _record(
        self, appointment: dict[str, Any], status: str, text: InboundText, *, staff_flag: str | None
    ) -> None:
        names = {"#rs": "reply_status"}
        values: dict[str, Any] = {":rs": status, ":at": iso(text.received_at)}
        expression = "SET #rs = :rs, replied_at = :at"
        if staff_flag:
            expression += ", staff_flag = :flag"
            values[":flag"] = staff_flag
        self._appointments.update_item(
            Key={"pk": appointment["pk"]},
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
