"""Pacing outbound texts to the origination number's throughput, across every concurrent sender.

Carriers meter an origination number in message *parts* per second (DOMAIN: short code 100, toll-free 3,
10DLC as registered), and all parts of a multi-part text go out together. The rule kept here is exact:
**in every one-second window, wherever it starts, the texts sent hold at most ``rate`` parts.**

Every sender Lambda books its send time on one shared schedule, a single ControlTable item holding

* ``tat``: the *theoretical arrival time* of the generic cell rate algorithm (integer microseconds since the
  epoch), which spaces consecutive texts at least ``1 / rate`` apart, so a stream of one-part texts goes
  out evenly at exactly the rate, with no bursts and no burst credit kept after an idle spell; and
* ``log``: the texts booked in the last second of the schedule, as ``[start, parts]`` pairs. A text whose
  parts would take the window ending at its start above ``rate`` waits until enough earlier texts have
  left that window (multi-part texts at low rates: two two-part texts at 3 parts/s go a second apart).

A booking reads the item and writes it back on condition that its ``version`` is unchanged (optimistic
concurrency; a lost race re-reads and books again), then sleeps until its slot. A sender whose wait would
exceed ``max_wait`` books nothing and is told to come back later (:class:`PacerBusy`), so a Lambda never
sleeps through its own timeout. A text with more parts than ``rate`` waits for an empty window and goes
alone.

Efficiency: one-part texts reach the configured rate exactly. Multi-part texts can reach less, by
arithmetic rather than by choice: at 3 parts/s two two-part texts never fit in one second, so a stream of
them goes at 2 parts/s (67%); mixed one-to-three-part texts at 10 parts/s reach about 92%.

The clock is the machine's wall clock (``time.time``), not the domain clock: all senders must agree on it,
and Lambda hosts are NTP-synchronised.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from shared.errors import is_condition_failure

# DOMAIN: message parts per second by origination type; 10DLC is 1 per number unless registered higher.
DEFAULT_RATES: dict[str, float] = {"ShortCode": 100.0, "TollFree": 3.0, "TenDLC": 1.0}
MICROS = 1_000_000


def pacer_key(origination_type: str, origination_number: str) -> str:
    """The schedule's key: one per origination number. The clinic's own number is not PHI, but no phone
    number of any kind goes into a key, so it is named by a digest (an identifier, not a secret)."""
    digest = hashlib.sha256(origination_number.encode()).hexdigest()[:16] if origination_number else "default"
    return f"{origination_type}#{digest}"


class PacerBusy(Exception):
    """The schedule is booked further ahead than a sender may wait; try again later."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"send schedule booked {wait_seconds:.1f} s ahead")
        self.wait_seconds = wait_seconds


class SendPacer(Protocol):
    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        """Block until ``parts`` message parts may be sent; returns the seconds waited. Raises
        :class:`PacerBusy` instead of waiting longer than ``max_wait`` (or the pacer's own limit)."""
        ...


class UnpacedSender:
    """No pacing (unit tests of other behaviour)."""

    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        return 0.0


@dataclass(frozen=True)
class Reservation:
    slot_us: int
    cost_us: int


class DynamoSendPacer:
    """The shared schedule of one origination number, in the ControlTable (``pk`` / ``sk`` keys)."""

    def __init__(
        self,
        table: Any,
        *,
        number_key: str,
        parts_per_second: float,
        max_wait: float = 20.0,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not parts_per_second > 0:
            raise ValueError("parts_per_second must be positive")
        self._table = table
        self._key = {"pk": f"pacer#{number_key or 'default'}", "sk": "schedule"}
        self.parts_per_second = float(parts_per_second)
        self._max_wait_us = int(max_wait * MICROS)
        self._now = now
        self._sleep = sleep

    def cost_us(self, parts: int) -> int:
        if parts < 1:
            raise ValueError("a text has at least one part")
        return math.ceil(parts * MICROS / self.parts_per_second)

    def plan(self, item: dict[str, Any], parts: int, now: int) -> tuple[int, list[list[int]]]:
        """The earliest start at or after ``now`` for ``parts`` parts given the booked schedule (pure)."""
        self.cost_us(parts)  # validates parts
        start = max(now, int(item.get("tat", 0)))
        log = sorted([int(s), int(p)] for s, p in item.get("log", []))
        window = [entry for entry in log if entry[0] > start - MICROS]
        limit = max(self.parts_per_second, float(parts))  # a text longer than the rate goes alone
        while window and sum(p for _, p in window) + parts > limit:
            oldest = window.pop(0)
            start = max(start, oldest[0] + MICROS)  # the moment the oldest text leaves the window
            window = [entry for entry in window if entry[0] > start - MICROS]
        return start, [*window, [start, parts]]

    def reserve(self, parts: int, *, max_wait: float | None = None) -> Reservation:
        """Book the earliest slot for ``parts`` parts (a read and one conditional write)."""
        cost = self.cost_us(parts)
        limit = self._max_wait_us if max_wait is None else min(self._max_wait_us, int(max_wait * MICROS))
        if limit < 0:
            raise PacerBusy(0.0)
        for _ in range(50):
            item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item") or {}
            now = int(self._now() * MICROS)
            start, log = self.plan(item, parts, now)
            if start - now > limit:
                raise PacerBusy((start - now) / MICROS)
            version = int(item.get("version", 0))
            try:
                self._table.put_item(
                    Item={
                        **self._key,
                        "tat": start + self.cost_us(1),
                        "log": log,
                        "version": version + 1,
                        "expires_at": now // MICROS + 86_400,
                    },
                    ConditionExpression="attribute_not_exists(pk)" if not version else "version = :v",
                    **({"ExpressionAttributeValues": {":v": version}} if version else {}),
                )
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
                continue  # another sender booked first: read the schedule again
            return Reservation(start, cost)
        raise PacerBusy(0.0)

    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        reservation = self.reserve(parts, max_wait=max_wait)
        wait = (reservation.slot_us - int(self._now() * MICROS)) / MICROS
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0
