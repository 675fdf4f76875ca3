"""The inbox's services, built once per container: the conversation store, the patient inbox (landing,
automated replies, escalation), the sweep, and the inbound service that hands texts to the inbox.

Each factory imports what it builds (issue 11, cold start): the sweep loads neither the consent ledger,
the SMS sender nor the inbound service.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.core.clock import SystemClock
from shared.inbox.settings import InboxFunctionSettings, SweepMetricsSettings
from shared.runtime import aws
from shared.runtime.observability import MetricsCounter
from shared.runtime.wiring import cached

if TYPE_CHECKING:
    from shared.inbound.domain import InboundService
    from shared.inbox.access import AdminNotice
    from shared.inbox.ports import PatientNames
    from shared.inbox.service import PatientInbox
    from shared.inbox.store import DynamoConversationStore
    from shared.outbound.pipeline import OutboundPipeline


def metrics_departments() -> frozenset[str]:
    """The departments whose response times the sweep emits (read per run)."""
    return SweepMetricsSettings.from_env().department_names


@cached
def inbox_settings() -> InboxFunctionSettings:
    return InboxFunctionSettings.from_env()


@cached
def conversation_store() -> DynamoConversationStore:
    from shared.crypto.wiring import cipher
    from shared.inbox.store import DynamoConversationStore
    from shared.outbound.wiring import transactions

    return DynamoConversationStore(aws.table(inbox_settings().conversations_table), cipher(), transactions())


@cached
def outbound_pipeline() -> OutboundPipeline:
    """The one outbound pipeline, as the inbox's automated replies use it (no caps or quiet hours apply
    to their kinds; consent, pacing, the claim and the log do)."""
    from shared.consent.wiring import consent_ledger
    from shared.crypto.wiring import cipher
    from shared.messaging.wiring import message_log
    from shared.outbound.pacing import pacer_key
    from shared.outbound.pipeline import NumberStates, OutboundPipeline
    from shared.outbound.wiring import batch_reader, send_pacer, sms_sender, transactions

    settings = inbox_settings()
    ledger = consent_ledger()
    return OutboundPipeline(
        states=NumberStates(batch_reader(), ledger, None),
        consent=ledger,
        transactions=transactions(),
        pacer=send_pacer(
            number_key=pacer_key(settings.origination_type, settings.origination_number),
            parts_per_second=settings.parts_per_second,
            max_wait=settings.pacer_max_wait_seconds,
        ),
        sender=sms_sender(),
        messages=message_log(),
        clock=SystemClock(),
        cipher=cipher(),
        origination=settings.origination_number,
        parts_per_second=settings.parts_per_second,
        counter=MetricsCounter(),
    )


def _patient_inbox(*, sends: bool) -> PatientInbox:
    from shared.crypto.wiring import cipher
    from shared.inbox.service import InboxSettings, PatientInbox
    from shared.inbox.sns import SnsOnCallPager
    from shared.inbox.store import DynamoInboxReplyBook
    from shared.outbound.wiring import transactions

    settings = inbox_settings()
    store = conversation_store()
    return PatientInbox(
        store=store,
        directory=store,
        pipeline=outbound_pipeline() if sends else None,
        reply_book=(
            DynamoInboxReplyBook(aws.table(settings.conversations_table), transactions(), SystemClock())
            if sends
            else None
        ),
        pager=SnsOnCallPager(aws.client("sns"), settings.on_call_topic_arn),
        clock=SystemClock(),
        settings=InboxSettings(
            clinic_name=settings.clinic_name,
            default_department=settings.default_department,
            default_time_zone=settings.default_time_zone,
            staff_app_url=settings.staff_app_url,
            escalation_interval=timedelta(minutes=settings.escalation_interval_minutes),
            escalation_max_attempts=settings.escalation_max_attempts,
        ),
        counter=MetricsCounter(),
        cipher=cipher() if sends else None,
        names=patient_names() if sends else None,
    )


def patient_names() -> PatientNames:
    """First names by number from the appointment book (a conversation's contact payload)."""
    from shared.appointments.wiring import patient_first_names

    return patient_first_names()


@cached
def patient_inbox() -> PatientInbox:
    """Where inbound texts land; sends the automated replies through the outbound pipeline."""
    return _patient_inbox(sends=True)


@cached
def inbox_sweeper() -> PatientInbox:
    """The scheduled sweep's inbox: it pages on-call and flags overdue conversations, and sends no text."""
    return _patient_inbox(sends=False)


@cached
def inbound_service() -> InboundService:
    """The inbound service with the inbox behind it: every text that is not a keyword or a reminder
    answer lands in a conversation."""
    from shared.inbound import wiring as inbound_wiring

    return inbound_wiring.build_inbound_service(inbox=patient_inbox())


@cached
def idempotent_inbound() -> Callable[..., dict[str, Any]]:
    """``process(text=InboundText) -> dict``, once per provider message id, through
    :func:`inbound_service`."""
    from shared.inbound import wiring as inbound_wiring

    return inbound_wiring.idempotent_process(inbound_service)


def notify_admins(notice: AdminNotice) -> None:
    """A break-glass access, published to OnCallTopic (ids only, never the reason or any PHI)."""
    from shared.inbox.sns import SnsAdminNotifier

    SnsAdminNotifier(aws.client("sns"), inbox_settings().on_call_topic_arn).break_glass(
        conversation_id=notice.conversation_id,
        department=notice.department,
        user_id=notice.user_id,
        username=notice.username,
    )


def staff_reply_sender(logged_body: Callable[[str], str] | None = None) -> Callable[[Any], str]:
    """A staff reply's one send: the outbound pipeline (consent, pacing, claim, log) with the inbox's
    reply book, built on the first reply (a read-only look at the inbox loads none of it).
    ``logged_body``: what the message log keeps of the text (a secure message's link is left out)."""

    def send(text: Any) -> str:
        from shared.inbox.store import DynamoInboxReplyBook
        from shared.outbound.wiring import transactions

        book = DynamoInboxReplyBook(
            aws.table(inbox_settings().conversations_table),
            transactions(),
            SystemClock(),
            logged_body=logged_body,
        )
        return outbound_pipeline().send_one(text, book)

    return send
