"""The appointment book, the reminder fan-out, sender and reply router, built once per container.

They use the other packages' wiring (consent ledger, cipher, message log, sender, pacer, caps ledger,
templates), never those packages' adapters. Cached with :func:`shared.runtime.wiring.cached`.

Each factory imports what it builds: a function imports this module for one of them, and the fan-out
must not load the sender's consent, KMS and SNS code, nor the sender the FHIR book's (issue 11, cold start).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from shared.appointments.settings import ReminderSettings
from shared.core.clock import SystemClock
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings

if TYPE_CHECKING:
    from shared.appointments.ports import BirthDates
    from shared.appointments.store.book import AppointmentBook
    from shared.appointments.store.fanout import ReminderFanout
    from shared.appointments.store.names import AppointmentFirstNames
    from shared.appointments.store.replies import ReminderReplyRouter
    from shared.appointments.store.sender import ReminderSender


def reminder_settings() -> ReminderSettings:
    """Not cached: the API, fan-out and sender read different variables from the same model, and the
    local stack runs them in one process. The services built from it are cached per container."""
    return ReminderSettings.from_env()


@cached
def appointment_book() -> AppointmentBook:
    from shared.appointments.store.book import AppointmentBook
    from shared.crypto.wiring import blind_index, cipher, fingerprint

    settings = reminder_settings()
    return AppointmentBook(
        appointments=aws.table(settings.appointments_table),
        reminders=aws.table(settings.reminders_table),
        cipher=cipher(),
        blind_index=blind_index(),
        fingerprint=fingerprint(),
        offsets=settings.offsets,
        clock=SystemClock(),
    )


@cached
def birth_dates() -> BirthDates:
    """Dates of birth on file (in the appointments' encrypted contact), for the secure-message check."""
    from shared.appointments.store.patients import DynamoBirthDates
    from shared.crypto.wiring import cipher

    return DynamoBirthDates(aws.table(reminder_settings().appointments_table), cipher())


@cached
def reminder_fanout() -> ReminderFanout:
    from shared.appointments.store.fanout import ReminderFanout

    settings = reminder_settings()
    return ReminderFanout(
        reminders=aws.table(settings.reminders_table),
        control=aws.table(settings.control_table),
        sqs=aws.client("sqs"),
        queue_url=settings.reminder_queue_url,
        requeue_after=timedelta(minutes=settings.requeue_after_minutes),
        clock=SystemClock(),
    )


@cached
def reminder_sender() -> ReminderSender:
    from shared.appointments.store.sender import ReminderSender
    from shared.appointments.wording import ReminderTemplate
    from shared.consent.wiring import consent_ledger
    from shared.crypto.wiring import cipher
    from shared.messaging.wiring import message_log
    from shared.outbound.pacing import pacer_key
    from shared.outbound.wiring import batch_reader, cap_ledger, send_pacer, sms_sender, transactions
    from shared.templates.cache import CachedTemplates
    from shared.templates.wiring import template_store

    settings = reminder_settings()
    return ReminderSender(
        reminders=aws.table(settings.reminders_table),
        appointments=aws.table(settings.appointments_table),
        consent=consent_ledger(),
        cipher=cipher(),
        sender=sms_sender(),
        messages=message_log(),
        template=ReminderTemplate(
            settings.clinic_name,
            settings.default_time_zone,
            clinic_phone=settings.clinic_phone,
            store=CachedTemplates(template_store(), ttl=settings.template_cache_seconds),
        ),
        clock=SystemClock(),
        batch_reader=batch_reader(),
        transactions=transactions(),
        origination=settings.origination_number,
        quiet_hours=settings.quiet_hours,
        default_time_zone=settings.default_time_zone,
        cap_ledger=cap_ledger(),
        caps=settings.caps,
        pacer=send_pacer(
            number_key=pacer_key(settings.origination_type, settings.origination_number),
            parts_per_second=settings.parts_per_second,
            max_wait=settings.pacer_max_wait_seconds,
        ),
        parts_per_second=settings.parts_per_second,
    )


@cached
def reminder_reply_router() -> ReminderReplyRouter:
    from shared.appointments.store.replies import ReminderReplyRouter
    from shared.templates.wiring import reply_book

    return ReminderReplyRouter(
        appointments=aws.table(core_settings().appointments_table), replies=reply_book()
    )


@cached
def patient_first_names() -> AppointmentFirstNames:
    """First names by number from the appointment book (the inbox's list shows them)."""
    from shared.appointments.store.names import AppointmentFirstNames
    from shared.crypto.wiring import cipher

    return AppointmentFirstNames(aws.table(reminder_settings().appointments_table), cipher())
