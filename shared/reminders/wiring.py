"""Composition of the reminder services (registered with :mod:`shared.wiring`'s caches)."""

from __future__ import annotations

from shared import aws
from shared.clock import SystemClock
from shared.config import ReminderSettings
from shared.reminders.book import AppointmentBook, KmsFingerprint
from shared.wiring import blind_index, cached, cipher


@cached
def reminder_settings() -> ReminderSettings:
    return ReminderSettings()


@cached
def appointment_book() -> AppointmentBook:
    settings = reminder_settings()
    return AppointmentBook(
        appointments=aws.table(settings.appointments_table),
        reminders=aws.table(settings.reminders_table),
        cipher=cipher(),
        blind_index=blind_index(),
        fingerprint=KmsFingerprint(aws.client("kms"), settings.blind_index_key_arn),
        offsets=settings.offsets,
        clock=SystemClock(),
    )
