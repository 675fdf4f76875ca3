"""Frequency caps (rolling day/week windows) and the shared send-rate schedule."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest

from shared.outbound.caps import CapRecord, FrequencyCaps
from shared.outbound.pacing import DEFAULT_RATES, GUARD, MICROS, PacerBusy, pacer_key
from shared.outbound.store import DynamoCapLedger, DynamoSendPacer

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- caps
def test_default_caps_are_the_healthcare_exemption_limits():
    caps = FrequencyCaps()
    assert (caps.per_day, caps.per_week) == (1, 3)


def test_one_a_day_waits_for_the_previous_text_to_turn_a_day_old():
    caps = FrequencyCaps()
    assert caps.next_allowed([], T0) == T0
    sent = [T0 - timedelta(hours=5)]
    assert not caps.allows(sent, T0)
    assert caps.next_allowed(sent, T0) == T0 + timedelta(hours=19)


def test_three_a_week_waits_for_the_oldest_to_leave_the_week():
    caps = FrequencyCaps()
    sent = [T0 - timedelta(days=6), T0 - timedelta(days=4), T0 - timedelta(days=2)]
    # a day since the last one, but three in the week: free when the six-day-old text is 7 days old
    assert caps.next_allowed(sent, T0) == T0 + timedelta(days=1)


def test_higher_caps_are_configurable_and_invalid_ones_refused():
    caps = FrequencyCaps(per_day=2, per_week=5)
    assert caps.allows([T0 - timedelta(hours=1)], T0)
    assert not caps.allows([T0 - timedelta(hours=1), T0 - timedelta(hours=2)], T0)
    with pytest.raises(ValueError):
        FrequencyCaps(per_day=0)
    with pytest.raises(ValueError):
        FrequencyCaps(per_day=3, per_week=2)


def test_next_allowed_is_the_earliest_instant_allowed():
    caps = FrequencyCaps(per_day=2, per_week=3)
    sent = [T0 - timedelta(hours=h) for h in (30, 20, 2)]
    answer = caps.next_allowed(sent, T0)
    assert caps.allows(sent, answer)
    # no instant a second earlier is allowed
    assert not caps.allows(sent, answer - timedelta(seconds=1))


def test_cap_record_prunes_texts_older_than_a_week_and_conditions_on_its_version():
    record = CapRecord(
        "ph_x", version=4, sends={"old": "2026-11-10T00:00:00Z", "new": "2026-11-22T00:00:00Z"}
    )
    ledger = DynamoCapLedger(SimpleNamespace(name="Control"))
    put = ledger.claim_item(record, "tok", T0)["Put"]
    assert set(put["Item"]["sends"]) == {"new", "tok"}
    assert put["Item"]["version"] == 5
    assert put["ConditionExpression"] == "version = :v" and put["ExpressionAttributeValues"] == {":v": 4}
    first = ledger.claim_item(CapRecord("ph_y"), "tok", T0)["Put"]
    assert first["ConditionExpression"] == "attribute_not_exists(pk)"


# --------------------------------------------------------------------------- pacing
class FakeTime:
    """A wall clock that moves only when someone sleeps (or the test says so)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start
        self.lock = threading.Lock()

    def now(self) -> float:
        with self.lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.t += seconds


@pytest.fixture
def control(aws):
    table = boto3.resource("dynamodb").create_table(
        TableName="Control",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def max_parts_in_any_window(slots: list[tuple[int, int]], window_us: int = MICROS) -> int:
    """Most parts whose slots start within any half-open window of one second."""
    ordered = sorted(slots)
    best = 0
    for i, (start, _parts) in enumerate(ordered):
        best = max(best, sum(p for s, p in ordered[i:] if s < start + window_us))
    return best


def test_one_part_texts_are_spaced_evenly_just_under_the_rate(control):
    clock = FakeTime()
    pacer = DynamoSendPacer(control, number_key="k", parts_per_second=3, now=clock.now, sleep=clock.sleep)
    starts = [pacer.reserve(1, max_wait=60).slot_us for _ in range(9)]
    assert [b - a for a, b in itertools.pairwise(starts)] == [pacer.part_us()] * 8
    assert pacer.part_us() == round(MICROS * (1 + GUARD) / 3)  # 5% guard band: 0.35 s apart
    assert max_parts_in_any_window([(s, 1) for s in starts]) == 3
    # jitter of up to 50 ms between slot and release cannot put a fourth text in any second
    jittered = [(s + (50_000 if i % 2 else 0), 1) for i, s in enumerate(starts)]
    assert max_parts_in_any_window(jittered) == 3


def test_multi_part_texts_never_put_more_than_the_rate_in_any_second(control):
    clock = FakeTime()
    pacer = DynamoSendPacer(control, number_key="k", parts_per_second=3, now=clock.now, sleep=clock.sleep)
    sizes = [1, 1, 2, 1, 3, 1, 1, 2, 1, 1, 4, 2, 2, 3, 1]
    slots = [(pacer.reserve(parts, max_wait=60).slot_us, parts) for parts in sizes]
    # a four-part text exceeds 3 parts/s on its own: it goes alone in its window
    assert max_parts_in_any_window([slot for slot in slots if slot[1] != 4]) <= 3
    four = next(slot for slot in slots if slot[1] == 4)
    assert all(abs(s - four[0]) >= MICROS for s, p in slots if (s, p) != four)
    starts = [s for s, _ in slots]
    assert starts == sorted(starts)
    # two-part texts at 3 parts/s can never share a second: they go 3 parts' time (1.05 s) apart
    pair = DynamoSendPacer(control, number_key="pairs", parts_per_second=3, now=clock.now)
    two = [pair.reserve(2, max_wait=60).slot_us for _ in range(4)]
    assert [b - a for a, b in itertools.pairwise(two)] == [3 * pair.part_us()] * 3


def test_acquire_sleeps_until_the_slot_and_keeps_no_burst_credit_after_idling(control):
    clock = FakeTime()
    pacer = DynamoSendPacer(control, number_key="k", parts_per_second=2, now=clock.now, sleep=clock.sleep)
    part = pacer.part_us() / MICROS  # 0.525 s
    assert pacer.acquire(1) == 0.0
    assert pacer.acquire(1) == pytest.approx(part)
    clock.sleep(30)  # idle: the next text goes at once, the one after waits its turn again
    assert pacer.acquire(1) == 0.0
    assert pacer.acquire(1) == pytest.approx(part)
    # two parts: one part's time after the previous text ends, so that no second holds three parts
    assert pacer.acquire(2) == pytest.approx(2 * part)


def test_a_schedule_booked_beyond_the_wait_limit_reserves_nothing(control):
    clock = FakeTime()
    pacer = DynamoSendPacer(control, number_key="k", parts_per_second=1, max_wait=3, now=clock.now)
    for _ in range(3):
        pacer.reserve(1)  # slots at +0, +1.05, +2.1 s; the schedule is booked to +3.15 s
    tat_before = control.get_item(Key={"pk": "pacer#k", "sk": "schedule"})["Item"]["tat"]
    with pytest.raises(PacerBusy) as busy:
        pacer.reserve(1)
    assert busy.value.wait_seconds == pytest.approx(3.15)
    assert control.get_item(Key={"pk": "pacer#k", "sk": "schedule"})["Item"]["tat"] == tat_before
    with pytest.raises(PacerBusy):
        pacer.reserve(1, max_wait=-1)  # no time left in the invocation


def test_one_booking_of_many_slots_books_exactly_what_one_booking_each_would(control):
    """A batch's slots in one conditional write: the same slots as consecutive single bookings, so the
    schedule's rule holds for every text; a busy schedule then follows on from the whole booking."""
    sizes = [1, 2, 1, 3, 1]
    clock = FakeTime()
    single = DynamoSendPacer(control, number_key="one", parts_per_second=3, now=clock.now, sleep=clock.sleep)
    each = [single.reserve(parts, max_wait=60).slot_us for parts in sizes]
    batch = DynamoSendPacer(control, number_key="many", parts_per_second=3, now=clock.now, sleep=clock.sleep)
    writes: list[str] = []
    original = control.update_item

    def counted(**kwargs):  # type: ignore[no-untyped-def]
        writes.append(kwargs["ConditionExpression"])
        return original(**kwargs)

    control.update_item = counted  # type: ignore[method-assign]
    try:
        slots = batch.book(sizes, max_wait=60)
        assert slots == each
        assert len(writes) == 2  # idle: the busy write's condition fails, the idle write books
        writes.clear()
        [after] = batch.book([1], max_wait=60)
        assert len(writes) == 1  # busy: one write
    finally:
        control.update_item = original  # type: ignore[method-assign]
    assert after == single.reserve(1, max_wait=60).slot_us
    assert max_parts_in_any_window(list(zip(slots, sizes, strict=True))) <= 3


def test_a_booking_of_many_slots_fits_whole_or_books_nothing(control):
    clock = FakeTime()
    pacer = DynamoSendPacer(control, number_key="k", parts_per_second=1, max_wait=20, now=clock.now)
    part = pacer.part_us()
    slots = pacer.book([1] * 10, max_wait=45, within=45)  # first slot now, the last 9.45 s on
    assert [b - a for a, b in itertools.pairwise(slots)] == [part] * 9
    tat = control.get_item(Key={"pk": "pacer#k", "sk": "schedule"})["Item"]["tat"]
    # The next ten would end 19.95 s on: not within 15 s, so nothing is booked.
    with pytest.raises(PacerBusy):
        pacer.book([1] * 10, max_wait=45, within=15)
    assert control.get_item(Key={"pk": "pacer#k", "sk": "schedule"})["Item"]["tat"] == tat
    # Within 45 s they fit: their first slot (10.5 s on) is inside the pacer's own 20 s limit.
    again = pacer.book([1] * 10, max_wait=45, within=45)
    assert again[0] == slots[-1] + part
    # A third batch's first slot would be 21 s on, beyond the pacer's 20 s: nothing booked.
    with pytest.raises(PacerBusy):
        pacer.book([1] * 2, max_wait=45, within=45)


def test_a_partial_booking_takes_the_slots_that_fit_and_waits_for_the_schedule_within_the_budget(control):
    """Five senders of ten texts on a 1 part/s number, 45 s each: the third waits until its first slot is
    within the pacer's 20 s, the fifth books only the texts whose slots come within its 45 s."""
    clock = FakeTime()
    pacer = DynamoSendPacer(
        control, number_key="k", parts_per_second=1, max_wait=20, now=clock.now, sleep=clock.sleep
    )
    part = pacer.part_us()
    start = int(clock.now() * MICROS)

    def sender() -> list[int]:  # all five ask at the same moment
        clock.t = start / MICROS
        return pacer.book([1] * 10, max_wait=45, within=45, partial=True)

    first, second, third = sender(), sender(), sender()
    assert (first[0], second[0]) == (start, start + 10 * part)
    assert len(third) == 10 and third[0] == start + 20 * part
    assert clock.now() - start / MICROS == pytest.approx(20 * part / MICROS - 20)  # slept until in reach
    fourth, fifth = sender(), sender()
    assert len(fourth) == 10 and fifth[0] == fourth[-1] + part
    assert len(fifth) == 3 and fifth[-1] <= start + 45 * MICROS  # the rest would end after its 45 s
    # Nothing fits at all: nothing is booked.
    tat = control.get_item(Key={"pk": "pacer#k", "sk": "schedule"})["Item"]["tat"]
    with pytest.raises(PacerBusy):
        pacer.book([1] * 10, max_wait=5, within=5, partial=True)
    assert control.get_item(Key={"pk": "pacer#k", "sk": "schedule"})["Item"]["tat"] == tat


def test_wait_for_sleeps_until_the_slot_and_tells_how_late_it_was(control):
    clock = FakeTime()
    pacer = DynamoSendPacer(control, number_key="k", parts_per_second=1, now=clock.now, sleep=clock.sleep)
    first, second = pacer.book([1, 1])
    assert pacer.wait_for(first) == 0.0
    assert pacer.wait_for(second) == 0.0 and int(clock.now() * MICROS) == second
    [third, fourth] = pacer.book([1, 1])
    clock.t = third / MICROS + 0.02  # within the tolerance: in time
    assert pacer.wait_for(third) == 0.0
    clock.t = fourth / MICROS + 0.5  # half a second late (a paused process): nothing may go on it
    assert pacer.wait_for(fourth) == pytest.approx(0.5, abs=0.001)


class AtomicTable:
    """DynamoDB applies a conditional write atomically; moto checks and writes in two steps without a
    lock, so threads can interleave between them. This wrapper gives moto DynamoDB's atomicity (one call
    at a time); the senders' own logic, reads and races are unchanged."""

    def __init__(self, table) -> None:
        self._table = table
        self._lock = threading.Lock()

    def get_item(self, **kwargs):
        with self._lock:
            return self._table.get_item(**kwargs)

    def update_item(self, **kwargs):
        with self._lock:
            return self._table.update_item(**kwargs)


def test_concurrent_senders_share_one_schedule(control):
    clock = FakeTime()
    shared = AtomicTable(control)
    rate = 10
    slots: list[tuple[int, int]] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        pacer = DynamoSendPacer(shared, number_key="k", parts_per_second=rate, max_wait=600, now=clock.now)
        for i in range(20):
            parts = 1 + (n + i) % 3
            reservation = pacer.reserve(parts)
            with lock:
                slots.append((reservation.slot_us, parts))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slots) == 100
    assert max_parts_in_any_window(slots) <= rate
    ordered = sorted(slots)
    assert len({s for s, _ in ordered}) == 100  # every sender got its own slot
    total = sum(p for _, p in ordered)
    assert total == sum(1 + (n + i) % 3 for n in range(5) for i in range(20))
    # and the bookings tile the schedule: no overlap, no hole
    pacer = DynamoSendPacer(control, number_key="x", parts_per_second=rate)
    booked = sum(pacer.cost_us(p) for _, p in ordered)
    first = min(s - (p - 1) * pacer.part_us() for s, p in ordered)
    last = max(s + p * pacer.part_us() for s, p in ordered)
    assert last - first == booked


def test_concurrent_one_part_texts_reach_the_rate(control):
    clock = FakeTime()
    shared = AtomicTable(control)
    rate = 20
    starts: list[int] = []
    lock = threading.Lock()

    def sender() -> None:
        pacer = DynamoSendPacer(shared, number_key="k", parts_per_second=rate, max_wait=600, now=clock.now)
        for _ in range(40):
            slot = pacer.reserve(1).slot_us
            with lock:
                starts.append(slot)

    threads = [threading.Thread(target=sender) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(starts)
    assert max_parts_in_any_window([(s, 1) for s in ordered]) == rate
    achieved = len(ordered) / ((ordered[-1] - ordered[0]) / MICROS + 1 / rate)
    assert achieved >= 0.9 * rate


def test_origination_types_have_their_documented_rates_and_keys_hide_the_number():
    assert DEFAULT_RATES == {"ShortCode": 100.0, "TollFree": 3.0, "TenDLC": 1.0}
    key = pacer_key("TollFree", "+18005550100")
    assert "5550100" not in key and key.startswith("TollFree#")
    assert pacer_key("TenDLC", "") == "TenDLC#default"


class SlowTable:
    """Every write takes ``seconds`` of the fake clock: a storage round trip longer than the pacer's
    late tolerance (moto on a loaded machine; DynamoDB in a latency spike)."""

    def __init__(self, table, clock, seconds: float) -> None:
        self._table, self._clock, self._seconds = table, clock, seconds

    def get_item(self, **kwargs):
        self._clock.sleep(self._seconds)
        return self._table.get_item(**kwargs)

    def update_item(self, **kwargs):
        self._clock.sleep(self._seconds)
        return self._table.update_item(**kwargs)


def test_a_booking_slower_than_the_late_tolerance_books_its_next_slot_that_far_ahead(control):
    """An idle schedule's slot was the moment the booking was asked for, so a round trip longer than
    LATE_TOLERANCE made every attempt late and the text was never sent (PacerBusy after four tries):
    the reminder suites failed on a loaded machine. A late attempt now books its next slot ahead by
    the round trip it saw, and still never crowds a text booked after it."""
    clock = FakeTime()
    slow = SlowTable(control, clock, 0.04)
    pacer = DynamoSendPacer(slow, number_key="slow", parts_per_second=100, now=clock.now, sleep=clock.sleep)
    slots = []
    for _ in range(5):
        pacer.acquire(1)
        slots.append(clock.now())
    # released in order, never two in less than one part's time (the schedule stays exact)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(gap >= pacer.part_us() / MICROS - 1e-6 for gap in gaps)
