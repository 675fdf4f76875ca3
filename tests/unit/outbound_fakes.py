"""In-memory fakes of the outbound pipeline's ports (no moto, no network).

:class:`FakeStore` is one small database behind every port that writes: it keeps each number's consent,
each number's caps record and each text's claim, and evaluates a transaction the way DynamoDB does (all
or nothing; at most 100 items; one operation per item; a reason code per item when it is cancelled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.core.models import Channel, Direction, MessageRecord
from shared.outbound.caps import CapRecord
from shared.outbound.pacing import PacerBusy
from shared.outbound.pipeline import NumberStates, OutboundPipeline, OutboundText, Outcome
from shared.outbound.ports import TransactionCancelled

NOW = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)  # 11:00 in New York


class FakeClock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclass
class FakeStore:
    opted_out: set[str] = field(default_factory=set)
    caps: dict[str, CapRecord] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)  # text key -> claim token
    sent: dict[str, str] = field(default_factory=dict)  # text key -> provider id
    log: dict[str, MessageRecord] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)  # phone_hmac -> sealed number
    transactions: list[list[dict[str, Any]]] = field(default_factory=list)
    batch_reads: list[dict[str, list[dict[str, Any]]]] = field(default_factory=list)
    forced: list[dict[int, str]] = field(default_factory=list)  # per next write: item index -> code
    fail_writes: list[Exception] = field(default_factory=list)  # raised by the next writes

    # -- BatchReader
    def get(self, requests: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        self.batch_reads.append({table: [dict(k) for k in keys] for table, keys in requests.items()})
        found: dict[str, list[dict[str, Any]]] = {}
        for table, keys in requests.items():
            for key in keys:
                pk = str(key["pk"])
                item: dict[str, Any] | None = None
                if table == "consent":
                    if pk in self.opted_out:
                        item = {"pk": pk, "status": "opted_out"}
                    elif pk in self.phones:
                        item = {"pk": pk, "status": "opted_in", "phone_ct": self.phones[pk]}
                elif table == "control" and pk.removeprefix("cap#") in self.caps:
                    record = self.caps[pk.removeprefix("cap#")]
                    item = {"pk": pk, "version": record.version, "sends": dict(record.sends)}
                if item is not None:
                    found.setdefault(table, []).append(item)
        return found

    # -- Transactions
    @staticmethod
    def item_key(item: Mapping[str, Any]) -> Any:
        return item.get("target")

    def write(self, items: Sequence[Mapping[str, Any]]) -> None:
        items = [dict(i) for i in items]
        self.transactions.append(items)
        if self.fail_writes:
            raise self.fail_writes.pop(0)
        if len(items) > 100:
            raise ValueError("ValidationException: more than 100 items")
        targets = [i["target"] for i in items]
        if len(set(targets)) != len(targets):
            raise ValueError("ValidationException: multiple operations on one item")
        forced = self.forced.pop(0) if self.forced else {}
        reasons = [forced.get(n) or self._check(item) for n, item in enumerate(items)]
        if any(code != "None" for code in reasons):
            raise TransactionCancelled(reasons)
        for item in items:
            self._apply(item)

    def _check(self, item: dict[str, Any]) -> str:
        kind, key = item["target"]
        ok = True
        if kind == "consent":
            ok = key not in self.opted_out
        elif kind == "cap" and "cap_version" in item:
            ok = self.caps.get(key, CapRecord(key)).version == item["cap_version"]
        elif kind == "text" and "claim" in item:
            ok = key not in self.claims and key not in self.sent
        elif kind == "text" and "mark_sent" in item:
            ok = self.claims.get(key) == item["mark_sent"]
        elif kind == "text" and "release" in item:
            ok = self.claims.get(key) == item["release"]
        elif kind == "log":
            ok = key not in self.log
        return "None" if ok else "ConditionalCheckFailed"

    def _apply(self, item: dict[str, Any]) -> None:
        kind, key = item["target"]
        if kind == "cap" and "cap_version" in item:
            self.caps[key] = CapRecord(key, item["cap_version"] + 1, dict(item["sends"]))
        elif kind == "cap" and "cap_release" in item:
            record = self.caps[key]
            sends = {k: v for k, v in record.sends.items() if k != item["cap_release"]}
            self.caps[key] = CapRecord(key, record.version + 1, sends)
        elif kind == "text" and "claim" in item:
            self.claims[key] = item["claim"]
        elif kind == "text" and "mark_sent" in item:
            self.sent[key] = item["provider_id"]
            del self.claims[key]
        elif kind == "text" and "release" in item:
            del self.claims[key]
        elif kind == "log":
            self.log[key] = item["record"]


class FakeConsent:
    def sendable_check(self, phone_hmac: str) -> dict[str, Any]:
        return {"target": ("consent", phone_hmac)}

    def state_key(self, phone_hmac: str) -> tuple[str, dict[str, Any]]:
        return "consent", {"pk": phone_hmac}

    def sendable_item(self, phone_hmac: str, item: Mapping[str, Any] | None) -> bool:
        return item is None or item.get("status") == "opted_in"

    def sealed_phone(self, phone_hmac: str, item: Mapping[str, Any] | None) -> tuple[str, Any] | None:
        return (f"consent#{phone_hmac}", item["phone_ct"]) if item and item.get("phone_ct") else None


class FakeCapLedger:
    def read(self, phone_hmac: str) -> CapRecord:
        raise AssertionError("the pipeline reads caps in its batch read")

    def record_key(self, phone_hmac: str) -> tuple[str, dict[str, Any]]:
        return "control", {"pk": f"cap#{phone_hmac}"}

    def from_item(self, phone_hmac: str, item: Mapping[str, Any] | None) -> CapRecord:
        if not item:
            return CapRecord(phone_hmac)
        return CapRecord(phone_hmac, int(item["version"]), dict(item["sends"]))

    def claim_item(self, record: CapRecord, token: str, now: datetime) -> dict[str, Any]:
        return {
            "target": ("cap", record.phone_hmac),
            "cap_version": record.version,
            "sends": record.recent(token, now),
        }

    def release_item(self, phone_hmac: str, token: str) -> dict[str, Any]:
        return {"target": ("cap", phone_hmac), "cap_release": token}


class FakeCipher:
    """Ciphertext is ``sealed:<ref>:<key>=<value>``; decrypting with another ref fails, as KMS would."""

    def __init__(self) -> None:
        self.decrypts = 0

    @staticmethod
    def seal(record_ref: str, key: str, value: str) -> str:
        return f"sealed:{record_ref}:{key}={value}"

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str:
        [(key, value)] = payload.items()
        return self.seal(record_ref, key, str(value))

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
        self.decrypts += 1
        prefix = f"sealed:{record_ref}:"
        if not ciphertext.startswith(prefix):
            raise ValueError("ciphertext bound to another record")
        key, _, value = ciphertext.removeprefix(prefix).partition("=")
        return {key: value}


class FakeSms:
    """Publishes; ``script[phone]`` lists what the next Publish calls to that number raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.attempts: list[str] = []
        self.script: dict[str, list[Exception]] = {}

    def send(self, to_e164: str, body: str, *, origination: str | None = None) -> str:
        self.attempts.append(to_e164)
        planned = self.script.get(to_e164)
        if planned:
            raise planned.pop(0)
        self.sent.append((to_e164, body))
        return f"sns-{len(self.sent)}"


class FakePacer:
    """``bookings`` lists every booking as (parts, max_wait): an int from :meth:`acquire` (a Publish tried
    again after throttling), a list (one entry per group) from :meth:`book`. ``busy`` scripts the next
    bookings' refusals, ``fit`` how many slots the next partial bookings get, ``late`` the next waits'
    lateness."""

    def __init__(self) -> None:
        self.bookings: list[tuple[int | list[int], float | None]] = []
        self.within: list[float | None] = []
        self.ahead: list[float] = []
        self.busy: list[bool] = []
        self.late: list[float] = []
        self.fit: list[int] = []  # the next partial bookings' slot counts
        self.waits: list[int] = []
        self._next = 0

    def acquire(self, parts: int, *, max_wait: float | None = None) -> float:
        self.bookings.append((parts, max_wait))
        if self.busy and self.busy.pop(0):
            raise PacerBusy(3.0)
        return 0.0

    def book(
        self,
        parts: Sequence[int],
        *,
        max_wait: float | None = None,
        within: float | None = None,
        ahead: float = 0.0,
        partial: bool = False,
    ) -> list[int]:
        self.bookings.append((list(parts), max_wait))
        self.within.append(within)
        self.ahead.append(ahead)
        if self.busy and self.busy.pop(0):
            raise PacerBusy(3.0)
        count = min(len(parts), self.fit.pop(0)) if self.fit and partial else len(parts)
        slots = list(range(self._next, self._next + count))
        self._next += count
        return slots

    def wait_for(self, slot: int) -> float:
        self.waits.append(slot)
        return self.late.pop(0) if self.late else 0.0


class FakeMessages:
    """The message log; ``items_per_record`` > 1 plays a log that writes a lookup item beside the record."""

    def __init__(self, items_per_record: int = 1) -> None:
        self.items_per_record = items_per_record

    def put_request(self, record: MessageRecord) -> dict[str, Any]:
        return {"target": ("log", record.message_id), "record": record}

    def items(self, record: MessageRecord) -> list[dict[str, Any]]:
        extra = [{"target": ("lookup", f"{record.message_id}#{n}")} for n in range(1, self.items_per_record)]
        return [self.put_request(record), *extra]


class FakeMessagesWithLookups(FakeMessages):
    def put_requests(self, record: MessageRecord) -> list[dict[str, Any]]:
        return self.items(record)


@dataclass
class FakeBook:
    """A message kind's bookkeeping: one claim item and one sent item per text, every call recorded."""

    store: FakeStore
    claim_item_count: int = 1
    sent_item_count: int = 1
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (method, text key, word/detail)

    def claim_items(self, text: OutboundText, token: str, now: datetime) -> list[dict[str, Any]]:
        first = {"target": ("text", text.key), "claim": token}
        padding = [{"target": ("pad", f"{text.key}#{n}")} for n in range(1, self.claim_item_count)]
        return [first, *padding]

    def claim_refused(self, text: OutboundText, failed: Sequence[int], now: datetime) -> Outcome:
        self.calls.append(("claim_refused", text.key, ",".join(map(str, failed))))
        return Outcome("claimed_elsewhere")

    def sent_items(
        self, text: OutboundText, token: str, provider_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        first = {"target": ("text", text.key), "mark_sent": token, "provider_id": provider_id}
        padding = [{"target": ("pad", f"{text.key}#s{n}")} for n in range(1, self.sent_item_count)]
        return [first, *padding]

    def record(self, text: OutboundText, body: str, provider_id: str, parts: int) -> MessageRecord:
        return MessageRecord(
            message_id=text.key,
            phone_hmac=text.phone_hmac,
            direction=Direction.OUTBOUND,
            kind=text.kind.name,
            channel=Channel.AWS_SMS,
            status="sent",
            created_at=NOW,
            body=body,
            provider_message_id=provider_id,
            segments=parts,
        )

    def stop(self, text: OutboundText, word: str, now: datetime, detail: str) -> Outcome:
        self.calls.append(("stop", text.key, f"{word}:{detail}"))
        return Outcome(word)

    def defer(self, text: OutboundText, until: datetime, now: datetime, reason: str) -> Outcome:
        self.calls.append(("defer", text.key, f"{reason}:{until.isoformat()}"))
        return Outcome(f"deferred_{reason}")

    def close(self, text: OutboundText, word: str, now: datetime, detail: str, token: str) -> None:
        self.calls.append(("close", text.key, f"{word}:{detail}"))
        self.store.claims.pop(text.key, None)

    def release(self, text: OutboundText, token: str, extra_items: list[dict[str, Any]]) -> None:
        self.calls.append(("release", text.key, str(len(extra_items))))
        self.store.write([{"target": ("text", text.key), "release": token}, *extra_items])


@dataclass
class Rig:
    store: FakeStore
    book: FakeBook
    sms: FakeSms
    pacer: FakePacer
    cipher: FakeCipher
    clock: FakeClock
    pipeline: OutboundPipeline


def rig(
    *,
    parts_per_second: float = 100.0,
    caps: Any = None,
    messages: FakeMessages | None = None,
    book: FakeBook | None = None,
    sleeps: list[float] | None = None,
) -> Rig:
    from shared.outbound.caps import FrequencyCaps

    store = FakeStore()
    consent, cap_ledger, cipher, sms, pacer, clock = (
        FakeConsent(),
        FakeCapLedger(),
        FakeCipher(),
        FakeSms(),
        FakePacer(),
        FakeClock(),
    )
    log = messages or FakeMessages()
    pipeline = OutboundPipeline(
        states=NumberStates(store, consent, cap_ledger),
        consent=consent,
        transactions=store,
        pacer=pacer,
        sender=sms,
        messages=log,
        clock=clock,
        cipher=cipher,
        cap_ledger=cap_ledger,
        caps=caps or FrequencyCaps(),
        parts_per_second=parts_per_second,
        log_items_per_message=log.items_per_record,
        throttle_backoff=(0.0, 0.0, 0.0),
        sleep=(sleeps if sleeps is not None else []).append,
    )
    return Rig(store, book or FakeBook(store), sms, pacer, cipher, clock, pipeline)
