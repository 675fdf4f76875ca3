"""In-memory fakes of the domain ports, for unit tests of services without moto or a network.

Each fake keeps the behaviour its port's docstring promises (and the DynamoDB adapter implements), not
just its signature: the consent ledger is idempotent per event id, never lets an older event overturn a
newer state, repairs an unreadable state with an opt-out and refuses a clinic system's opt-in over it; the
message log refuses a second record at the same id and position. Faults are injected explicitly
(:meth:`FakeSmsSender.fail_next`, :meth:`FakeConsentLedger.damage`), so a test says what goes wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.core.clock import CLOCK_SKEW, EARLIEST, iso
from shared.core.errors import AlreadyRecorded, ClinicTextError, Conflict
from shared.core.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    InboundText,
    MessageRecord,
    RoutedReply,
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to open a connection fails the test: unit tests run on fakes only."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a unit test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield


class FakeBlindIndex:
    """A keyed hash like the real blind index (HMAC-SHA256 with a test key), so equal numbers match."""

    def __init__(self, key: bytes = b"test-blind-index-key") -> None:
        self._key = key

    def phone(self, e164: str) -> str:
        return hmac.new(self._key, e164.encode(), hashlib.sha256).hexdigest()


class FakeCounter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


def _plausible(at: datetime, recorded_at: datetime) -> bool:
    return EARLIEST <= at <= recorded_at + CLOCK_SKEW


class FakeConsentLedger:
    """The consent ledger in memory, with the rules of ``shared.consent.store.DynamoConsentLedger``."""

    def __init__(self) -> None:
        self._states: dict[str, ConsentState] = {}
        self._events: dict[str, list[ConsentEvent]] = {}
        self.numbers: dict[str, str] = {}  # phone_hmac -> number (the real ledger keeps it encrypted)
        self.unavailable = False  # every call raises, like a table that cannot be reached
        self.state_reads = 0  # state() calls (one GetItem each on the real ledger)
        self.batch_reads = 0  # states() calls (one BatchGetItem each, up to 100 numbers)

    def damage(self, phone_hmac: str) -> None:
        """Make the number's stored state unreadable (a damaged item), as the real ledger reports it."""
        current = self._states.get(phone_hmac)
        version = current.version if current else 1
        self._states[phone_hmac] = ConsentState(
            phone_hmac=phone_hmac, status=ConsentStatus.UNREADABLE, version=version
        )

    def _check_available(self) -> None:
        if self.unavailable:
            raise ClinicTextError("consent ledger unavailable (injected)")

    def state(self, phone_hmac: str) -> ConsentState:
        self._check_available()
        self.state_reads += 1
        return self._state(phone_hmac)

    def _state(self, phone_hmac: str) -> ConsentState:
        return self._states.get(phone_hmac) or ConsentState(
            phone_hmac=phone_hmac, status=ConsentStatus.UNKNOWN
        )

    def states(self, phone_hmacs: Iterable[str]) -> dict[str, ConsentState]:
        self._check_available()
        numbers = list(dict.fromkeys(phone_hmacs))
        self.batch_reads += -(-len(numbers) // 100)  # one BatchGetItem per 100 numbers
        return {h: self._state(h) for h in numbers}

    def events(self, phone_hmac: str) -> list[ConsentEvent]:
        self._check_available()
        return sorted(self._events.get(phone_hmac, []), key=lambda e: (e.at, e.recorded_at, e.event_id))

    def record(self, event: ConsentEvent, phone_e164: str) -> ConsentState:
        self._check_available()
        current = self._state(event.phone_hmac)
        unreadable = current.status is ConsentStatus.UNREADABLE
        opt_out = event.action is ConsentAction.OPT_OUT
        if unreadable and not (opt_out or event.source is ConsentSource.KEYWORD):
            raise Conflict("this number's consent record cannot be read; nothing was recorded")
        history = self._events.setdefault(event.phone_hmac, [])
        if any(e.event_id == event.event_id for e in history):
            if not unreadable:
                return current  # recording the same event again is idempotent
        else:
            history.append(event)
        newer = (
            unreadable
            or current.updated_at is None
            or event.at >= current.updated_at
            or (opt_out and not _plausible(current.updated_at, event.recorded_at))
            or (opt_out and not _plausible(event.at, event.recorded_at))
        )
        if not newer:
            return current
        state = ConsentState(
            phone_hmac=event.phone_hmac,
            status=ConsentStatus.OPTED_IN
            if event.action is ConsentAction.OPT_IN
            else ConsentStatus.OPTED_OUT,
            updated_at=event.at,
            last_event_id=event.event_id,
            last_source=event.source,
            carrier_readmitted_at=event.recorded_at
            if event.carrier_sync == "readmitted"
            else current.carrier_readmitted_at,
            version=current.version + 1,
        )
        self._states[event.phone_hmac] = state
        self.numbers[event.phone_hmac] = phone_e164
        return state


class FakeMessageLog:
    """The message log in memory: one record per (thread, position, id), newest first in a thread."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str, str], MessageRecord] = {}

    @staticmethod
    def _key(record: MessageRecord) -> tuple[str, str, str]:
        return record.phone_hmac, iso(record.thread_at or record.created_at), record.message_id

    def append(self, record: MessageRecord) -> None:
        key = self._key(record)
        if key in self._records:
            raise AlreadyRecorded(f"message {record.message_id} is recorded already")
        self._records[key] = record

    def thread(self, phone_hmac: str, *, limit: int = 50) -> list[MessageRecord]:
        keys = sorted((k for k in self._records if k[0] == phone_hmac), reverse=True)
        return [self._records[k] for k in keys[:limit]]

    def recorded(self, phone_hmac: str, message_id: str, at: datetime) -> bool:
        return (phone_hmac, iso(at), message_id) in self._records

    def put_requests(self, record: MessageRecord) -> list[dict[str, Any]]:
        return [{"Put": {"Item": record.model_dump()}}]

    def all(self) -> list[MessageRecord]:
        return list(self._records.values())


@dataclass
class SentText:
    to: str
    body: str
    origination: str | None


@dataclass
class FakeSmsSender:
    """Records every text it is asked to send; :meth:`fail_next` makes the next sends raise."""

    sent: list[SentText] = field(default_factory=list)
    _failures: list[Exception] = field(default_factory=list)
    attempts: int = 0

    def fail_next(self, *errors: Exception) -> None:
        self._failures.extend(errors)

    def send(self, to_e164: str, body: str, *, origination: str | None = None) -> str:
        self.attempts += 1
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(SentText(to_e164, body, origination))
        return f"provider-{len(self.sent)}"

    def to(self, e164: str) -> list[str]:
        return [text.body for text in self.sent if text.to == e164]


@dataclass
class FakeCarrierOptOutList:
    """AWS's own opt-out list: numbers on it, and every re-admission asked for."""

    opted_out: set[str] = field(default_factory=set)
    readmitted: list[str] = field(default_factory=list)
    broken: bool = False

    def is_opted_out(self, e164: str) -> bool:
        if self.broken:
            raise ClinicTextError("carrier list unavailable (injected)")
        return e164 in self.opted_out

    def readmit(self, e164: str) -> None:
        self.opted_out.discard(e164)
        self.readmitted.append(e164)


@dataclass
class FakeReminderRouter:
    """Understands reminder answers by exact word: ``answers`` maps a body to the routed reply."""

    answers: dict[str, RoutedReply] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def route(self, text: InboundText, phone_hmac: str) -> RoutedReply | None:
        self.seen.append(phone_hmac)
        return self.answers.get(text.body.strip().upper())


class FakeContactCipher:
    """A PHI cipher whose ciphertext is the payload's JSON bound to its record reference; opening it with
    another reference, or an altered ciphertext, raises IntegrityError as the envelope cipher does."""

    def __init__(self) -> None:
        self.decrypts = 0

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str:
        import json

        return "ct1:" + json.dumps({"ref": record_ref, "payload": payload}, sort_keys=True)

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
        import json

        from shared.core.errors import IntegrityError

        self.decrypts += 1
        try:
            sealed = json.loads(ciphertext.removeprefix("ct1:")) if ciphertext.startswith("ct1:") else None
        except ValueError:
            sealed = None
        if not isinstance(sealed, dict) or sealed.get("ref") != record_ref:
            raise IntegrityError("the ciphertext does not open for this record")
        return dict(sealed["payload"])


class FakeConversationStore:
    """The staff side of ``shared.inbox.store.DynamoConversationStore`` in memory: get, find, a
    department's list (newest activity first, one page), version-checked save and create, summaries."""

    def __init__(self) -> None:
        self.records: dict[str, Any] = {}  # conversation id -> InboxConversation

    def get(self, conversation_id: str) -> Any:
        return self.records.get(conversation_id)

    def message_refs(self, conversation_id: str) -> dict[str, Any]:
        return {}

    def find(self, phone_hmac: str, department: str) -> Any:
        for record in self.records.values():
            c = record.conversation
            if c.phone_hmac == phone_hmac and c.department == department:
                return record
        return None

    def for_number(self, phone_hmac: str) -> list[Any]:
        return [r for r in self.records.values() if r.conversation.phone_hmac == phone_hmac]

    def save(self, record: Any, *, expected_version: int) -> None:
        from shared.core.errors import ConcurrentChange

        current = self.records.get(record.conversation.conversation_id)
        if current is None or current.conversation.version != expected_version:
            raise ConcurrentChange("the conversation changed")
        self.records[record.conversation.conversation_id] = record

    def create(self, record: Any) -> None:
        from shared.core.errors import ConcurrentChange

        c = record.conversation
        if self.find(c.phone_hmac, c.department) is not None:
            raise ConcurrentChange("a conversation with this number and department exists already")
        self.records[c.conversation_id] = record

    def list_department(
        self, department: str, *, status: Any = None, limit: int = 25, cursor: str | None = None
    ) -> Any:
        from shared.inbox.ports import Page

        found = [
            r
            for r in self.records.values()
            if r.conversation.department == department and (status is None or r.conversation.status is status)
        ]
        found.sort(
            key=lambda r: (r.conversation.last_activity_at, r.conversation.conversation_id), reverse=True
        )
        return Page(found[:limit], None)

    def summaries(self, department: str, *, since: datetime) -> list[Any]:
        from shared.inbox.sla import ConversationSummary

        found = []
        for record in self.records.values():
            c = record.conversation
            if c.department != department or c.last_activity_at < since:
                continue
            started = c.created_at if c.started_by_staff else c.first_inbound_at
            if started is None:
                continue
            found.append(
                ConversationSummary(
                    department,
                    started,
                    None if c.started_by_staff else c.first_response_at,
                    c.closed_at,
                    staff_started=c.started_by_staff,
                )
            )
        return found


def _conforms() -> None:  # checked by mypy (`mypy tests/fakes.py`): each fake satisfies its port
    from shared.consent.ports import ConsentLedger
    from shared.core.metrics import Counter
    from shared.crypto.ports import BlindIndex
    from shared.inbound.ports import ConversationRouter
    from shared.messaging.ports import MessageLog
    from shared.outbound.ports import CarrierOptOutList, SmsSender

    _ledger: ConsentLedger = FakeConsentLedger()
    _log: MessageLog = FakeMessageLog()
    _sender: SmsSender = FakeSmsSender()
    _carrier: CarrierOptOutList = FakeCarrierOptOutList()
    _router: ConversationRouter = FakeReminderRouter()
    _index: BlindIndex = FakeBlindIndex()
    _counter: Counter = FakeCounter()
    from shared.audit.ports import AuditLog

    _audit: AuditLog = FakeAuditLog()


class FakeAuditLog:
    """The audit trail in memory, chained exactly like the DynamoDB store (``seal`` from the domain)."""

    def __init__(self, clock: Any = None) -> None:
        from shared.core.clock import FixedClock

        self.records: list[Any] = []  # AuditRecord, in position order; tests may tamper with it
        self._head: Any = None
        self._clock = clock or FixedClock(datetime(2026, 11, 24, 15, 30, tzinfo=UTC))

    def append(self, event: Any) -> Any:
        from shared.audit.domain import EMPTY_HEAD, ChainHead, seal

        head = self._head or EMPTY_HEAD
        record = seal(event, sequence=head.sequence + 1, previous_hash=head.hash, at=self._clock.now())
        self.records.append(record)
        self._head = ChainHead(record.sequence, record.hash)
        return record

    def head(self) -> Any:
        from shared.audit.domain import EMPTY_HEAD

        return self._head or EMPTY_HEAD

    def chain(self, *, after: int = 0, limit: int = 1000) -> list[Any]:
        return list(self.chain_page(after_position=after, limit=limit).records)

    def chain_page(self, *, after_position: int = 0, limit: int = 1000) -> Any:
        """Positions are list indexes + 1 (the store's keys), whatever the records' own fields say."""
        from shared.audit.ports import ChainPage

        stored = list(enumerate(self.records, start=1))[after_position : after_position + limit]
        return ChainPage(tuple(r for _, r in stored), tuple(p for p, _ in stored))

    def _page(self, keep: Any, limit: int) -> Any:
        from shared.audit.ports import AuditPage

        found = [r for r in reversed(self.records) if keep(r)]
        return AuditPage(tuple(found[:limit]), None)

    def by_conversation(
        self,
        conversation_id: str,
        *,
        start: Any = None,
        end: Any = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Any:
        return self._page(lambda r: r.conversation_id == conversation_id and _within(r, start, end), limit)

    def by_user(
        self, user_id: str, *, start: Any = None, end: Any = None, limit: int = 50, cursor: str | None = None
    ) -> Any:
        return self._page(lambda r: r.user_id == user_id and _within(r, start, end), limit)

    def by_period(self, start: Any, end: Any, *, limit: int = 50, cursor: str | None = None) -> Any:
        return self._page(lambda r: _within(r, start, end), limit)


def _within(record: Any, start: Any, end: Any) -> bool:
    at = record.at_instant
    return (start is None or at >= start) and (end is None or at < end)
