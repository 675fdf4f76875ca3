"""The consent ledger port: current state per number, append-only events, and the send-time check."""

from __future__ import annotations

from typing import Protocol

from shared.core.models import (
    ConsentEvent,
    ConsentState,
)


class ConsentLedger(Protocol):
    def state(self, phone_hmac: str) -> ConsentState:
        """The number's current state; ``UNREADABLE`` (never an exception) when it cannot be read."""
        ...

    def record(self, event: ConsentEvent, phone_e164: str) -> ConsentState:
        """Append ``event`` and move the state. An opt-out always succeeds (it repairs an unreadable
        state); an opt-in over an unreadable state raises :class:`Conflict` unless it is a keyword."""
        ...

    def events(self, phone_hmac: str) -> list[ConsentEvent]:
        """The number's readable history, oldest first; unreadable event items are skipped and counted."""
        ...
