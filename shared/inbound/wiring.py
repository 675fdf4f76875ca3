"""The inbound service (both providers), its idempotency and its router, built once per container."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from shared.consent.wiring import consent_ledger
from shared.core.clock import SystemClock
from shared.crypto.wiring import blind_index
from shared.inbound.domain import InboundService
from shared.inbound.settings import TwilioSettings
from shared.messaging.wiring import message_log
from shared.outbound.wiring import carrier_optouts, sms_sender
from shared.runtime import aws
from shared.runtime.observability import MetricsCounter
from shared.runtime.wiring import cached, core_settings
from shared.templates.wiring import reply_book


@cached
def twilio_settings() -> TwilioSettings:
    return TwilioSettings.from_env()


def conversation_router() -> Any:
    """Answers to reminders (confirm / reschedule), matched to the most recently reminded appointment."""
    from shared.appointments.wiring import reminder_reply_router

    return reminder_reply_router()


def build_inbound_service(*, inbox: Any = None) -> InboundService:
    """The inbound service; ``inbox`` (the inbox package's, which sits above this one) receives every
    text that is not a keyword or a reminder answer."""
    return InboundService(
        blind_index=blind_index(),
        consent=consent_ledger(),
        messages=message_log(),
        sender=sms_sender(),
        carrier_optouts=carrier_optouts(),
        replies=reply_book(),
        clock=SystemClock(),
        router=conversation_router(),
        inbox=inbox,
        counter=MetricsCounter(),
    )


@cached
def inbound_service() -> InboundService:
    return build_inbound_service()


IDEMPOTENCY_WINDOW_SECONDS = 7 * 24 * 3600


@cached
def idempotency_config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    def mark_replayed(response: Any, _record: Any) -> Any:
        return {**response, "replayed": True}

    return IdempotencyConfig(
        event_key_jmespath="[channel, provider_message_id]",
        expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS,
        response_hook=cast(Any, mark_replayed),
    )


@cached
def idempotent_inbound() -> Callable[..., dict[str, Any]]:
    """``process(text=InboundText) -> dict`` that runs once per provider message id.

    A redelivery returns the first result with ``replayed: True`` (Powertools ``response_hook``), so
    callers know not to send the reply again.
    """
    return idempotent_process(inbound_service)


def idempotent_process(service: Callable[[], InboundService]) -> Callable[..., dict[str, Any]]:
    """:func:`idempotent_inbound` over the service ``service()`` builds (the inbox's wiring passes the
    inbound service with the staff inbox behind it)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.serialization.custom_dict import CustomDictSerializer

    from shared.core.models import InboundText

    persistence = DynamoDBPersistenceLayer(
        table_name=core_settings().idempotency_table, boto3_client=aws.client("dynamodb")
    )
    config = idempotency_config()

    # The stored result keeps no reply text: a replay never sends it (``replayed``), and a body in clear
    # would be the one message text DynamoDB held outside the encrypted message log.
    without_reply = CustomDictSerializer(
        to_dict=lambda result: {key: value for key, value in result.items() if key != "reply"},
        from_dict=lambda stored: {**stored, "reply": None},
    )

    @idempotent_function(
        data_keyword_argument="text",
        persistence_store=persistence,
        config=config,
        output_serializer=without_reply,
    )
    def process(text: InboundText) -> dict[str, Any]:
        outcome = service().handle(text)
        return {
            "kind": outcome.kind.value,
            "message_id": outcome.message_id,
            "reply": outcome.reply,
            "reply_via": outcome.reply_via.value if outcome.reply_via else None,
            "reply_status": outcome.reply_status,
            "carrier_sync": outcome.carrier_sync,
            "replayed": False,
        }

    return process


def record_opt_out_last_resort(text: Any) -> Any:
    """Record the opt-out of an opt-out ``text`` (an InboundText) on the ledger alone, for when the full
    inbound service failed or could not be built (:class:`shared.inbound.domain.LastResortOptOut`); never
    raises."""
    from shared.inbound.domain import LastResortOptOut
    from shared.inbound.domain import record_opt_out_last_resort as record
    from shared.runtime.observability import logger

    try:
        ledger, index, replies = consent_ledger(), blind_index(), reply_book()
    except Exception as exc:  # settings or clients that cannot be built: nothing more can be done here
        logger.error("last-resort opt-out: ledger unavailable", extra={"error": type(exc).__name__})
        return LastResortOptOut(False)
    return record(text, consent=ledger, blind_index=index, clock=SystemClock(), replies=replies)
