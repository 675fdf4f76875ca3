"""Outbound ports: the SMS sender, the carrier's opt-out list, the send pacer, the cap ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from shared.outbound.caps import CapRecord


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


class CapLedger(Protocol):
    """Each number's recent automated texts, read before a claim and written inside it."""

    def read(self, phone_hmac: str) -> CapRecord: ...

    def claim_item(self, record: CapRecord, token: str, now: datetime) -> dict[str, Any]:
        """The ``TransactWriteItems`` item recording one more text, on the version ``record`` was read at
        (so two senders can never both take the last allowance)."""
        ...

    def release_item(self, phone_hmac: str, token: str) -> dict[str, Any]:
        """The ``TransactWriteItems`` item giving a released claim's allowance back."""
        ...


class UnpacedSender:
    """No pacing (unit tests of other behaviour)."""

    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        return 0.0
