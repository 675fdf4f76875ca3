"""The one outbound path: every text, whatever its kind, passes the same rules in the same order.

A caller hands over texts (:class:`OutboundText`) with their kind's bookkeeping (:class:`KindBook`): a
reminder's reminder and appointment items, a staff reply's idempotency record. Per call:

1. **One batch read** of every recipient number's state: the consent STATE item and the caps record
   (:class:`NumberStates`, one ``BatchGetItem``).
2. **Groups.** The texts are split into groups that one transaction each can claim and mark sent: a
   number at most once per group (one transaction may not touch the consent or cap item twice), at most
   :data:`MAX_TRANSACTION_ITEMS` items in the claim and in the mark-sent transaction, and no more parts
   than the origination number sends in about a second (:func:`plan_groups`). Consent is checked in the
   claim, so every text of a group goes out within about a second of its consent check (at 1 part/s a
   group is one text; at 100 parts/s a whole SQS batch of ten).
3. **Rounds** (:func:`plan_rounds`): consecutive groups that hold each number at most once (a whole SQS
   batch, unless it holds two texts to one number). Per round: the **policy** of each text's kind (a
   number that is not sendable is stopped; caps and quiet hours hold automated kinds, deferring them,
   or closing them when they could only go after their ``not_after``), then **one pacer booking** of one
   slot per group, consecutive (:meth:`SendPacer.book`, one conditional write: the first slot within the
   pacer's wait limit, the last within the invocation's time less :data:`BOOKKEEPING_RESERVE`).
4. Per group, at its slot: quiet hours again, **one claim transaction** (consent ``ConditionCheck``, the
   kind's claim, the cap record) that also carries the **previous group's mark-sent** (the kind's sent
   state plus the message log record, body encrypted) when both fit in one transaction (at most
   :data:`MAX_TRANSACTION_ITEMS` items, no item twice, as :meth:`Transactions.item_key` tells), then
   **Publish** once per claimed text. The last group's mark-sent, and one that cannot share a claim, is
   its own transaction. So at 1 part/s a text costs one transaction, and a batch one booking.
5. A cancelled claim is classified per item from its cancellation reasons, without reading again: an
   opt-out stops the text, a kind condition closes it as the kind says, a cap or a conflicting writer
   sends it back to the queue; the texts whose items were all fine are claimed again, once. When it
   carried a mark-sent, that part is written again alone at once, whichever part failed (never lost);
   when only that part failed, the claim is tried again as it was.

A slot reached more than the pacer's tolerance late (a slow round trip, a paused process) is given up:
the waiting mark-sent is written, and the round's remaining groups book again, at least twice that late
ahead (a few times at most, then they come back later). A booking takes as many of the round's groups
as fit in the invocation (first waiting, when the schedule is booked past the pacer's own limit, for it
to come within reach if the first group can still go in time); the groups left without a slot, or all
of them when none fits, go back to the queue unclaimed.

Publish is one HTTP attempt per try. A throttled Publish (nothing was accepted) books a new slot and
tries again under the same claim, a few times, then gives the claim and its cap allowance back and the
text is retried later. An unknown outcome closes the text ``unconfirmed`` (never resent); a rejection
closes it ``rejected``. A text whose mark-sent fails, or whose process dies before its mark-sent is
written (with the next group's claim, about a second later at 1 part/s), stays claimed: its redelivery
finds the claim and, once the claim is old, closes it ``unconfirmed`` (the kind's bookkeeping decides).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from shared.core.clock import Clock
from shared.core.errors import SendOutcomeUnknown, SendRejected, SendThrottled
from shared.core.metrics import Counter, NullCounter
from shared.core.models import MessageRecord
from shared.core.segments import analyze
from shared.crypto.ports import PhiCipher
from shared.outbound.caps import CapRecord, FrequencyCaps
from shared.outbound.kinds import MessageKind
from shared.outbound.pacing import PacerBusy
from shared.outbound.ports import (
    BatchReader,
    CapLedger,
    ConsentCheck,
    SendPacer,
    SmsSender,
    TransactionCancelled,
    Transactions,
)
from shared.outbound.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours

MAX_TRANSACTION_ITEMS = 100  # DynamoDB TransactWriteItems
# Back-off before each new attempt after the provider throttled a Publish (seconds).
THROTTLE_BACKOFF = (0.2, 0.5, 1.0)
# Seconds of an invocation kept for claim, Publish (with its throttle retries) and bookkeeping.
BOOKKEEPING_RESERVE = 15.0
# A group's Publishes go out within about this long of its consent check.
CONSENT_WINDOW_SECONDS = 1.0

# What happened to a text (status words shared with the kinds' records).
SENT = "sent"
SKIPPED_OPTED_OUT = "skipped_opted_out"
SKIPPED_QUIET_HOURS = "skipped_quiet_hours"
SKIPPED_FREQUENCY_CAP = "skipped_frequency_cap"
DEFERRED_QUIET_HOURS = "deferred_quiet_hours"
DEFERRED_FREQUENCY_CAP = "deferred_frequency_cap"
REJECTED = "rejected"
UNCONFIRMED = "unconfirmed"
NO_NUMBER = "no_number"

_FINE = ("None", "", None)


class RetryLater(Exception):
    """The text should come back later (throttled, or another delivery holds a fresh claim)."""


@dataclass(frozen=True)
class SealedBody:
    """A body kept encrypted until the moment it is sent: ``cipher.decrypt(record_ref, ciphertext)[key]``."""

    record_ref: str
    ciphertext: str
    key: str = "body"


@dataclass
class OutboundText:
    """One text on its way out.

    ``key`` is the text's idempotency key (unique per text; the kind derives its records from it).
    ``phone`` may be None: the number is then taken from the consent state, which holds it encrypted.
    ``zone`` is the recipient's time zone (required by kinds held by quiet hours); ``not_after`` is the
    moment after which a held text is pointless (a reminder: the appointment start). ``ref`` is the
    kind's own handle on its records.
    """

    key: str
    kind: MessageKind
    phone_hmac: str
    body: str | SealedBody
    phone: str | None = None
    zone: ZoneInfo | None = None
    not_after: datetime | None = None
    ref: Any = None
    department: str | None = None

    @property
    def parts(self) -> int:
        return analyze(self.body).segments if isinstance(self.body, str) else 1


@dataclass(frozen=True)
class Outcome:
    """What became of one text: a status word, and whether the message should come back later."""

    word: str
    retry: bool = False
    detail: str = ""


def retry(detail: str) -> Outcome:
    return Outcome("retry_later", retry=True, detail=detail)


class KindBook(Protocol):
    """A message kind's own records, written in the pipeline's transactions or beside them."""

    claim_item_count: int  # items :meth:`claim_items` returns per text
    sent_item_count: int  # items :meth:`sent_items` returns per text

    def claim_items(self, text: OutboundText, token: str, now: datetime) -> list[dict[str, Any]]:
        """The items that claim ``text`` (put after the consent check in the claim transaction)."""
        ...

    def claim_refused(self, text: OutboundText, failed: Sequence[int], now: datetime) -> Outcome:
        """What a claim whose own items ``failed`` (indexes into :meth:`claim_items`) means."""
        ...

    def sent_items(
        self, text: OutboundText, token: str, provider_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        """The items that mark ``text`` sent (with the log record, in one transaction)."""
        ...

    def record(self, text: OutboundText, body: str, provider_id: str, parts: int) -> MessageRecord:
        """The message log record of a sent text."""
        ...

    def stop(self, text: OutboundText, word: str, now: datetime, detail: str) -> Outcome:
        """Close a text that was not claimed, for good (opted out, held past its ``not_after``)."""
        ...

    def defer(self, text: OutboundText, until: datetime, now: datetime, reason: str) -> Outcome:
        """Hold a text that was not claimed until ``until`` (caps, quiet hours)."""
        ...

    def close(self, text: OutboundText, word: str, now: datetime, detail: str, token: str) -> None:
        """Close a claimed text without sending (again): rejected, unconfirmed."""
        ...

    def release(self, text: OutboundText, token: str, extra_items: list[dict[str, Any]]) -> None:
        """Give a claim back (nothing was sent), with ``extra_items`` (the cap allowance) in the same
        transaction."""
        ...


@dataclass
class NumberState:
    """What the send path knows of one number: its consent, its caps record, the number itself sealed."""

    sendable: bool
    caps: CapRecord
    sealed_phone: tuple[str, Any] | None = None


class NumberStates:
    """Reads many numbers' consent and caps in one batch read."""

    def __init__(self, reader: BatchReader, consent: ConsentCheck, cap_ledger: CapLedger | None) -> None:
        self._reader = reader
        self._consent = consent
        self._caps = cap_ledger

    def read(self, phone_hmacs: Iterable[str]) -> dict[str, NumberState]:
        numbers = list(dict.fromkeys(phone_hmacs))
        if not numbers:
            return {}
        requests: dict[str, list[dict[str, Any]]] = {}
        for phone_hmac in numbers:
            keys = [self._consent.state_key(phone_hmac)]
            if self._caps is not None:
                keys.append(self._caps.record_key(phone_hmac))
            for table, key in keys:
                requests.setdefault(table, []).append(key)
        found = self._reader.get(requests)
        by_key: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
        for table, table_keys in requests.items():
            names = tuple(table_keys[0])
            for item in found.get(table, []):
                if all(name in item for name in names):
                    by_key[(table, _frozen({name: item[name] for name in names}))] = item
        states: dict[str, NumberState] = {}
        for phone_hmac in numbers:
            table, key = self._consent.state_key(phone_hmac)
            consent_item = by_key.get((table, _frozen(key)))
            caps = CapRecord(phone_hmac)
            if self._caps is not None:
                cap_table, cap_key = self._caps.record_key(phone_hmac)
                caps = self._caps.from_item(phone_hmac, by_key.get((cap_table, _frozen(cap_key))))
            states[phone_hmac] = NumberState(
                sendable=self._consent.sendable_item(phone_hmac, consent_item),
                caps=caps,
                sealed_phone=self._consent.sealed_phone(phone_hmac, consent_item),
            )
        return states


def _frozen(key: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, str(value)) for name, value in key.items()))


def plan_groups(
    texts: Sequence[OutboundText],
    *,
    max_parts: int,
    claim_items: Callable[[OutboundText], int],
    sent_items: Callable[[OutboundText], int],
    max_items: int = MAX_TRANSACTION_ITEMS,
) -> list[list[int]]:
    """Split texts (by index) into groups, keeping their order within a number.

    A group holds each number at most once, at most ``max_items`` claim items and sent items, and at most
    ``max_parts`` parts (a single text with more parts than that is a group of its own). A number's second
    text goes into a later group than its first.
    """
    groups: list[list[int]] = []
    loads: list[tuple[int, int, int]] = []  # parts, claim items, sent items
    numbers: list[set[str]] = []
    last_group: dict[str, int] = {}
    for index, text in enumerate(texts):
        parts, claim, sent = text.parts, claim_items(text), sent_items(text)
        if claim > max_items or sent > max_items:
            raise ValueError(f"one {text.kind.name} text needs more than {max_items} transaction items")
        start = last_group.get(text.phone_hmac, -1) + 1
        for g in range(start, len(groups)):
            p, c, s = loads[g]
            if p + parts <= max_parts and c + claim <= max_items and s + sent <= max_items:
                break
        else:
            groups.append([])
            loads.append((0, 0, 0))
            numbers.append(set())
            g = len(groups) - 1
        p, c, s = loads[g]
        groups[g].append(index)
        loads[g] = (p + parts, c + claim, s + sent)
        numbers[g].add(text.phone_hmac)
        last_group[text.phone_hmac] = g
    return groups


def group_parts(parts_per_second: float, window: float = CONSENT_WINDOW_SECONDS) -> int:
    """The parts a group may hold: what the number sends in about ``window`` seconds (at least one)."""
    return max(1, int(parts_per_second * window))


def plan_rounds(texts: Sequence[OutboundText], groups: Sequence[list[int]]) -> list[list[list[int]]]:
    """Consecutive groups that together hold each number at most once: one pacer booking each. A
    number's next text starts a new round, so its policy sees what the earlier claim took (caps)."""
    rounds: list[list[list[int]]] = []
    seen: set[str] = set()
    for group in groups:
        numbers = {texts[i].phone_hmac for i in group}
        if not rounds or numbers & seen:
            rounds.append([])
            seen = set()
        rounds[-1].append(group)
        seen |= numbers
    return rounds


@dataclass
class _Ready:
    index: int
    text: OutboundText
    body: str
    phone: str

    @property
    def parts(self) -> int:
        return analyze(self.body).segments


@dataclass
class _Claimed:
    index: int
    text: OutboundText
    token: str
    body: str
    phone: str


@dataclass
class _Sent:
    claimed: _Claimed
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Carry:
    """The mark-sent of the group published last, not yet written: it goes with the next group's claim
    transaction when it fits, else alone; never dropped."""

    entries: list[_Sent] = field(default_factory=list)

    def take(self) -> list[_Sent]:
        entries, self.entries = self.entries, []
        return entries


Done = Callable[[int, Outcome], None]

# A round's slots are booked again at most this many times when one is reached late.
MAX_REBOOKINGS = 3


class OutboundPipeline:
    """The one send path (see the module docstring). Build it with the ports; call :meth:`send`."""

    def __init__(
        self,
        *,
        states: NumberStates,
        consent: ConsentCheck,
        transactions: Transactions,
        pacer: SendPacer,
        sender: SmsSender,
        messages: Any,
        clock: Clock,
        cipher: PhiCipher | None = None,
        cap_ledger: CapLedger | None = None,
        caps: FrequencyCaps | None = None,
        quiet_hours: QuietHours = DEFAULT_QUIET_HOURS,
        origination: str | None = None,
        parts_per_second: float = 1.0,
        log_items_per_message: int | None = None,
        throttle_backoff: Sequence[float] = THROTTLE_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        counter: Counter | None = None,
        max_items: int = MAX_TRANSACTION_ITEMS,
    ) -> None:
        self._states = states
        self._consent = consent
        self._transactions = transactions
        self._pacer = pacer
        self._sender = sender
        self._messages = messages
        self._clock = clock
        self._cipher = cipher
        self._cap_ledger = cap_ledger
        self._caps = caps if cap_ledger is not None else None
        self._quiet_hours = quiet_hours
        self._origination = origination or None
        self._max_parts = group_parts(parts_per_second)
        # The message log may write a record as more than one item (a lookup by provider id, say).
        self._log_items = log_items_per_message or (2 if hasattr(messages, "put_requests") else 1)
        self._backoff = tuple(throttle_backoff)
        self._sleep = sleep
        self._monotonic = monotonic
        self._counter = counter or NullCounter()
        self._max_items = max_items

    # -- the entry points ------------------------------------------------------------------------
    def send_one(self, text: OutboundText, book: KindBook, *, seconds_left: float | None = None) -> str:
        """Send one text (a staff reply, say) through the same path; raises :class:`RetryLater`."""
        [outcome] = self.send([text], book, seconds_left=seconds_left)
        if outcome.retry:
            raise RetryLater(outcome.detail)
        return outcome.word

    def send(
        self, texts: Sequence[OutboundText], book: KindBook, *, seconds_left: float | None = None
    ) -> list[Outcome]:
        """Send ``texts`` in groups; returns one :class:`Outcome` per text, in order."""
        started = self._monotonic()
        results: list[Outcome | None] = [None] * len(texts)
        if not texts:
            return []
        try:
            states = self._states.read(text.phone_hmac for text in texts)
        except Exception as exc:  # a throttled or incomplete read: nothing was decided, all come back
            return [retry(f"state read failed: {type(exc).__name__}") for _ in texts]
        groups = plan_groups(
            texts,
            max_parts=self._max_parts,
            claim_items=lambda text: self._claim_count(text, book),
            sent_items=lambda _text: book.sent_item_count + self._log_items,
            max_items=self._max_items,
        )

        def done(index: int, outcome: Outcome) -> None:
            results[index] = outcome

        def budget() -> float | None:
            """Seconds a slot may still be waited for (the claim, Publish and bookkeeping need the rest)."""
            if seconds_left is None:
                return None
            return seconds_left - (self._monotonic() - started) - BOOKKEEPING_RESERVE

        carry = _Carry()
        for round_groups in plan_rounds(texts, groups):
            try:
                self._send_round(
                    texts,
                    round_groups,
                    book,
                    states,
                    budget=budget,
                    carry=carry,
                    done=done,
                    finished=lambda i: results[i] is not None,
                )
            except Exception as exc:
                # Whatever was not finished comes back: a claimed text finds its claim on redelivery.
                self._counter.count("OutboundGroupFailed")
                self._flush(carry, done)
                for group in round_groups:
                    for i in group:
                        if results[i] is None:
                            results[i] = retry(f"group failed: {type(exc).__name__}")
        self._flush(carry, done)  # the last group's mark-sent, in its own transaction
        return [outcome or retry("not processed") for outcome in results]

    # -- one round: one booking, then its groups one slot each ---------------------------------------
    def _claim_count(self, text: OutboundText, book: KindBook) -> int:
        return 1 + book.claim_item_count + (1 if text.kind.caps and self._caps is not None else 0)

    def _send_round(
        self,
        texts: Sequence[OutboundText],
        round_groups: list[list[int]],
        book: KindBook,
        states: dict[str, NumberState],
        *,
        budget: Callable[[], float | None],
        carry: _Carry,
        done: Done,
        finished: Callable[[int], bool],
    ) -> None:
        """The kind's policy for every text of the round, one booking of one slot per group, then per
        group: wait for its slot, claim (with the previous group's mark-sent), Publish."""
        now = self._clock.now()
        booked: list[list[_Ready]] = []
        for group in round_groups:
            ready: list[_Ready] = []
            for i in group:
                text = texts[i]
                try:
                    prepared = self._policy(text, book, states[text.phone_hmac], now)
                except Exception as exc:  # this text only (a write that failed, a body that did not decrypt)
                    prepared = retry(f"policy failed: {type(exc).__name__}")
                if isinstance(prepared, Outcome):
                    done(i, prepared)
                else:
                    ready.append(_Ready(i, *prepared))
            if ready:
                booked.append(ready)
        if not booked:
            return
        # The booking may sleep for most of the invocation (a busy schedule): the previous round's
        # mark-sent is written first, so a process that dies in that wait leaves its texts recorded as
        # sent, not claimed with no log record. One transaction a round, not a text.
        self._flush(carry, done)
        slots = self._book(booked, budget, carry, done)
        position, rebookings, ahead = 0, 0, 0.0
        while slots is not None and position < len(booked):
            late = self._pacer.wait_for(slots[position])
            if late:
                # Reached too late (a slow round trip, a paused process): the texts from here on book
                # again, at least twice that late ahead, and the slots they had are given up.
                self._counter.count("OutboundSlotLate")
                rest = booked[position:]
                self._flush(carry, done)  # a waiting mark-sent is not held through a new booking
                if rebookings == MAX_REBOOKINGS:
                    for waiting in rest:
                        for entry in waiting:
                            done(entry.index, retry("send slots reached late"))
                    return
                rebookings += 1
                # The slot was asked ``ahead`` off and reached ``late`` after it: the round trip took
                # their sum, so the next booking asks twice that (it only grows).
                ahead = max(ahead, 2 * (ahead + late))
                again = self._book(rest, budget, carry, done, ahead=ahead)
                if again is None:
                    return
                slots[position:] = again
                del booked[position + len(again) :]  # the groups left without a slot were sent back
                continue
            try:
                self._send_group(booked[position], book, states, carry, done)
            except Exception as exc:
                # This group only: what it did not finish comes back (a claimed text finds its claim
                # on redelivery); the round's next groups go on at their slots.
                self._counter.count("OutboundGroupFailed")
                self._flush(carry, done)
                for unfinished in booked[position]:
                    if not finished(unfinished.index):
                        done(unfinished.index, retry(f"group failed: {type(exc).__name__}"))
            position += 1

    def _book(
        self,
        groups: list[list[_Ready]],
        budget: Callable[[], float | None],
        carry: _Carry,
        done: Done,
        *,
        ahead: float = 0.0,
    ) -> list[int] | None:
        """One slot per group in one booking, as many groups as fit in the invocation (the rest come
        back later); None when not even the first fits."""
        left = budget()
        try:
            slots = list(
                self._pacer.book(
                    [sum(entry.parts for entry in group) for group in groups],
                    max_wait=left,
                    within=left,
                    ahead=ahead,
                    partial=True,
                )
            )
        except PacerBusy as exc:
            self._flush(carry, done)
            for group in groups:
                for entry in group:
                    done(entry.index, retry(str(exc)))
            return None
        for group in groups[len(slots) :]:  # no slot for them within this invocation
            for entry in group:
                done(entry.index, retry("no send slot within the invocation"))
        del groups[len(slots) :]
        return slots

    def _send_group(
        self,
        group: list[_Ready],
        book: KindBook,
        states: dict[str, NumberState],
        carry: _Carry,
        done: Done,
    ) -> None:
        now = self._clock.now()
        ready: list[_Ready] = []
        for entry in group:  # the window may have closed while waiting for the slot
            text, zone = entry.text, entry.text.zone
            if text.kind.quiet_hours and zone is not None and not self._quiet_hours.is_allowed(now, zone):
                until = self._quiet_hours.next_allowed(now, zone)
                done(entry.index, book.defer(text, until, now, "quiet_hours"))
                continue
            ready.append(entry)

        claimed = self._claim(ready, book, states, now, carry=carry, done=done)
        # Every claimed text is published before any bookkeeping is built: a process that dies in the
        # bookkeeping then leaves texts that went out (unconfirmed later), never claims nobody sent.
        published: list[tuple[_Claimed, str, int]] = []
        for claim in claimed:
            try:
                outcome = self._publish_one(claim, book, states, now)
            except Exception as exc:  # a release or close that failed: the claim stays and times out
                outcome = retry(f"after Publish: {type(exc).__name__}")
            if isinstance(outcome, Outcome):
                done(claim.index, outcome)
            else:
                published.append((claim, *outcome))
        sent: list[_Sent] = []
        for claim, provider_id, parts in published:
            try:
                record = book.record(claim.text, claim.body, provider_id, parts)
                items = book.sent_items(claim.text, claim.token, provider_id, self._clock.now())
                sent.append(_Sent(claim, [*items, *self._log(record)]))
            except Exception as exc:  # sent, but not recorded: it stays claimed and comes back
                self._counter.count("OutboundMarkSentFailed")
                done(claim.index, retry(f"bookkeeping failed after Publish: {type(exc).__name__}"))
        carry.entries = sent  # written with the next group's claim, or alone after the last group

    def _policy(
        self, text: OutboundText, book: KindBook, state: NumberState, now: datetime
    ) -> Outcome | tuple[OutboundText, str, str]:
        """The kind's policy before the claim: the outcome when the text stops or is held here, else the
        text with its body and number, ready to claim."""
        if not state.sendable:
            return book.stop(text, SKIPPED_OPTED_OUT, now, "consent_opted_out_at_send")
        held = self._held(text, state, now)
        if held is not None:
            return self._hold(book, text, held, now)
        body = self._body(text)
        phone = text.phone or self._phone(state)
        if not phone:
            return book.stop(text, NO_NUMBER, now, "no_number_on_record")
        return text, body, phone

    def _held(self, text: OutboundText, state: NumberState, now: datetime) -> tuple[datetime, bool] | None:
        """``(until, by_cap)`` when the kind's caps or quiet hours hold the text now, else None."""
        capped_until = now
        if text.kind.caps and self._caps is not None:
            capped_until = self._caps.next_allowed(state.caps.times(), now)
        allowed = capped_until
        if text.kind.quiet_hours:
            if text.zone is None:
                raise ValueError(f"a {text.kind.name} text needs the recipient's time zone")
            allowed = self._quiet_hours.next_allowed(capped_until, text.zone)
        if allowed <= now:
            return None
        return allowed, capped_until > now

    @staticmethod
    def _hold(book: KindBook, text: OutboundText, held: tuple[datetime, bool], now: datetime) -> Outcome:
        until, by_cap = held
        reason = "frequency_cap" if by_cap else "quiet_hours"
        if text.not_after is not None and until >= text.not_after:
            word = SKIPPED_FREQUENCY_CAP if by_cap else SKIPPED_QUIET_HOURS
            return book.stop(text, word, now, f"{reason}_until_after_start")
        return book.defer(text, until, now, reason)

    def _body(self, text: OutboundText) -> str:
        if isinstance(text.body, str):
            return text.body
        if self._cipher is None:
            raise ValueError("a sealed body needs the cipher")
        return str(self._cipher.decrypt(text.body.record_ref, text.body.ciphertext)[text.body.key])

    def _phone(self, state: NumberState) -> str | None:
        if state.sealed_phone is None or self._cipher is None:
            return None
        record_ref, ciphertext = state.sealed_phone
        phone = self._cipher.decrypt(record_ref, ciphertext).get("phone")
        return str(phone) if phone else None

    # -- claim ------------------------------------------------------------------------------------
    def _claim(
        self,
        ready: list[_Ready],
        book: KindBook,
        states: dict[str, NumberState],
        now: datetime,
        *,
        carry: _Carry,
        done: Done,
    ) -> list[_Claimed]:
        """One claim transaction for the group, carrying the previous group's mark-sent when it fits;
        when it is cancelled, classify each part from its items' reasons (a mark-sent part is written
        again alone, never dropped) and claim the texts that can still go once more."""
        pending = [_Claimed(e.index, e.text, str(uuid.uuid4()), e.body, e.phone) for e in ready]
        for attempt in range(2):
            if not pending:
                self._flush(carry, done)
                return []
            items: list[dict[str, Any]] = []
            spans: list[tuple[int, int, int]] = []  # first item (consent), end, cap item (or -1)
            for claim in pending:
                start = len(items)
                items.append(self._consent.sendable_check(claim.text.phone_hmac))
                items.extend(book.claim_items(claim.text, claim.token, now))
                cap = -1
                if claim.text.kind.caps and self._cap_ledger is not None and self._caps is not None:
                    cap = len(items)
                    record = states[claim.text.phone_hmac].caps
                    items.append(self._cap_ledger.claim_item(record, claim.token, now))
                spans.append((start, len(items), cap))
            carried = self._carried(carry, items, done)
            marked = [item for entry in carried for item in entry.items]
            try:
                self._transactions.write([*marked, *items])
            except TransactionCancelled as exc:
                reasons = exc.reasons
                if carried:
                    # The mark-sent part goes alone now, whichever part cancelled the transaction.
                    if len(reasons) == len(marked) + len(items) and _failed(reasons[: len(marked)]):
                        self._counter.count("OutboundMarkSentCancelled")
                    self._mark_sent(carried, done)
                    reasons = reasons[len(marked) :] if len(reasons) == len(marked) + len(items) else []
                if len(reasons) != len(items):
                    for claim in pending:
                        done(claim.index, retry("claim cancelled without reasons"))
                    return []
                if carried and not _failed(reasons):  # only the carried mark-sent failed: claim again
                    continue
                self._counter.count("OutboundClaimCancelled")
                still: list[_Claimed] = []
                for claim, (start, end, cap) in zip(pending, spans, strict=True):
                    outcome = self._refused(claim, book, reasons[start:end], cap - start, now)
                    if outcome is None:
                        still.append(claim)
                    else:
                        done(claim.index, outcome)
                if attempt == 0:
                    pending = still
                    continue
                for claim in still:
                    done(claim.index, retry("claim cancelled twice"))
                return []
            except Exception:
                if carried:  # the claim did not happen; its carried mark-sent still must
                    self._mark_sent(carried, done)
                raise
            for entry in carried:
                done(entry.claimed.index, Outcome(SENT))
            for claim in pending:  # what the claim wrote, so a later group of this call reads it right
                if claim.text.kind.caps and self._caps is not None:
                    record = states[claim.text.phone_hmac].caps
                    states[claim.text.phone_hmac].caps = CapRecord(
                        record.phone_hmac, record.version + 1, record.recent(claim.token, now)
                    )
            return pending
        return []

    def _carried(self, carry: _Carry, claim_items: list[dict[str, Any]], done: Done) -> list[_Sent]:
        """The waiting mark-sent entries, when they can share the claim's transaction (at most
        :data:`MAX_TRANSACTION_ITEMS` items, no item twice); else they are written alone first."""
        if not carry.entries:
            return []
        marked = [item for entry in carry.entries for item in entry.items]
        keys = [self._transactions.item_key(item) for item in [*marked, *claim_items]]
        if len(keys) <= self._max_items and None not in keys and len(set(keys)) == len(keys):
            return carry.take()
        self._flush(carry, done)
        return []

    @staticmethod
    def _refused(
        claim: _Claimed, book: KindBook, mine: Sequence[str], cap: int, now: datetime
    ) -> Outcome | None:
        """A text's outcome from its own items' cancellation reasons (``mine[0]`` is the consent check,
        then the kind's items, then the cap record at ``cap`` when there is one); None when every item
        was fine: the text can go."""
        if all(code in _FINE for code in mine):
            return None
        if "TransactionConflict" in mine:
            return retry("claim raced another writer")
        failed = "ConditionalCheckFailed"
        if mine[0] == failed:
            return book.stop(claim.text, SKIPPED_OPTED_OUT, now, "consent_opted_out_at_send")
        own_end = cap if cap > 0 else len(mine)
        own_failed = [i - 1 for i in range(1, own_end) if mine[i] == failed]
        if own_failed:
            return book.claim_refused(claim.text, own_failed, now)
        if cap > 0 and mine[cap] == failed:
            return retry("another text to this number was claimed meanwhile")
        return retry(f"claim cancelled: {sorted({str(code) for code in mine} - {'None'})}")

    # -- publish ------------------------------------------------------------------------------------
    def _publish_one(
        self, claim: _Claimed, book: KindBook, states: dict[str, NumberState], now: datetime
    ) -> tuple[str, int] | Outcome:
        parts = analyze(claim.body).segments
        try:
            return self._publish(claim.phone, claim.body, parts), parts
        except SendThrottled:
            capped = claim.text.kind.caps and self._cap_ledger is not None and self._caps is not None
            extra = (
                [self._cap_ledger.release_item(claim.text.phone_hmac, claim.token)]
                if capped and self._cap_ledger is not None
                else []
            )
            book.release(claim.text, claim.token, extra)
            if capped:
                record = states[claim.text.phone_hmac].caps
                sends = {k: v for k, v in record.sends.items() if k != claim.token}
                states[claim.text.phone_hmac].caps = CapRecord(record.phone_hmac, record.version + 1, sends)
            return retry("throttled by the SMS provider")
        except SendRejected as exc:
            book.close(claim.text, REJECTED, now, f"rejected:{exc}", claim.token)
            return Outcome(REJECTED)
        except SendOutcomeUnknown as exc:
            book.close(claim.text, UNCONFIRMED, now, f"unknown:{exc}", claim.token)
            return Outcome(UNCONFIRMED)

    def _publish(self, phone: str, body: str, parts: int) -> str:
        """Publish; on throttling back off, book a new slot and try again (nothing was accepted)."""
        for backoff in (*self._backoff, None):
            try:
                return self._sender.send(phone, body, origination=self._origination)
            except SendThrottled:
                if backoff is None:
                    raise
                self._sleep(backoff)
                try:
                    self._pacer.acquire(parts)
                except Exception as exc:  # no slot (busy, or the schedule could not be booked)
                    raise SendThrottled("no send slot after throttling") from exc
        raise AssertionError("unreachable")

    # -- mark sent ---------------------------------------------------------------------------------
    def _log(self, record: MessageRecord) -> list[dict[str, Any]]:
        put_requests = getattr(self._messages, "put_requests", None)
        if put_requests is not None:
            return list(put_requests(record))
        return [self._messages.put_request(record)]

    def _flush(self, carry: _Carry, done: Done) -> None:
        """Write a waiting mark-sent in its own transaction (the last group's, or one that cannot wait)."""
        entries = carry.take()
        if entries:
            self._mark_sent(entries, done)

    def _mark_sent(self, sent: list[_Sent], done: Done) -> None:
        """One transaction for the group (split only if the log wrote more items than planned); a text
        whose transaction failed stays claimed and comes back."""
        chunk: list[_Sent] = []
        size = 0
        chunks: list[list[_Sent]] = []
        for entry in sent:
            if chunk and size + len(entry.items) > self._max_items:
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append(entry)
            size += len(entry.items)
        if chunk:
            chunks.append(chunk)
        for part in chunks:
            try:
                self._transactions.write([item for entry in part for item in entry.items])
            except Exception as exc:
                self._counter.count("OutboundMarkSentFailed")
                for entry in part:
                    done(entry.claimed.index, retry(f"mark sent failed: {type(exc).__name__}"))
                continue
            for entry in part:
                done(entry.claimed.index, Outcome(SENT))


def _failed(reasons: Sequence[str]) -> bool:
    return any(code not in _FINE for code in reasons)
