"""Inbound ports: the conversation router, which understands answers to reminders."""

from __future__ import annotations

from typing import Protocol

from shared.core.models import (
    InboundText,
    RoutedReply,
)


class ConversationRouter(Protocol):
    """Understands answers to reminders (confirm / reschedule). Returns None when it does not."""

    def route(self, text: InboundText, phone_hmac: str) -> RoutedReply | None: ...
