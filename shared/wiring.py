"""Composition root: builds domain services from settings and AWS adapters, once per container.

Handlers call these factories; tests call :func:`reset` between cases so each gets fresh clients.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from shared import aws
from shared.clock import SystemClock
from shared.config import CoreSettings, TwilioSettings
from shared.consent import ConsentService
from shared.crypto import KmsEnvelopeCipher, KmsHmacBlindIndex
from shared.inbound import InboundService
from shared.replies import ReplyBook
from shared.sms import SnsOptOutList, SnsSmsSender
from shared.stores.consent import DynamoConsentLedger
from shared.stores.messages import DynamoMessageLog

_caches: list[Any] = []


def cached(factory: Callable[[], Any]) -> Any:
    wrapped = functools.cache(factory)
    _caches.append(wrapped)
    return wrapped


def reset(*, clients: bool = True) -> None:
    """Forget built services (and, unless ``clients`` is False, the boto3 clients too)."""
    from aws_lambda_powertools.utilities import parameters

    for cache in _caches:
        cache.cache_clear()
    parameters.clear_caches()  # secrets (the Twilio token) are cached process-wide by Powertools
    if clients:
        aws.reset()


class MetricsCounter:
    """Counts domain events as Powertools EMF metrics."""

    def count(self, name: str, value: int = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        from shared.observability import metrics

        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@cached
def core_settings() -> CoreSettings:
    return CoreSettings()


@cached
def twilio_settings() -> TwilioSettings:
    return TwilioSettings()


@cached
def cipher() -> KmsEnvelopeCipher:
    settings = core_settings()
    return KmsEnvelopeCipher(
        settings.data_key_arn,
        cache_capacity=settings.phi_cache_capacity,
        max_cache_age_seconds=settings.phi_cache_max_age_seconds,
        max_messages_encrypted=settings.phi_cache_max_messages_per_key,
    )


@cached
def blind_index() -> KmsHmacBlindIndex:
    return KmsHmacBlindIndex(aws.client("kms"), core_settings().blind_index_key_arn)


@cached
def consent_ledger() -> DynamoConsentLedger:
    return DynamoConsentLedger(aws.table(core_settings().consent_table), cipher(), counter=MetricsCounter())


@cached
def message_log() -> DynamoMessageLog:
    return DynamoMessageLog(aws.table(core_settings().messages_table), cipher())


@cached
def sms_sender() -> SnsSmsSender:
    return SnsSmsSender(aws.client("sns"), default_origination=core_settings().origination_number)


@cached
def reply_book() -> ReplyBook:
    settings = core_settings()
    return ReplyBook(settings.clinic_name, settings.support_contact, settings.clinic_phone)


def conversation_router() -> Any:
    """Answers to reminders (confirm / reschedule), matched to the most recently reminded appointment."""
    from shared.reminders.wiring import reminder_reply_router

    return reminder_reply_router()


@cached
def inbound_service() -> InboundService:
    return InboundService(
        blind_index=blind_index(),
        consent=consent_ledger(),
        messages=message_log(),
        sender=sms_sender(),
        carrier_optouts=SnsOptOutList(aws.client("sns")),
        replies=reply_book(),
        clock=SystemClock(),
        router=conversation_router(),
        counter=MetricsCounter(),
    )


@cached
def consent_service() -> ConsentService:
    return ConsentService(
        blind_index=blind_index(),
        consent=consent_ledger(),
        messages=message_log(),
        sender=sms_sender(),
        replies=reply_book(),
        clock=SystemClock(),
        default_region=core_settings().default_phone_region,
    )


IDEMPOTENCY_WINDOW_SECONDS = 7 * 24 * 3600


@cached
def template_store() -> Any:
    from shared.stores.templates import DynamoTemplateStore

    return DynamoTemplateStore(aws.table(core_settings().control_table))


@cached
def delivery_log_groups() -> frozenset[str]:
    """The SNS SMS delivery log groups the template subscribes to; any other group is refused."""
    from shared.config import DeliverySettings

    return DeliverySettings().log_groups


@cached
def delivery_status_service() -> Any:
    from shared.delivery import DeliveryStatusService

    return DeliveryStatusService(
        messages=message_log(),
        consent=consent_ledger(),
        blind_index=blind_index(),
        clock=SystemClock(),
        default_region=core_settings().default_phone_region,
    )


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
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.serialization.custom_dict import CustomDictSerializer

    from shared.models import InboundText

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
        outcome = inbound_service().handle(text)
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
    inbound service failed or could not be built (:class:`shared.inbound.LastResortOptOut`); never raises."""
    from shared.inbound import LastResortOptOut
    from shared.inbound import record_opt_out_last_resort as record
    from shared.observability import logger

    try:
        ledger, index, replies = consent_ledger(), blind_index(), reply_book()
    except Exception as exc:  # settings or clients that cannot be built: nothing more can be done here
        logger.error("last-resort opt-out: ledger unavailable", extra={"error": type(exc).__name__})
        return LastResortOptOut(False)
    return record(text, consent=ledger, blind_index=index, clock=SystemClock(), replies=replies)


def reject_inbound(*, raw: str, reason: str, source: str) -> None:
    """Park an inbound event that can never be processed on the (KMS-encrypted) rejection queue.

    Nothing is stored in DynamoDB or sent; the raw event is kept for an operator, so nothing is lost.
    """
    from shared.config import RejectionSettings
    from shared.observability import logger

    # Read each time, not from the cached core settings: rejections are rare, and the local stack runs
    # every function in one process, where only some of them declare REJECTED_QUEUE_URL.
    queue_url = RejectionSettings().rejected_queue_url
    if not queue_url:
        logger.error("no rejection queue configured; rejected event dropped", extra={"source": source})
        return
    aws.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=raw,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:256]},
            "source": {"DataType": "String", "StringValue": source},
        },
    )
