"""Reminder sender: one SQS batch of due reminders at a time; partial batch failures go back to the queue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.appointments import wiring
from shared.appointments.fanout import QueuedReminder
from shared.runtime.observability import logger, metrics, tracer


def handle(event: dict[str, Any], lambda_context: LambdaContext | None = None) -> dict[str, Any]:
    """Parse the batch, send what parses as one batch, and report the messages that should come back."""
    messages: list[QueuedReminder] = []
    ids: list[str] = []
    for record in SQSEvent(event).records:
        try:
            messages.append(QueuedReminder.from_body(record.body))
            ids.append(record.message_id)
        except (ValueError, KeyError, TypeError):
            # Never retried: a malformed message cannot succeed later. Ids only in the log.
            logger.error("malformed reminder message dropped", extra={"sqs_message_id": record.message_id})
            metrics.add_metric(name="ReminderMessagesMalformed", unit="Count", value=1)
    seconds_left = lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context else None
    outcomes = wiring.reminder_sender().send_batch(messages, seconds_left=seconds_left) if messages else []
    failures = []
    for message, message_id, outcome in zip(messages, ids, outcomes, strict=True):
        metrics.add_metric(name=f"Reminder_{outcome.word}", unit="Count", value=1)
        logger.info(
            "reminder processed",
            extra={"reminder_pk": message.reminder_pk, "outcome": outcome.word, "detail": outcome.detail},
        )
        if outcome.retry:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
