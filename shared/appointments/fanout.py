"""The fan-out's window (from its event, never the wall clock) and the queue message per reminder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.core.clock import check_instant, parse_iso
from shared.core.errors import InvalidInput
from shared.runtime.http import parse_json

MAX_WINDOW = timedelta(days=8)


@dataclass(frozen=True)
class RunWindow:
    start: datetime
    end: datetime
    trigger: str  # "schedule" or "on-demand"


def window_from_event(event: Any, *, lookback_hours: int) -> RunWindow:
    """The run's window from a scheduler event (``time``) or an explicit ``{"window": {start, end}}``."""
    if not isinstance(event, Mapping):
        raise InvalidInput("fan-out event must be a JSON object", field="event")
    if "window" in event:
        window = event["window"]
        if not isinstance(window, Mapping) or not window.get("end"):
            raise InvalidInput(
                'window needs "end" (and usually "start"), ISO 8601 with offset', field="window"
            )
        end = _instant(window["end"], "window.end")
        start = (
            _instant(window["start"], "window.start")
            if window.get("start")
            else end - timedelta(hours=lookback_hours)
        )
        trigger = "on-demand"
    elif event.get("time"):
        end = _instant(event["time"], "time")
        start = end - timedelta(hours=lookback_hours)
        trigger = "schedule"
    else:
        raise InvalidInput(
            'fan-out event needs the scheduler\'s "time" or a "window" {"start", "end"}', field="event"
        )
    if start >= end:
        raise InvalidInput("window.start must be before window.end", field="window.start")
    if end - start > MAX_WINDOW:
        raise InvalidInput(f"a window may span at most {MAX_WINDOW.days} days", field="window")
    return RunWindow(start, end, trigger)


def _instant(value: Any, name: str) -> datetime:
    try:
        at = parse_iso(str(value))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an ISO 8601 instant with an offset", field=name) from exc
    try:
        # In the window every stored instant must be in: year 1 minus the lookback would overflow.
        return check_instant(at)
    except ValueError as exc:
        raise InvalidInput(f"{name} {exc}", field=name) from exc


@dataclass
class RunCounts:
    found: int = 0
    queued: int = 0
    already_queued: int = 0
    enqueue_failed: int = 0
    left_for_next_run: int = 0  # DynamoDB refused the pending->queued write (throttled): still pending
    buckets: int = 0
    run_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "buckets": self.buckets,
            "found": self.found,
            "queued": self.queued,
            "already_queued": self.already_queued,
            "enqueue_failed": self.enqueue_failed,
            "left_for_next_run": self.left_for_next_run,
        }


@dataclass(frozen=True)
class QueuedReminder:
    reminder_pk: str
    appointment_pk: str
    appointment_version: int

    @classmethod
    def from_body(cls, body: str) -> QueuedReminder:
        try:
            data = parse_json(body)  # the one parser: no RecursionError or 4,301-digit int from a body
        except InvalidInput as exc:
            raise ValueError(exc.message) from exc
        if not isinstance(data, Mapping):
            raise ValueError("reminder message is not a JSON object")
        return cls(str(data["reminder_pk"]), str(data["appointment_pk"]), int(data["appointment_version"]))
