"""Pacing outbound texts to the origination number's throughput, across every concurrent sender.

Carriers meter an origination number in message *parts* per second (DOMAIN: short code 100, toll-free 3,
10DLC as registered), and all parts of a multi-part text go out together. The rule kept here is exact:
**in every one-second window, wherever it starts, the texts released hold at most ``rate`` parts**, with
a guard band (:data:`GUARD`, 5%) so that up to 50 ms of jitter between a sender's slot and SNS accepting
its text cannot push a window over either.

Every sender Lambda books its send time on one shared schedule, a single ControlTable item holding the
*theoretical arrival time* ``tat`` of the generic cell rate algorithm, in integer microseconds since the
epoch. With ``d = (1 + GUARD) / rate`` the time one part takes, a text of ``p`` parts books the interval
of ``2p - 1`` parts' time ``[slot - (p-1)d, slot + p*d)`` and is released at ``slot``: the ``p - 1``
parts' time before it keeps the texts booked just before it out of its window, the ``p`` after keep the
ones after it out. Bookings never overlap, so any one-second window holds at most ``rate`` parts. One-part
texts (every reminder) are spaced exactly ``d`` apart and reach ``rate / (1 + GUARD)`` (95%); multi-part
texts reach less (two-part texts two thirds of that), the price of exactness without coordination.

A booking is one atomic ``UpdateItem``, with no read, so throughput is not limited by round trips:

* busy: ``SET tat = tat + :booked`` on condition ``tat BETWEEN :earliest AND :horizon``; the slot follows
  from the new ``tat`` (``UPDATED_NEW``);
* idle (``tat`` older than the text's lead time, or absent): ``SET tat = :now + :after`` on condition
  ``tat < :earliest``; the slot is now.

There is no burst credit after an idle spell. A sender whose wait would exceed ``max_wait`` books nothing
and is told to come back later (:class:`PacerBusy`), so a Lambda never sleeps through its own timeout.

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
# Slots are spaced for a rate 5% below the configured one, so that jitter of up to 50 ms between a slot and
# the moment SNS accepts the text cannot put more than the configured parts in any one-second window.
GUARD = 0.05
# A sender released later than this after its slot books another one (must stay below GUARD seconds).
LATE_TOLERANCE = 0.03


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

    def part_us(self) -> int:
        """Microseconds one part takes at the guarded rate."""
        return math.ceil(MICROS * (1 + GUARD) / self.parts_per_second)

    def cost_us(self, parts: int) -> int:
        """Microseconds of schedule a text of ``parts`` parts books: ``2p - 1`` parts' time."""
        if parts < 1:
            raise ValueError("a text has at least one part")
        return (2 * parts - 1) * self.part_us()

    def reserve(self, parts: int, *, max_wait: float | None = None) -> Reservation:
        """Book the earliest slot for ``parts`` parts: one conditional write, two when idle."""
        cost = self.cost_us(parts)
        lead = (parts - 1) * self.part_us()  # booked before the slot
        after = parts * self.part_us()  # booked from the slot on
        limit = self._max_wait_us if max_wait is None else min(self._max_wait_us, int(max_wait * MICROS))
        if limit < 0:
            raise PacerBusy(0.0)
        for _ in range(8):
            now = int(self._now() * MICROS)
            earliest = now - lead  # a schedule ending before this leaves room for the lead: idle
            horizon = now + limit - lead
            expires = now // MICROS + 86_400
            try:
                response = self._table.update_item(
                    Key=self._key,
                    UpdateExpression="SET tat = tat + :cost, expires_at = :exp",
                    ConditionExpression="tat BETWEEN :earliest AND :horizon",
                    ExpressionAttributeValues={
                        ":cost": cost,
                        ":earliest": earliest,
                        ":horizon": horizon,
                        ":exp": expires,
                    },
                    ReturnValues="UPDATED_NEW",
                )
                return Reservation(int(response["Attributes"]["tat"]) - after, cost)
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
            try:
                self._table.update_item(
                    Key=self._key,
                    UpdateExpression="SET tat = :next, expires_at = :exp",
                    ConditionExpression="attribute_not_exists(tat) OR tat < :earliest",
                    ExpressionAttributeValues={":next": now + after, ":earliest": earliest, ":exp": expires},
                )
                return Reservation(now, cost)
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
            # Neither idle nor within the horizon, unless another sender moved it in between: look.
            item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item") or {}
            tat = int(item.get("tat", 0))
            if tat > horizon:
                raise PacerBusy((tat + lead - now) / MICROS)
        raise PacerBusy(0.0)

    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        """Book a slot and sleep until it comes; returns the seconds slept.

        A sender that reaches its slot more than :data:`LATE_TOLERANCE` late (a slow write, a paused
        process) would crowd the texts booked after it, so it gives that slot up and books another.
        """
        waited = 0.0
        for _ in range(4):
            reservation = self.reserve(parts, max_wait=max_wait)
            wait = (reservation.slot_us - int(self._now() * MICROS)) / MICROS
            if wait > 0:
                self._sleep(wait)
                waited += wait
            late = (int(self._now() * MICROS) - reservation.slot_us) / MICROS
            if late <= LATE_TOLERANCE:
                return waited
        raise PacerBusy(0.0)
