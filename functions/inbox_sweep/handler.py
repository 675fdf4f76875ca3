"""Inbox sweep: triggered by InboxSweepSchedule (EventBridge Scheduler). Re-escalates urgent conversations
nobody opened and flags overdue ones; the run's "now" is the scheduled time in the event, so a retry or a
replay judges the same moment.

Each run also emits the departments' response times over the last 24 hours as CloudWatch metrics (EMF,
namespace POWERTOOLS_METRICS_NAMESPACE, dimension ``Department`` beside Powertools' ``service``;
figures and counts only, no PHI):
``InboxFirstResponseMedian``/``P90`` and ``InboxTimeToCloseMedian``/``P90`` in business minutes (absent
when there is nothing to measure), ``InboxConversations``, ``InboxAnswered``, ``InboxAwaiting`` and
``InboxOverdue`` as counts.

Then it anchors the audit chain's head in AuditAnchorBucket (sequence and hash only), so `clinictext
audit verify` finds records cut off the end of the trail. An anchor that cannot be written is logged and
counted (AuditAnchorFailed) and the run still returns: a failed run would be retried by the scheduler,
paging on-call again for the same conversations. A head unmoved since the newest anchor is not anchored
again, an anchor is never overwritten, and a head that does not match the anchors (cut off, or its
sequence anchored with another hash) is logged and counted (AuditAnchorConflict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.audit import wiring as audit_wiring
from shared.core.clock import check_instant, parse_iso
from shared.core.errors import InvalidInput
from shared.inbox import wiring
from shared.inbox.sla import DepartmentMetrics
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
    for figures in wiring.inbox_sweeper().response_times(now, wiring.metrics_departments()):
        emit_response_times(figures)
    return {**result, "anchored": anchor_audit_head(now)}


def response_time_metrics(m: DepartmentMetrics) -> list[tuple[str, MetricUnit, float]]:
    """The metrics of one department's figures (a percentile with no value is not emitted)."""
    out: list[tuple[str, MetricUnit, float]] = [
        ("InboxConversations", MetricUnit.Count, m.conversations),
        ("InboxStaffStarted", MetricUnit.Count, m.staff_started),
        ("InboxAnswered", MetricUnit.Count, m.first_response.count),
        ("InboxAwaiting", MetricUnit.Count, m.awaiting),
        ("InboxOverdue", MetricUnit.Count, m.overdue),
    ]
    for name, value in (
        ("InboxFirstResponseMedian", m.first_response.median),
        ("InboxFirstResponseP90", m.first_response.p90),
        ("InboxTimeToCloseMedian", m.time_to_close.median),
        ("InboxTimeToCloseP90", m.time_to_close.p90),
    ):
        if value is not None:
            out.append((name, MetricUnit.Count, value))  # business minutes (not a CloudWatch time unit)
    return out


def emit_response_times(m: DepartmentMetrics) -> None:
    """One EMF blob per department, with the Department dimension (no other dimension, no PHI)."""
    for name, unit, value in response_time_metrics(m):
        with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name="Department", value=m.department)


def anchor_audit_head(now: Any) -> int | None:
    """The sequence anchored (None for an empty trail, a head unmoved since the newest anchor, an anchor
    of its sequence already there, or an anchor that could not be written). A head that differs from
    the anchors is logged (sequences and the reason only) and counted as AuditAnchorConflict."""
    try:
        result = audit_wiring.audit_anchorer().anchor(now)
    except Exception as exc:  # any failure: counted and logged, never the sweep's failure (docstring)
        logger.error("audit anchor not written", extra={"error": type(exc).__name__})
        metrics.add_metric(name="AuditAnchorFailed", unit="Count", value=1)
        return None
    if result.finding is not None:
        logger.error(
            "audit head does not match its anchors",
            extra={
                "finding": result.finding,
                "sequence": result.head.sequence,
                "anchored_sequence": result.anchored_sequence,
            },
        )
        metrics.add_metric(name="AuditAnchorConflict", unit="Count", value=1)
    if result.written is not None:
        logger.info("audit head anchored", extra={"sequence": result.written.sequence})
        return result.written.sequence
    return None
