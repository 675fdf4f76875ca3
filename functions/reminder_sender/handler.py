"""Reminder sender: one SQS message per due reminder; partial batch failures go back to the queue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.appointments import wiring
from shared.appointments.fanout import QueuedReminder
from shared.runtime.observability import logger, metrics, tracer

# A wholly failed batch is reported item by item too, so Lambda returns every message the same way.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
    try:
        message = QueuedReminder.from_body(record.body)
    except (ValueError, KeyError, TypeError):
        # Never retried: a malformed message cannot succeed later. Ids only in the log.
        logger.error("malformed reminder message dropped", extra={"sqs_message_id": record.message_id})
        metrics.add_metric(name="ReminderMessagesMalformed", unit="Count", value=1)
        return "malformed"
    seconds_left = lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context else None
    outcome = wiring.reminder_sender().send(message, seconds_left=seconds_left)
    metrics.add_metric(name=f"Reminder_{outcome}", unit="Count", value=1)
    logger.info("reminder processed", extra={"reminder_pk": message.reminder_pk, "outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
