"""Appointment ports: what an upsert answers, what GET /appointments shows, the upserter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from shared.appointments import plan
from shared.appointments.intake import AppointmentIntake
from shared.core.errors import Conflict


@dataclass(frozen=True)
class BirthDateOnFile:
    """A date of birth ingest kept (encrypted) on one appointment of a number."""

    source_id: str  # the appointment it was sent with
    birth_date: date


class BirthDates(Protocol):
    """The dates of birth on file for a number, read only to check who opens a secure message."""

    def on_file(self, phone_hmac: str) -> list[BirthDateOnFile]: ...

    def birth_date(self, source_id: str, phone_hmac: str) -> date | None: ...


UpsertOutcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did, and what it planned: the due times of the reminders to come, or why there is none.

    ``not_reminded`` is a :data:`plan.NotReminded` code; ``kept`` names what an update that did not send
    them kept from storage ("patient", "location").
    """

    source_id: str
    outcome: UpsertOutcome
    version: int
    status: str = ""
    planned: tuple[datetime, ...] = ()
    not_reminded: plan.NotReminded | None = None
    kept: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ReminderView:
    offset_minutes: int
    due_at: str | None
    status: str
    sent_at: str | None


@dataclass(frozen=True)
class AppointmentView:
    """What GET /appointments/{id} shows: ids, status, times, reminder and reply status. No PHI."""

    source_id: str
    status: str
    start_at: str | None
    version: int
    reminders: list[ReminderView]
    reply_status: str | None
    replied_at: str | None
    last_reminded_at: str | None


@dataclass(frozen=True)
class NotReached:
    """The request's time ran out before this intake was stored: nothing was stored for it."""


# Per intake: what was stored, a Conflict (other writers kept winning, or it could not be read), or
# NotReached.
UpsertAnswer = UpsertResult | Conflict | NotReached


class Upserter(Protocol):
    def upsert(self, intake: AppointmentIntake) -> UpsertResult:
        """Store one intake; raises ``Conflict`` when other writers keep winning."""
        ...

    def upsert_many(
        self, intakes: Sequence[AppointmentIntake], *, time_left: Callable[[], float] | None = None
    ) -> list[UpsertAnswer]:
        """Store many intakes with batched requests: one answer per intake, in order. ``time_left``
        (seconds) is checked before each request; intakes not stored when it runs out answer NotReached."""
        ...
