"""Fan-out of 10,000 and 100,000 due reminders: time and peak memory of ``ReminderFanout.run``.

moto needs about 60 ms a reminder for the fan-out's Query, conditional UpdateItem and SQS batches, so
100,000 would take well over an hour in moto. This benchmark runs the real fan-out code against small
in-memory stand-ins for the ``due`` index (pages of 100 items made on demand, as DynamoDB returns them),
the conditional write and ``SendMessageBatch``, so what it measures is the fan-out's own cost and whether
it streams: peak memory must stay flat as the number of due reminders grows.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class FanoutResult:
    reminders: int
    queued: int
    seconds: float
    peak_mib: float
    queries: int
    batches: int


class _DueIndex:
    """The RemindersTable as the fan-out sees it: the sparse ``due`` index, paged, and the conditional
    pending -> queued write. Items are built when a page is asked for, never held all at once."""

    def __init__(self, count: int, window_end: datetime, buckets: list[str]) -> None:
        self._count = count
        self._per_bucket = -(-count // len(buckets))
        self._buckets = {bucket: i for i, bucket in enumerate(buckets)}
        self._end = window_end
        self.queries = 0
        self.updates = 0

    def query(self, **args: Any) -> dict[str, Any]:
        self.queries += 1
        bucket = args["ExpressionAttributeValues"][":b"]
        first = self._buckets[bucket] * self._per_bucket
        last = min(first + self._per_bucket, self._count)
        start = int(args.get("ExclusiveStartKey", {}).get("n", first))
        stop = min(start + int(args["Limit"]), last)
        items = [
            {
                "pk": f"rem#appt-{n}#2880",
                "appointment_pk": f"appt#{n}",
                "appointment_version": 1,
                "due_at": "2026-11-24T15:00:00.000000Z",
                "due_bucket": bucket,
                "due_key": f"2026-11-24T15:00:00.000000Z#rem#appt-{n}#2880",
                "status": "pending",
            }
            for n in range(start, stop)
        ]
        page: dict[str, Any] = {"Items": items}
        if stop < last:
            page["LastEvaluatedKey"] = {"n": stop}
        return page

    def update_item(self, **_args: Any) -> dict[str, Any]:
        self.updates += 1
        return {}

    name = "RemindersTable"

    @property
    def meta(self) -> Any:
        """What a boto3 Table exposes: ``meta.client`` (the fan-out marks a group in one transaction)."""
        from types import SimpleNamespace

        return SimpleNamespace(client=self)

    def transact_write_items(self, **args: Any) -> dict[str, Any]:
        self.updates += len(args["TransactItems"])
        return {}


class _Control:
    def update_item(self, **_args: Any) -> dict[str, Any]:
        return {}


class _Queue:
    def __init__(self) -> None:
        self.batches = 0

    def send_message_batch(self, **args: Any) -> dict[str, Any]:
        self.batches += 1
        return {"Successful": [{"Id": e["Id"]} for e in args["Entries"]], "Failed": []}


def run_one(count: int) -> FanoutResult:
    from shared.appointments import plan
    from shared.appointments.fanout import RunWindow
    from shared.appointments.store.fanout import ReminderFanout
    from shared.core.clock import FixedClock

    end = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    window = RunWindow(start=end - timedelta(hours=26), end=end, trigger="schedule")
    index = _DueIndex(count, end, plan.hour_buckets(window.start, window.end))
    queue = _Queue()
    fanout = ReminderFanout(
        reminders=index,
        control=_Control(),
        sqs=queue,
        queue_url="https://sqs.example/queue",
        requeue_after=timedelta(minutes=30),
        clock=FixedClock(end),
    )
    tracemalloc.start()
    started = time.perf_counter()
    result = fanout.run(window)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return FanoutResult(count, int(result["queued"]), seconds, peak, index.queries, queue.batches)


def run(counts: tuple[int, ...] = (10_000, 100_000)) -> list[FanoutResult]:
    return [run_one(count) for count in counts]


def table(results: list[FanoutResult]) -> str:
    lines = [
        "| due reminders | queued | seconds | reminders/s | peak traced memory MiB | Query pages "
        "| SQS batches |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.reminders:,} | {r.queued:,} | {r.seconds:.2f} | {r.reminders / r.seconds:,.0f} | "
            f"{r.peak_mib:.2f} | {r.queries:,} | {r.batches:,} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run()))
