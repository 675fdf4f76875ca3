"""SNS SMS delivery status: CloudWatch Logs subscription filters hand SNS's delivery log lines here."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.parser.models import CloudWatchLogsModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from shared.core.errors import InvalidInput
from shared.delivery import wiring as delivery_wiring
from shared.delivery.domain import SnsDeliveryLog
from shared.runtime import rejections
from shared.runtime.observability import logger, metrics, tracer

SOURCE = "sns-delivery-status"
COUNTS = ("delivered", "failed", "opted_out", "unmatched", "stale", "rejected", "retries")


def _reject(raw: str, reason: str, counts: dict[str, int]) -> None:
    """Park what can never be processed (encrypted queue, for an operator): nothing else changes."""
    rejections.reject_inbound(raw=raw, reason=reason, source=SOURCE)
    metrics.add_metric(name="DeliveryStatusRejected", unit="Count", value=1)
    counts["rejected"] += 1


def _refuse(line: str, exc: InvalidInput, event_id: str, counts: dict[str, int]) -> None:
    _reject(line, exc.message, counts)
    logger.warning("delivery log line rejected", extra={"log_event_id": event_id, "field": exc.field})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # retries: DynamoDB requests sent again (throttling, conflicts, a transaction re-sent without the
    # reports it could not take), the SDK's own retries included.
    counts = dict.fromkeys(COUNTS, 0)
    try:
        payload = CloudWatchLogsModel.model_validate(event).awslogs.decoded_data
    except (ValidationError, ValueError, TypeError):
        # Not a CloudWatch Logs subscription payload (or not decodable): never retried, kept for an operator.
        _reject(
            json.dumps(event, default=str)[:200_000], "not a CloudWatch Logs subscription payload", counts
        )
        logger.warning("delivery status event rejected: not a subscription payload")
        return counts
    if payload.messageType == "CONTROL_MESSAGE":
        return counts  # CloudWatch Logs checks the destination is reachable when the filter is created
    allowed = delivery_wiring.delivery_log_groups()
    if payload.logGroup not in allowed:
        _reject(json.dumps({"logGroup": payload.logGroup}), "log group is not an SMS delivery log", counts)
        logger.warning("delivery status from an unexpected log group rejected")
        return counts
    service = delivery_wiring.delivery_status_service()
    parsed: list[tuple[str, str, SnsDeliveryLog]] = []  # (log event id, line, report)
    for log_event in payload.logEvents:
        line = str(log_event.message)  # CloudWatch Logs delivers each line as text
        try:
            parsed.append((log_event.id, line, SnsDeliveryLog.parse(line)))
        except InvalidInput as exc:
            _refuse(line, exc, log_event.id, counts)
    # The whole batch at once: a few DynamoDB requests, however many lines.
    batch = service.apply_all([log for _, _, log in parsed])
    counts["retries"] = batch.retries
    if batch.retries:
        metrics.add_metric(name="DeliveryStatusRetries", unit="Count", value=batch.retries)
    for (event_id, line, _), result in zip(parsed, batch.results, strict=True):
        if isinstance(result, InvalidInput):
            _refuse(line, result, event_id, counts)
            continue
        counts[result.outcome] += 1
        if result.recorded != "updated":
            counts[result.recorded] += 1  # no record of ours (unmatched), or a later report won (stale)
        metrics.add_metric(name=f"Delivery_{result.outcome}", unit="Count", value=1)
        logger.info(
            "delivery status recorded",
            extra={
                "provider_message_id": result.provider_message_id,
                "outcome": result.outcome,
                "recorded": result.recorded,
                "consent": result.consent,
            },
        )
    return counts
