"""AWS End User Messaging two-way SMS: each inbound text arrives as an SNS notification.

An inbound text never becomes a retry loop, and an opt-out in it is never lost:

* A record that cannot be parsed, or whose processing fails in a way no retry can cure (anything but
  throttling, a 5xx, a timeout or another invocation still at it:
  :func:`shared.runtime.aws_errors.is_transient`), is parked on the KMS-encrypted rejection queue for an
  operator, counted (``InboundParked``, alarmed) and not raised, so SNS and Lambda do not retry it.
* Before that, if the text is an opt-out, the opt-out is recorded on the ledger alone
  (:func:`shared.inbound.wiring.record_opt_out_last_resort`, the same event id the full path records). A
  record that failed to parse counts only when the message itself is valid and the notification's timestamp
  was what failed (a year-1 time once made a STOP look older than the opt-in it revoked); then it is timed
  now. A malformed message records nothing.
* A transient failure is raised so the event source retries; the opt-out, if any, is recorded first.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.core.clock import CLOCK_SKEW, SystemClock, check_instant, iso, parse_iso
from shared.core.errors import InvalidInput
from shared.core.models import Channel, InboundText
from shared.inbound import wiring as inbound_wiring
from shared.inbox import wiring as inbox_wiring
from shared.runtime import aws_errors as aws
from shared.runtime import rejections
from shared.runtime.http import parse_json
from shared.runtime.observability import logger, metrics, tracer

SOURCE = "two-way-sms"


class TwoWaySmsMessage(BaseModel):
    """The JSON AWS End User Messaging publishes for an inbound text (fields per AWS docs)."""

    model_config = ConfigDict(extra="ignore")

    originationNumber: str = Field(max_length=32)
    destinationNumber: str = Field(max_length=32)
    messageBody: str
    inboundMessageId: str = Field(min_length=1, max_length=128)
    messageKeyword: str | None = None
    previousPublishedMessageId: str | None = None


def parse_record(message: str, timestamp: str, *, now: datetime | None = None) -> InboundText:
    try:
        # The one JSON parser first: a duplicate key (pydantic keeps the last, so a forged
        # '"messageBody": "STOP", "messageBody": "hi"' would read as "hi"), deep nesting or a huge number is
        # refused as malformed, the same way every HTTP body is.
        parse_json(message)
        payload = TwoWaySmsMessage.model_validate_json(message)
        # Inside the window every stored instant must be in, and not ahead of now: a text's time orders
        # its opt-out against the ledger's state, so a bogus one must never make a STOP look old.
        received_at = check_instant(parse_iso(timestamp), now=now)
        if received_at > (now or SystemClock().now()) + CLOCK_SKEW:  # the functions' one clock
            raise ValueError("is in the future")
        return InboundText(
            channel=Channel.AWS_SMS,
            provider_message_id=payload.inboundMessageId,
            from_number=payload.originationNumber,
            to_number=payload.destinationNumber,
            body=payload.messageBody,
            received_at=received_at,
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(f"inbound SMS message is malformed: {first.get('msg')}", field=field) from exc
    except ValueError as exc:
        raise InvalidInput("inbound SMS notification has an invalid timestamp", field="Timestamp") from exc


def _raw(record: Any, name: str) -> Any:
    sns = record.raw_event.get("Sns") if isinstance(record.raw_event, dict) else None
    return sns.get(name) if isinstance(sns, dict) else None


def _salvage(record: Any) -> InboundText | None:
    """The text of a record whose notification timestamp was unusable, timed now; None when the message
    itself is malformed (then nothing is recorded from it, opt-out or not)."""
    message = _raw(record, "Message")
    if not isinstance(message, str):
        return None
    try:
        return parse_record(message, iso(SystemClock().now()))
    except InvalidInput:
        return None


def _park(record: Any, reason: str, *, opt_out_recorded: bool) -> None:
    """Keep the raw notification (encrypted queue) for an operator, counted for the alarm."""
    rejections.reject_inbound(raw=json.dumps(record.raw_event), reason=reason, source=SOURCE)
    metrics.add_metric(name="InboundParked", unit="Count", value=1)
    logger.warning(
        "inbound text parked for an operator",
        extra={
            "sns_message_id": _raw(record, "MessageId"),
            "reason": reason,
            "opt_out_recorded": opt_out_recorded,
        },
    )


def _opt_out_last_resort(text: InboundText | None) -> bool:
    if text is None:
        return False
    recorded = bool(inbound_wiring.record_opt_out_last_resort(text).recorded)
    if recorded:
        metrics.add_metric(name="OptOutLastResort", unit="Count", value=1)
    return recorded


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise InvalidInput("event is not an SNS notification", field="Records")
    inbound_wiring.idempotency_config().register_lambda_context(context)
    results = []
    for record in SNSEvent(event).records:
        sns = record.sns
        try:
            text = parse_record(sns.message, sns.timestamp)
        except (InvalidInput, KeyError, TypeError) as exc:
            # A malformed text can never succeed on retry: park it, encrypted, for an operator. When only
            # the notification's timestamp was unusable, an opt-out in the (valid) message is recorded first.
            reason = exc.message if isinstance(exc, InvalidInput) else "malformed SNS record"
            if isinstance(exc, InvalidInput) and exc.field:
                reason = f"{reason} (field {exc.field})"
            recorded = _opt_out_last_resort(_salvage(record))
            metrics.add_metric(name="RejectedInbound", unit="Count", value=1)
            _park(record, reason, opt_out_recorded=recorded)
            results.append(
                {
                    "sns_message_id": _raw(record, "MessageId"),
                    "rejected": reason,
                    "opt_out_recorded": recorded,
                }
            )
            continue
        try:
            outcome = inbox_wiring.idempotent_inbound()(text=text)
        except Exception as exc:
            recorded = _opt_out_last_resort(text)
            if aws.is_transient(exc):
                logger.warning(
                    "inbound text failed transiently; the event source retries it",
                    extra={"sns_message_id": sns.message_id, "error": type(exc).__name__},
                )
                raise
            # The error's type only: a message or traceback could carry a number or a body.
            logger.error(
                "inbound text could not be processed",
                extra={"sns_message_id": sns.message_id, "error": type(exc).__name__},
            )
            reason = f"processing failed: {type(exc).__name__}"
            _park(record, reason, opt_out_recorded=recorded)
            results.append({"sns_message_id": sns.message_id, "parked": reason, "opt_out_recorded": recorded})
            continue
        results.append({"sns_message_id": sns.message_id, **{k: outcome[k] for k in ("kind", "replayed")}})
    return {"processed": results}
