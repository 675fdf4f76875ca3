"""Inbox sweep: triggered by InboxSweepSchedule (EventBridge Scheduler). Re-escalates urgent conversations
nobody opened and flags overdue ones; the run's "now" is the scheduled time in the event, so a retry or a
replay judges the same moment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.core.clock import check_instant, parse_iso
from shared.core.errors import InvalidInput
from shared.inbox import wiring
from shared.runtime.observability import logger, metrics, tracer


def run_time(event: Any) -> Any:
    if not isinstance(event, Mapping) or not event.get("time"):
        raise InvalidInput('the sweep needs the scheduler\'s "time" (ISO 8601 with offset)', field="time")
    try:
        return check_instant(parse_iso(str(event["time"])))
    except ValueError as exc:
        raise InvalidInput("time must be an ISO 8601 instant with an offset", field="time") from exc


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = run_time(event)
    result = wiring.inbox_sweeper().sweep(now)
    metrics.add_metric(name="InboxEscalated", unit="Count", value=result["escalated"])
    metrics.add_metric(name="InboxOverdueFlagged", unit="Count", value=result["overdue_flagged"])
    return result
