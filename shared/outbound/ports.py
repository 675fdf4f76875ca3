"""Outbound ports: the SMS sender, the carrier's opt-out list, the send pacer, the cap ledger, and what the
one outbound pipeline reads and writes through (batch reads, transactions, the number's consent)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.outbound.caps import CapRecord

# One DynamoDB item named by its table and key; the pipeline treats keys and transaction items as opaque.
TableKey = tuple[str, dict[str, Any]]


class SmsSender(Protocol):
    """Publishes one text; returns the provider's message id."""

    def send(self, to_e164: str, body: str, *, origination: str | None = None) -> str: ...


class CarrierOptOutList(Protocol):
    """The provider's own opt-out list (SNS account opt-out list)."""

    def is_opted_out(self, e164: str) -> bool: ...

    def readmit(self, e164: str) -> None: ...


class SendPacer(Protocol):
    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        """Block until ``parts`` message parts may be sent; returns the seconds waited. Raises
        :class:`PacerBusy` instead of waiting longer than ``max_wait`` (or the pacer's own limit)."""
        ...

    def book(
        self,
        parts: Sequence[int],
        *,
        max_wait: float | None = None,
        within: float | None = None,
        ahead: float = 0.0,
        partial: bool = False,
    ) -> list[int]:
        """Book one slot per entry of ``parts`` (a group's parts), consecutive, in one booking; returns
        the slots (opaque, for :meth:`wait_for`). ``max_wait`` (and the pacer's own limit) bounds the wait
        for the first slot, ``within`` (seconds) the last; ``ahead`` puts the first slot at least that far
        off. Raises :class:`PacerBusy` and books nothing when the booking does not fit; with ``partial``
        it books the leading entries that fit (fewer slots returned), first waiting for the schedule to
        come within reach if the first one could still go ``within``, and raises only when none fits."""
        ...

    def wait_for(self, slot: int) -> float:
        """Sleep until ``slot``; 0.0 when it was reached in time, else the seconds it was late (nothing
        may go on that slot: book again)."""
        ...


class CapLedger(Protocol):
    """Each number's recent automated texts, read before a claim and written inside it."""

    def read(self, phone_hmac: str) -> CapRecord: ...

    def record_key(self, phone_hmac: str) -> TableKey:
        """Where the number's record lives (for a batch read)."""
        ...

    def from_item(self, phone_hmac: str, item: Mapping[str, Any] | None) -> CapRecord:
        """The record an item (or its absence) holds."""
        ...

    def claim_item(self, record: CapRecord, token: str, now: datetime) -> dict[str, Any]:
        """The ``TransactWriteItems`` item recording one more text, on the version ``record`` was read at
        (so two senders can never both take the last allowance)."""
        ...

    def release_item(self, phone_hmac: str, token: str) -> dict[str, Any]:
        """The ``TransactWriteItems`` item giving a released claim's allowance back."""
        ...


class ConsentCheck(Protocol):
    """The number's consent as the send path sees it (the consent ledger answers it; fails closed)."""

    def sendable_check(self, phone_hmac: str) -> dict[str, Any]:
        """A ``TransactWriteItems`` item that fails the claim unless the number may be texted."""
        ...

    def state_key(self, phone_hmac: str) -> TableKey:
        """Where the number's current consent state lives (for a batch read)."""
        ...

    def sendable_item(self, phone_hmac: str, item: Mapping[str, Any] | None) -> bool:
        """Whether a state item (or its absence) lets a text go: the same rule as :meth:`sendable_check`."""
        ...

    def sealed_phone(self, phone_hmac: str, item: Mapping[str, Any] | None) -> tuple[str, Any] | None:
        """The number as the state item holds it, encrypted: ``(record_ref, ciphertext)``, or None."""
        ...


class BatchReader(Protocol):
    """Consistent batch reads (``BatchGetItem``): keys per table in, items per table out. The adapter splits
    requests at DynamoDB's 100 keys, retries ``UnprocessedKeys`` and counts those retries; it raises
    :class:`ReadIncomplete` when keys stay unprocessed."""

    def get(self, requests: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]: ...


class Transactions(Protocol):
    """``TransactWriteItems``: all or nothing, at most 100 items, each item at most once."""

    def write(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Raises :class:`TransactionCancelled` with one reason code per item when a condition (or a
        conflict) cancelled the transaction; any other failure propagates as the adapter's error."""
        ...

    def item_key(self, item: Mapping[str, Any]) -> Hashable | None:
        """Which stored item ``item`` touches (two items with one key may not share a transaction);
        None when the adapter cannot tell (the pipeline then keeps such an item out of a shared one)."""
        ...


class ReadIncomplete(Exception):
    """Some keys of a batch read were still unprocessed after the adapter's retries (throttled)."""


class TransactionCancelled(Exception):
    """A transaction was cancelled; ``reasons[i]`` is the code for item ``i`` (``"None"``: that item was
    fine; ``"ConditionalCheckFailed"``, ``"TransactionConflict"``, ...)."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__(f"transaction cancelled: {sorted(set(reasons) - {'None'})}")
        self.reasons = list(reasons)


class UnpacedSender:
    """No pacing (unit tests of other behaviour)."""

    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        return 0.0

    def book(
        self,
        parts: Sequence[int],
        *,
        max_wait: float | None = None,
        within: float | None = None,
        ahead: float = 0.0,
        partial: bool = False,
    ) -> list[int]:
        return [0] * len(parts)

    def wait_for(self, slot: int) -> float:
        return 0.0
