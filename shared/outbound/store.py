"""DynamoDB adapters of the send path: the shared send schedule (pacing) and the caps ledger in the
ControlTable, and the batch reads and transactions the outbound pipeline works through."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.core.metrics import Counter, NullCounter
from shared.outbound.caps import DAY, WEEK, CapRecord
from shared.outbound.pacing import GUARD, LATE_TOLERANCE, MICROS, PacerBusy
from shared.outbound.ports import ReadIncomplete, TableKey, TransactionCancelled
from shared.runtime.aws_errors import is_condition_failure

BATCH_GET_LIMIT = 100  # keys per BatchGetItem request
BATCH_GET_ATTEMPTS = 5


# The furthest ahead a late sender books its next slot (a round trip slower than this is an outage).
MAX_AHEAD = 2.0


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

    def reserve(self, parts: int, *, max_wait: float | None = None, ahead: float = 0.0) -> Reservation:
        """Book the earliest slot for ``parts`` parts: one conditional write, two when idle.

        ``ahead`` (seconds) puts the slot at least that far after the request: a sender whose last
        booking's round trip made it late asks for a slot it can reach in time. A schedule that ends
        before ``now + ahead`` counts as idle, so the booked interval still never overlaps another.
        """
        [slot] = self.book([parts], max_wait=max_wait, ahead=ahead)
        return Reservation(slot, self.cost_us(parts))

    def book(
        self,
        parts: Sequence[int],
        *,
        max_wait: float | None = None,
        within: float | None = None,
        ahead: float = 0.0,
        partial: bool = False,
    ) -> list[int]:
        """Book consecutive slots for texts of ``parts`` parts each in one conditional write (two when
        idle); returns each text's slot (microseconds since the epoch), in order.

        The texts' intervals follow one another exactly as one booking each would, so the schedule's rule
        holds for every text. ``max_wait`` (and the pacer's own limit) bounds the wait for the first slot,
        ``within`` (seconds from now) the last one. Without ``partial`` the whole booking fits or nothing
        is booked (:class:`PacerBusy`). With ``partial`` the pacer books the longest leading run of texts
        that fits, and when the schedule is booked beyond its own limit but the first text could still go
        within ``within``, it sleeps until that slot is within reach and books then (so a sender holds
        its batch instead of handing it back and taking the next); only when not even the first text
        fits does it raise :class:`PacerBusy`.
        """
        if not parts:
            return []
        d = self.part_us()
        costs = [self.cost_us(p) for p in parts]
        offsets: list[int] = []  # each slot after the booked interval's start
        start = 0
        for p, cost in zip(parts, costs, strict=True):
            offsets.append(start + (p - 1) * d)
            start += cost
        lead = offsets[0]  # booked before the first slot
        own = self._max_wait_us if max_wait is None else min(self._max_wait_us, int(max_wait * MICROS))
        if own < 0:
            raise PacerBusy(0.0)
        deadline = None if within is None else int(self._now() * MICROS) + int(within * MICROS)
        ahead_us = max(0, int(min(ahead, MAX_AHEAD) * MICROS))

        def limit(k: int, clock: int) -> int:
            """How far off the first slot may be when the first ``k`` texts are booked."""
            if deadline is None:
                return own
            return min(own, deadline - clock - (offsets[k - 1] - lead))

        count = len(parts)
        for _ in range(8):
            clock = int(self._now() * MICROS)
            while count > 0 and limit(count, clock) < ahead_us:
                if not partial:
                    raise PacerBusy(ahead_us / MICROS)
                count -= 1
            if count == 0:
                raise PacerBusy(ahead_us / MICROS)
            total = sum(costs[:count])
            after = total - lead  # booked from the first slot on
            now = clock + ahead_us  # the earliest slot this sender can reach
            earliest = now - lead  # a schedule ending before this leaves room for the lead: idle
            horizon = clock + limit(count, clock) - lead
            expires = now // MICROS + 86_400
            try:
                response = self._table.update_item(
                    Key=self._key,
                    UpdateExpression="SET tat = tat + :cost, expires_at = :exp",
                    ConditionExpression="tat BETWEEN :earliest AND :horizon",
                    ExpressionAttributeValues={
                        ":cost": total,
                        ":earliest": earliest,
                        ":horizon": horizon,
                        ":exp": expires,
                    },
                    ReturnValues="UPDATED_NEW",
                )
                first = int(response["Attributes"]["tat"]) - after
                return [first + offset - lead for offset in offsets[:count]]
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
                return [now + offset - lead for offset in offsets[:count]]
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
            # Neither idle nor within the horizon, unless another sender moved it in between: look.
            item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item") or {}
            tat = int(item.get("tat", 0))
            if tat <= horizon:
                continue  # moved meanwhile: try again
            first = tat + lead  # the slot the first text would get now
            fitting = [k for k in range(count, 0, -1) if first - clock <= limit(k, clock)]
            if partial and fitting:
                count = fitting[0]
                continue
            if partial and deadline is not None and first <= deadline:
                self._sleep((first - own - clock) / MICROS)  # until the first slot is within reach
                continue
            raise PacerBusy((first - clock) / MICROS)
        raise PacerBusy(0.0)

    def wait_for(self, slot: int) -> float:
        """Sleep until ``slot`` (from :meth:`book`); returns 0.0 when it was reached in time, else the
        seconds it was late (more than :data:`LATE_TOLERANCE`: its text must not go on it, book again)."""
        wait = (slot - int(self._now() * MICROS)) / MICROS
        if wait > 0:
            self._sleep(wait)
        late = (int(self._now() * MICROS) - slot) / MICROS
        return late if late > LATE_TOLERANCE else 0.0

    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        """Book a slot and sleep until it comes; returns the seconds slept.

        A sender that reaches its slot more than :data:`LATE_TOLERANCE` late (a slow write, a paused
        process) would crowd the texts booked after it, so it gives that slot up and books another.
        """
        waited = 0.0
        ahead = 0.0
        for _ in range(4):
            asked = self._now()
            reservation = self.reserve(parts, max_wait=max_wait, ahead=ahead)
            wait = (reservation.slot_us - int(self._now() * MICROS)) / MICROS
            if wait > 0:
                self._sleep(wait)
                waited += wait
            late = (int(self._now() * MICROS) - reservation.slot_us) / MICROS
            if late <= LATE_TOLERANCE:
                return waited
            # The booking itself took longer than the tolerance (slow storage): book the next slot at
            # least twice that round trip ahead, so it can be reached in time.
            ahead = min(MAX_AHEAD, max(ahead, 2 * (self._now() - asked)))
        raise PacerBusy(0.0)


class DynamoCapLedger:
    """The caps ledger in the ControlTable: ``pk = cap#<phone_hmac>``, ``sk = automated``."""

    def __init__(self, table: Any) -> None:
        self._table = table

    @staticmethod
    def key(phone_hmac: str) -> dict[str, str]:
        return {"pk": f"cap#{phone_hmac}", "sk": "automated"}

    def read(self, phone_hmac: str) -> CapRecord:
        item = self._table.get_item(Key=self.key(phone_hmac), ConsistentRead=True).get("Item")
        return self.from_item(phone_hmac, item)

    def record_key(self, phone_hmac: str) -> TableKey:
        return self._table.name, self.key(phone_hmac)

    def from_item(self, phone_hmac: str, item: Mapping[str, Any] | None) -> CapRecord:
        if not item:
            return CapRecord(phone_hmac)
        sends = {str(k): str(v) for k, v in (item.get("sends") or {}).items()}
        return CapRecord(phone_hmac, int(item.get("version", 0)), sends)

    def claim_item(self, record: CapRecord, token: str, now: datetime) -> dict[str, Any]:
        condition = "attribute_not_exists(pk)" if record.version == 0 else "version = :v"
        put: dict[str, Any] = {
            "TableName": self._table.name,
            "Item": {
                **self.key(record.phone_hmac),
                "version": record.version + 1,
                "sends": record.recent(token, now),
                # TTL: nothing in it matters once its newest text is a week old.
                "expires_at": int((now + WEEK + DAY).timestamp()),
            },
            "ConditionExpression": condition,
        }
        if record.version:
            put["ExpressionAttributeValues"] = {":v": record.version}
        return {"Put": put}

    def release_item(self, phone_hmac: str, token: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": self.key(phone_hmac),
                "UpdateExpression": "REMOVE sends.#t SET version = version + :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#t": token},
                "ExpressionAttributeValues": {":one": 1},
            }
        }


class DynamoBatchReader:
    """Consistent ``BatchGetItem`` through a DynamoDB resource client (native Python values in and out).

    Requests are split at :data:`BATCH_GET_LIMIT` keys; ``UnprocessedKeys`` (throttled keys DynamoDB did
    not read) are read again after a short back-off, each such round counted on ``unprocessed_rounds`` and
    on the counter; keys still unprocessed after :data:`BATCH_GET_ATTEMPTS` raise :class:`ReadIncomplete`.
    """

    def __init__(
        self,
        client: Any,
        *,
        counter: Counter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._counter = counter or NullCounter()
        self._sleep = sleep
        self.unprocessed_rounds = 0

    def get(self, requests: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {table: [] for table in requests}
        flat: list[tuple[str, dict[str, Any]]] = []
        for table, keys in requests.items():
            seen: set[tuple[tuple[str, str], ...]] = set()
            for key in keys:
                marker = tuple(sorted((k, str(v)) for k, v in key.items()))
                if marker not in seen:  # DynamoDB refuses a request that names a key twice
                    seen.add(marker)
                    flat.append((table, dict(key)))
        for start in range(0, len(flat), BATCH_GET_LIMIT):
            request: dict[str, Any] = {}
            for table, key in flat[start : start + BATCH_GET_LIMIT]:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
            for attempt in range(BATCH_GET_ATTEMPTS):
                response = self._client.batch_get_item(RequestItems=request)
                for table, items in response.get("Responses", {}).items():
                    found.setdefault(table, []).extend(dict(item) for item in items)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self.unprocessed_rounds += 1
                self._counter.count("BatchGetUnprocessedKeys", sum(len(r["Keys"]) for r in request.values()))
                if attempt + 1 < BATCH_GET_ATTEMPTS:
                    self._sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise ReadIncomplete("batch read left keys unprocessed after retries")
        return found


class DynamoTransactions:
    """``TransactWriteItems`` through a DynamoDB resource client; a cancellation becomes
    :class:`TransactionCancelled` with the reason code of every item."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @staticmethod
    def item_key(item: Mapping[str, Any]) -> Hashable | None:
        """The table item a ``TransactWriteItems`` item touches, as far as its partition key tells
        (conservative: two items on one partition key count as the same); None when it cannot tell."""
        for operation in ("Update", "ConditionCheck", "Delete", "Put"):
            body = item.get(operation)
            if not isinstance(body, Mapping):
                continue
            key = body.get("Item" if operation == "Put" else "Key") or {}
            for name in ("pk", "id"):
                if name in key:
                    return (str(body.get("TableName")), name, str(key[name]))
            return None
        return None

    def write(self, items: Sequence[Mapping[str, Any]]) -> None:
        try:
            self._client.transact_write_items(TransactItems=list(items))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons") or []]
            raise TransactionCancelled(reasons) from exc
