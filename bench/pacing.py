"""Pacing accuracy: achieved send rate against the configured rate, with concurrent senders.

Each scenario runs ``senders`` threads that book slots on one :class:`shared.outbound.store.DynamoSendPacer`
schedule (a ControlTable item in moto, in-process) and "publish" when their slot comes, on the real wall
clock with real sleeps. Recorded per text: the instant the sender was released and its parts. Reported:
achieved parts/s over the run (first release to the end of the last text's share of the rate), as a
fraction of the configured rate, and the most parts released in any one-second window (must not exceed
the rate). Slots are spaced for 95% of the rate (a 5% guard band against jitter, see
shared/outbound/pacing.py), so one-part texts should show about 95% and never more than the rate in any
second.

moto checks a conditional write and applies it in two steps without a lock; DynamoDB does both atomically.
The table is wrapped so that each call is atomic, as it is in DynamoDB (see tests/unit/test_caps_and_pacing).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PacingResult:
    label: str
    rate: float
    senders: int
    texts: int
    parts: int
    seconds: float
    achieved: float
    max_parts_in_any_second: int
    rebooked: int = 0

    @property
    def ratio(self) -> float:
        return self.achieved / self.rate


class _AtomicTable:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._lock = threading.Lock()

    def get_item(self, **kwargs: Any) -> Any:
        with self._lock:
            return self._table.get_item(**kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        with self._lock:
            return self._table.update_item(**kwargs)


def max_parts_in_window(sends: list[tuple[float, int]], window: float = 1.0) -> int:
    ordered = sorted(sends)
    best = 0
    for i, (start, _parts) in enumerate(ordered):
        best = max(best, sum(p for s, p in ordered[i:] if s < start + window))
    return best


def run_scenario(label: str, rate: float, senders: int, sizes: list[int]) -> PacingResult:
    import boto3
    from moto import mock_aws

    from shared.outbound.pacing import PacerBusy
    from shared.outbound.store import DynamoSendPacer

    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="Control",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        shared = _AtomicTable(table)
        work = list(sizes)
        work_lock = threading.Lock()
        sends: list[tuple[float, int]] = []
        busy: list[int] = []

        def sender() -> None:
            pacer = DynamoSendPacer(shared, number_key="bench", parts_per_second=rate, max_wait=60)
            while True:
                with work_lock:
                    if not work:
                        return
                    parts = work.pop()
                try:
                    pacer.acquire(parts)
                except PacerBusy:  # the sender would leave the text on the queue; here: try again
                    with work_lock:
                        work.append(parts)
                        busy.append(1)
                    continue
                released = time.time()
                with work_lock:
                    sends.append((released, parts))

        threads = [threading.Thread(target=sender) for _ in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ordered = sorted(sends)
    total = sum(p for _, p in ordered)
    # The run lasts until the last text's parts have had their share of the rate.
    seconds = ordered[-1][0] - ordered[0][0] + ordered[-1][1] / rate
    return PacingResult(
        label=label,
        rate=rate,
        senders=senders,
        texts=len(ordered),
        parts=total,
        seconds=seconds,
        achieved=total / seconds,
        max_parts_in_any_second=max_parts_in_window(ordered),
        rebooked=len(busy),
    )


SCENARIOS: list[tuple[str, float, int, list[int]]] = [
    ("toll-free, 1-part reminders", 3.0, 5, [1] * 30),
    ("10DLC registered 20/s, 1-part", 20.0, 5, [1] * 160),
    ("short code, 1-part", 100.0, 10, [1] * 600),
    ("10/s, mixed 1-3 parts", 10.0, 5, [1 + (i % 3) for i in range(60)]),
    ("toll-free, 2-part texts", 3.0, 5, [2] * 12),
]


def run_all(scale: float = 1.0) -> list[PacingResult]:
    results = []
    for label, rate, senders, sizes in SCENARIOS:
        count = max(4, int(len(sizes) * scale))
        results.append(run_scenario(label, rate, senders, sizes[:count]))
    return results


def table(results: list[PacingResult]) -> str:
    lines = [
        "| scenario | configured parts/s | senders | texts | parts | seconds | achieved parts/s "
        "| achieved / configured | most parts in any 1 s | slots given up (late) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.label} | {r.rate:g} | {r.senders} | {r.texts} | {r.parts} | {r.seconds:.2f} | "
            f"{r.achieved:.2f} | {r.ratio:.1%} | {r.max_parts_in_any_second} | {r.rebooked} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run_all()))
