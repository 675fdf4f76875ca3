"""Inbound ports: the conversation router, which understands answers to reminders, and the staff inbox,
where every other text lands."""

from __future__ import annotations

from typing import Any, Protocol

from shared.core.models import (
    InboundText,
    RoutedReply,
)


class ConversationRouter(Protocol):
    """Understands answers to reminders (confirm / reschedule). Returns None when it does not."""

    def route(self, text: InboundText, phone_hmac: str) -> RoutedReply | None: ...


class PatientInboxPort(Protocol):
    """The staff inbox (:class:`shared.inbox.service.PatientInbox`): lands a text that is neither a keyword
    nor a reminder answer in its department's conversation, with its automated reply and escalation.
    ``may_text`` is False for an opted-out (or unreadable) number: it lands, and nothing is sent."""

    def land(self, text: InboundText, phone_hmac: str, message_id: str, *, may_text: bool) -> Any: ...
