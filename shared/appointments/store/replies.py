"""Answers to reminders, matched to the patient's most recently reminded appointment."""

from __future__ import annotations

from typing import Any

from shared.appointments.reply_parsing import CONFIRMED, RESCHEDULE_REQUESTED, classify_reply
from shared.core.clock import iso
from shared.core.models import InboundKind, InboundText, RoutedReply
from shared.templates.replies import ReplyBook


class ReminderReplyRouter:
    """``ConversationRouter`` for answers to reminders (see :mod:`shared.inbound.domain`)."""

    def __init__(self, *, appointments: Any, replies: ReplyBook) -> None:
        self._appointments = appointments
        self._replies = replies

    def route(self, text: InboundText, phone_hmac: str) -> RoutedReply | None:
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
