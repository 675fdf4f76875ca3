"""The message log ports: append and read a thread, and the delivery-status view of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.core.models import MessageRecord


class MessageLog(Protocol):
    def append(self, record: MessageRecord) -> None:
        """Write one message; raises AlreadyRecorded when that message id and position exist."""
        ...

    def thread(self, phone_hmac: str, *, limit: int = 50) -> list[MessageRecord]: ...

    def recorded(self, phone_hmac: str, message_id: str, at: datetime) -> bool:
        """True when the message ``message_id`` is logged at position ``at`` of the number's thread."""
        ...

    def put_request(self, record: MessageRecord) -> dict[str, Any]:
        """The ``TransactWriteItems`` Put that writes ``record`` (once), for callers that log a message
        in the same transaction as the state it belongs to."""
        ...


@dataclass(frozen=True)
class MessageKey:
    """Where one message record lives: the number's blind index (the thread) and its position."""

    phone_hmac: str
    sk: str


@dataclass(frozen=True)
class DeliveryUpdate:
    """What the carrier reported for one outbound text. ``detail`` is the carrier's reason, never PHI."""

    status: str  # delivered | failed | opted_out
    at: datetime
    detail: str
    parts: int | None = None
    price_usd: str | None = None


class DeliveryBook(Protocol):
    """The message log as the delivery-status function sees it."""

    def find_outbound(self, provider_message_id: str) -> MessageKey | None: ...

    def record_delivery(self, key: MessageKey, update: DeliveryUpdate) -> bool:
        """True when recorded; False when a later report is recorded already (reports arrive out of order)."""
        ...
