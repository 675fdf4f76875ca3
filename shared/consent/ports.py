"""The consent ledger port: current state per number, append-only events, and the send-time check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from shared.core.models import (
    ConsentEvent,
    ConsentState,
)


class ConsentLedger(Protocol):
    def state(self, phone_hmac: str) -> ConsentState:
        """The number's current state; ``UNREADABLE`` (never an exception) when it cannot be read."""
        ...

    def states(self, phone_hmacs: Iterable[str]) -> dict[str, ConsentState]:
        """Many numbers' current states at once (one batch read for a list page of up to 100 numbers),
        by number; ``UNREADABLE`` for a state that cannot be read, never an exception for one item."""
        ...

    def record(self, event: ConsentEvent, phone_e164: str) -> ConsentState:
        """Append ``event`` and move the state. An opt-out always succeeds (it repairs an unreadable
        state); an opt-in over an unreadable state raises :class:`Conflict` unless it is a keyword."""
        ...

    def events(self, phone_hmac: str) -> list[ConsentEvent]:
        """The number's readable history, oldest first; unreadable event items are skipped and counted."""
        ...


class ConsentGuard(Protocol):
    """Consent checked at send time, atomically with the sender's own writes."""

    def sendable_check(self, phone_hmac: str) -> dict[str, Any]:
        """A ``TransactWriteItems`` item that fails the transaction unless the number may be texted (no
        consent recorded, or a readable opted-in state: it fails closed). A sender puts it first in its
        claim transaction, so consent is checked in the same write that claims the reminder."""
        ...

    def state_key(self, phone_hmac: str) -> tuple[str, dict[str, Any]]:
        """The table and key of the number's STATE item, so a sender can read many in one batch."""
        ...

    def sendable_item(self, phone_hmac: str, item: Mapping[str, Any] | None) -> bool:
        """Whether a STATE item read that way lets a text go: exactly the rule of :meth:`sendable_check`."""
        ...

    def sealed_phone(self, phone_hmac: str, item: Mapping[str, Any] | None) -> tuple[str, Any] | None:
        """The number as the STATE item holds it, encrypted: ``(record_ref, ciphertext)``, or None."""
        ...
