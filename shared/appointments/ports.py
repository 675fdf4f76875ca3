"""Appointment ports: what an upsert answers, what GET /appointments shows, the upserter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from shared.appointments import plan
from shared.appointments.intake import AppointmentIntake

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


class Upserter(Protocol):
    def upsert(self, intake: AppointmentIntake) -> UpsertResult: ...
