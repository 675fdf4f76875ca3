"""Reminder fan-out: triggered by ReminderSchedule (EventBridge Scheduler) or on demand with a window."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.appointments import wiring
from shared.appointments.fanout import window_from_event
from shared.runtime.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = wiring.reminder_settings()
    window = window_from_event(event, lookback_hours=settings.fanout_lookback_hours)
    result = wiring.reminder_fanout().run(window)
    metrics.add_metric(name="RemindersQueued", unit="Count", value=result["queued"])
    logger.info("reminder fan-out finished", extra=result)
    return result
