"""The reminder fan-out: find reminders due in a window and hand each to the queue once.

A run's window comes from its event, never from the wall clock: the scheduler's event carries the
scheduled ``time`` (a retried or replayed run handles the same window), and an on-demand run names
``{"window": {"start": ..., "end": ...}}``. Reminders are found by Querying the sparse ``due`` index one
UTC hour bucket at a time (never a Scan), page by page. Each reminder is moved pending -> queued with a
conditional update before it is enqueued, so overlapping and repeated runs enqueue it once; a reminder
left ``queued`` longer than ``requeue_after_minutes`` (its message lost) is queued again, and the sender's
claim keeps even that from texting twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared.clock import Clock, check_instant, iso, parse_iso
from shared.errors import InvalidInput, is_condition_failure
from shared.reminders import plan

SQS_BATCH = 10
MAX_WINDOW = timedelta(days=8)
RUN_RECORD_DAYS = 400


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


class ReminderFanout:
    def __init__(
        self,
        *,
        reminders: Any,
        control: Any,
        sqs: Any,
        queue_url: str,
        requeue_after: timedelta,
        clock: Clock,
        page_size: int = 100,
    ) -> None:
        self._reminders = reminders
        self._control = control
        self._sqs = sqs
        self._queue_url = queue_url
        self._requeue_after = requeue_after
        self._clock = clock
        self._page_size = page_size

    def run(self, window: RunWindow) -> dict[str, Any]:
        run_pk = f"run#{iso(window.end)}"
        counts = RunCounts(buckets=len(plan.hour_buckets(window.start, window.end)))
        counts.run_id = f"{run_pk}/{uuid.uuid4()}"
        self._record_start(run_pk, window)
        batch: list[dict[str, Any]] = []
        for item in self._due(window):
            counts.found += 1
            try:
                marked = self._mark_queued(item, window, counts.run_id)
            except ClientError:
                # One throttled write must not stop the run for everyone else: the reminder is still
                # pending and due, so the next run (ReminderScheduleRate) queues it.
                counts.left_for_next_run += 1
                continue
            if not marked:
                counts.already_queued += 1
                continue
            batch.append(item)
            if len(batch) == SQS_BATCH:
                self._enqueue(batch, counts)
                batch = []
        if batch:
            self._enqueue(batch, counts)
        self._record_finish(run_pk, counts)
        return {"window": {"start": iso(window.start), "end": iso(window.end)}, **counts.as_dict()}

    def _due(self, window: RunWindow) -> Iterator[dict[str, Any]]:
        """Due reminders, streamed page by page from each hour bucket of the window."""
        upper = iso(window.end) + "#~"  # '~' sorts after every character of a reminder key
        for bucket in plan.hour_buckets(window.start, window.end):
            args: dict[str, Any] = {
                "IndexName": "due",
                "KeyConditionExpression": "due_bucket = :b AND due_key <= :end",
                "ExpressionAttributeValues": {":b": bucket, ":end": upper},
                "Limit": self._page_size,
            }
            while True:
                page = self._reminders.query(**args)
                yield from page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _mark_queued(self, item: dict[str, Any], window: RunWindow, run_id: str) -> bool:
        now = self._clock.now()
        try:
            self._reminders.update_item(
                Key={"pk": item["pk"]},
                UpdateExpression="SET #s = :queued, queued_at = :now, run_id = :run",
                ConditionExpression="attribute_exists(due_bucket) AND due_at <= :end "
                "AND appointment_version = :v "
                "AND (#s = :pending OR (#s = :queued AND queued_at < :stale))",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":queued": plan.QUEUED,
                    ":pending": plan.PENDING,
                    ":now": iso(now),
                    ":run": run_id,
                    ":end": iso(window.end),
                    ":v": item["appointment_version"],
                    ":stale": iso(now - self._requeue_after),
                },
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def _enqueue(self, batch: list[dict[str, Any]], counts: RunCounts) -> None:
        entries = [
            {
                "Id": str(position),
                # Ids only: the sender reads everything else from the tables.
                "MessageBody": json.dumps(
                    {
                        "reminder_pk": item["pk"],
                        "appointment_pk": item["appointment_pk"],
                        "appointment_version": int(item["appointment_version"]),
                        "run_id": counts.run_id,
                    }
                ),
            }
            for position, item in enumerate(batch)
        ]
        try:
            response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            failed = len(response.get("Failed", []))
        except ClientError:
            failed = len(entries)  # none was sent; they are found again once requeue_after has passed
        # A reminder whose message failed stays `queued`; a later run re-queues it after requeue_after.
        counts.enqueue_failed += failed
        counts.queued += len(batch) - failed

    def _record_start(self, run_pk: str, window: RunWindow) -> None:
        now = self._clock.now()
        self._control.update_item(
            Key={"pk": run_pk, "sk": "run"},
            UpdateExpression="SET started_at = if_not_exists(started_at, :now), last_started_at = :now, "
            "window_start = :ws, window_end = :we, #trigger = :trigger, expires_at = :exp "
            "ADD attempts :one",
            ExpressionAttributeNames={"#trigger": "trigger"},
            ExpressionAttributeValues={
                ":now": iso(now),
                ":ws": iso(window.start),
                ":we": iso(window.end),
                ":trigger": window.trigger,
                ":exp": int((now + timedelta(days=RUN_RECORD_DAYS)).timestamp()),
                ":one": 1,
            },
        )

    def _record_finish(self, run_pk: str, counts: RunCounts) -> None:
        self._control.update_item(
            Key={"pk": run_pk, "sk": "run"},
            UpdateExpression="SET finished_at = :now, last_run_id = :run, found_count = :found, "
            "already_queued_count = :already, enqueue_failed_count = :failed, "
            "left_for_next_run_count = :left ADD queued_count :queued",
            ExpressionAttributeValues={
                ":now": iso(self._clock.now()),
                ":run": counts.run_id,
                ":found": counts.found,
                ":already": counts.already_queued,
                ":failed": counts.enqueue_failed,
                ":left": counts.left_for_next_run,
                ":queued": counts.queued,
            },
        )
