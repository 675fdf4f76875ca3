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
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared.appointments import plan
from shared.appointments.fanout import RunCounts, RunWindow
from shared.core.clock import Clock, iso
from shared.runtime.aws_errors import CONDITION_FAILED, cancellation_codes

SQS_BATCH = 10
RUN_RECORD_DAYS = 400


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
        self._client = reminders.meta.client
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
        group: list[dict[str, Any]] = []
        for item in self._due(window):
            counts.found += 1
            group.append(item)
            if len(group) == SQS_BATCH:
                self._queue_group(group, window, counts)
                group = []
        if group:
            self._queue_group(group, window, counts)
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

    def _queue_group(self, group: list[dict[str, Any]], window: RunWindow, counts: RunCounts) -> None:
        """Mark a group pending -> queued in one transaction, then enqueue the ones marked."""
        marked, already, left = self._mark_queued(group, window, counts.run_id)
        counts.already_queued += already
        # A throttled write must not stop the run for everyone else: those reminders are still pending
        # and due, so the next run (ReminderScheduleRate) queues them.
        counts.left_for_next_run += left
        if marked:
            self._enqueue(marked, counts)

    def _mark_queued(
        self, group: list[dict[str, Any]], window: RunWindow, run_id: str
    ) -> tuple[list[dict[str, Any]], int, int]:
        """One ``TransactWriteItems`` for the group (the due index lists each reminder once, so no item
        appears twice); returns (marked, already queued or changed, left for the next run).

        A cancelled transaction says per item which condition failed, without a re-read: those
        reminders were queued by an overlapping run or changed meanwhile and are dropped, and the others
        are tried once more in a second transaction."""
        candidates, already = list(group), 0
        for _attempt in range(2):
            if not candidates:
                break
            now = self._clock.now()
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {"Update": self._queue_update(item, window, run_id, now)} for item in candidates
                    ]
                )
                return candidates, already, 0
            except ClientError as exc:
                codes = cancellation_codes(exc)
                if codes is None or len(codes) != len(candidates):
                    return [], already, len(candidates)  # throttled or failed whole: next run
                failed = [
                    item for item, code in zip(candidates, codes, strict=True) if code == CONDITION_FAILED
                ]
                already += len(failed)
                candidates = [
                    item for item, code in zip(candidates, codes, strict=True) if code != CONDITION_FAILED
                ]
        return [], already, len(candidates)

    def _queue_update(
        self, item: dict[str, Any], window: RunWindow, run_id: str, now: datetime
    ) -> dict[str, Any]:
        return {
            "TableName": self._reminders.name,
            "Key": {"pk": item["pk"]},
            "UpdateExpression": "SET #s = :queued, queued_at = :now, run_id = :run",
            "ConditionExpression": "attribute_exists(due_bucket) AND due_at <= :end "
            "AND appointment_version = :v "
            "AND (#s = :pending OR (#s = :queued AND queued_at < :stale))",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":queued": plan.QUEUED,
                ":pending": plan.PENDING,
                ":now": iso(now),
                ":run": run_id,
                ":end": iso(window.end),
                ":v": item["appointment_version"],
                ":stale": iso(now - self._requeue_after),
            },
        }

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
