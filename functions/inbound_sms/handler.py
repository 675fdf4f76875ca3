"""AWS End User Messaging two-way SMS: each inbound text arrives as an SNS notification."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import wiring
from shared.clock import parse_iso
from shared.errors import InvalidInput
from shared.models import Channel, InboundText
from shared.observability import logger, metrics, tracer


class TwoWaySmsMessage(BaseModel):
    """The JSON AWS End User Messaging publishes for an inbound text (fields per AWS docs)."""

    model_config = ConfigDict(extra="ignore")

    originationNumber: str = Field(max_length=32)
    destinationNumber: str = Field(max_length=32)
    messageBody: str
    inboundMessageId: str = Field(min_length=1, max_length=128)
    messageKeyword: str | None = None
    previousPublishedMessageId: str | None = None


def parse_record(message: str, timestamp: str) -> InboundText:
    try:
        payload = TwoWaySmsMessage.model_validate_json(message)
        return InboundText(
            channel=Channel.AWS_SMS,
            provider_message_id=payload.inboundMessageId,
            from_number=payload.originationNumber,
            to_number=payload.destinationNumber,
            body=payload.messageBody,
            received_at=parse_iso(timestamp),
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(f"inbound SMS message is malformed: {first.get('msg')}", field=field) from exc
    except ValueError as exc:
        raise InvalidInput("inbound SMS notification has an invalid timestamp", field="Timestamp") from exc


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise InvalidInput("event is not an SNS notification", field="Records")
    wiring.idempotency_config().register_lambda_context(context)
    process = wiring.idempotent_inbound()
    results = []
    for record in SNSEvent(event).records:
        sns = record.sns
        try:
            text = parse_record(sns.message, sns.timestamp)
        except (InvalidInput, KeyError, TypeError) as exc:
            # A malformed text can never succeed on retry: park it, encrypted, for an operator.
            reason = exc.message if isinstance(exc, InvalidInput) else "malformed SNS record"
            wiring.reject_inbound(raw=json.dumps(record.raw_event), reason=reason, source="two-way-sms")
            metrics.add_metric(name="RejectedInbound", unit="Count", value=1)
            logger.warning(
                "inbound text rejected", extra={"sns_message_id": sns.message_id, "reason": reason}
            )
            results.append({"sns_message_id": sns.message_id, "rejected": reason})
            continue
        outcome = process(text=text)
        results.append({"sns_message_id": sns.message_id, **{k: outcome[k] for k in ("kind", "replayed")}})
    return {"processed": results}
