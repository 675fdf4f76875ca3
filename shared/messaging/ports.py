"""The message log ports: append and read a thread, and the delivery-status view of it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.core.models import MessageRecord

UPDATED = "updated"  # the report is on the text's delivery status now
STALE = "stale"  # a later report is recorded already (carriers report out of order)
UNMATCHED = "unmatched"  # no text of ours has that provider message id


class MessageLog(Protocol):
    def append(self, record: MessageRecord) -> None:
        """Write one message; raises AlreadyRecorded when that message id and position exist."""
        ...

    def thread(self, phone_hmac: str, *, limit: int = 50) -> list[MessageRecord]:
        """The number's messages, newest first, each outbound text with its delivery status."""
        ...

    def thread_page(
        self, phone_hmac: str, *, limit: int = 50, cursor: str | None = None, include_body: bool = True
    ) -> tuple[list[MessageRecord], str | None]:
        """One page of :meth:`thread` (newest first) and the opaque cursor of the next (None at the end);
        a cursor this log did not issue is :class:`~shared.core.errors.InvalidInput` naming ``cursor``.
        Without ``include_body`` nothing is decrypted and each ``body`` is empty."""
        ...

    def recorded(self, phone_hmac: str, message_id: str, at: datetime) -> bool:
        """True when the message ``message_id`` is logged at position ``at`` of the number's thread."""
        ...

    def put_requests(self, record: MessageRecord) -> list[dict[str, Any]]:
        """Every ``TransactWriteItems`` item that writes ``record`` (once): the message, and for an
        outbound text with a provider message id its delivery-status item, for callers that log a message
        in the same transaction as the state it belongs to."""
        ...


@dataclass(frozen=True)
class DeliveryUpdate:
    """What the carrier reported for one outbound text. ``detail`` is the carrier's reason, never PHI."""

    status: str  # delivered | failed | opted_out
    at: datetime
    detail: str
    parts: int | None = None
    price_usd: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """One carrier report for the text SNS knows as ``provider_message_id``."""

    provider_message_id: str
    update: DeliveryUpdate


@dataclass(frozen=True)
class Recorded:
    """What became of a batch of reports: per report, in order, :data:`UPDATED`, :data:`STALE` or
    :data:`UNMATCHED`; and how many requests were sent again (throttling, conflicts, unprocessed keys,
    a transaction re-sent without the reports it could not take), the SDK's own retries included."""

    outcomes: tuple[str, ...]
    retries: int = 0


@dataclass(frozen=True)
class Recipients:
    """The thread (the number's blind index) each known text went to, by provider message id."""

    by_provider_id: dict[str, str]
    retries: int = 0


class DeliveryBook(Protocol):
    """The message log as the delivery-status function sees it: delivery status by provider message id."""

    def recipients(self, provider_message_ids: Collection[str]) -> Recipients:
        """Where each known id's text went; an unknown id is absent."""
        ...

    def record_deliveries(self, reports: Sequence[DeliveryReport]) -> Recorded:
        """Record a batch of reports. A report never overwrites a later one, a repeated report changes
        nothing, and a report for an unknown text is :data:`UNMATCHED` (nothing is written)."""
        ...
