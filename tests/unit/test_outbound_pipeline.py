"""The one outbound pipeline with in-memory fakes of its ports: grouping, the claim and its cancellation
reasons, partial retry, throttling, unknown outcomes, and a staff reply through the same path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.core.errors import SendOutcomeUnknown, SendRejected, SendThrottled
from shared.outbound.caps import CapRecord, FrequencyCaps
from shared.outbound.kinds import (
    BROADCAST,
    EMERGENCY_NOTICE,
    KINDS,
    REMINDER,
    SECURE_MESSAGE,
    STAFF_REPLY,
    SURVEY,
)
from shared.outbound.pipeline import (
    OutboundText,
    RetryLater,
    SealedBody,
    group_parts,
    plan_groups,
)
from tests.unit.outbound_fakes import (
    NOW,
    FakeBook,
    FakeMessagesWithLookups,
    FakeStore,
    rig,
)

NEW_YORK = ZoneInfo("America/New_York")


def text(n: int, *, number: int | None = None, kind=REMINDER, body: str = "Clinic: see you Tue", **extra):
    number = n if number is None else number
    return OutboundText(
        key=f"text-{n}",
        kind=kind,
        phone_hmac=f"hmac-{number}",
        body=body,
        phone=f"+1206555{number:04d}",
        zone=NEW_YORK,
        not_after=NOW + timedelta(days=2),
        **extra,
    )


def words(outcomes) -> list[str]:
    return [o.word for o in outcomes]


# --------------------------------------------------------------------------- kinds
def test_every_kind_is_consented_paced_claimed_and_logged_and_only_automated_kinds_are_held():
    assert set(KINDS) == {
        "reminder",
        "staff_reply",
        "secure_message",
        "broadcast",
        "survey",
        "emergency_notice",
    }
    for kind in (REMINDER, BROADCAST, SURVEY):
        assert kind.caps and kind.quiet_hours and kind.automated
    for kind in (STAFF_REPLY, SECURE_MESSAGE, EMERGENCY_NOTICE):
        assert not kind.caps and not kind.quiet_hours and not kind.automated


# --------------------------------------------------------------------------- grouping
def plan(texts, *, max_parts=100, claim=4, sent=3, max_items=100):
    return plan_groups(
        texts,
        max_parts=max_parts,
        claim_items=lambda _t: claim,
        sent_items=lambda _t: sent,
        max_items=max_items,
    )


def test_two_texts_to_one_number_go_into_different_groups_in_their_order():
    texts = [text(0), text(1, number=7), text(2), text(3, number=7), text(4, number=7)]
    groups = plan(texts)
    assert groups == [[0, 1, 2], [3], [4]]
    for group in groups:
        numbers = [texts[i].phone_hmac for i in group]
        assert len(numbers) == len(set(numbers))


def test_groups_stay_within_the_hundred_item_limit_of_either_transaction():
    texts = [text(n) for n in range(10)]
    assert [len(g) for g in plan(texts, claim=30, sent=3)] == [3, 3, 3, 1]  # 90 claim items at most
    assert [len(g) for g in plan(texts, claim=4, sent=40)] == [2, 2, 2, 2, 2]  # 80 sent items at most
    with pytest.raises(ValueError, match="more than 100"):
        plan(texts[:1], claim=101)


def test_group_size_follows_the_send_rate():
    assert group_parts(1.0) == 1 and group_parts(3.0) == 3 and group_parts(100.0) == 100
    assert group_parts(0.2) == 1  # a slow number still sends one text at a time
    texts = [text(n) for n in range(10)]
    assert plan(texts, max_parts=group_parts(1.0)) == [[n] for n in range(10)]
    assert plan(texts, max_parts=group_parts(3.0)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert plan(texts, max_parts=group_parts(100.0)) == [list(range(10))]
    long = "x" * 200  # two parts
    assert plan([text(0, body=long), text(1), text(2, body=long)], max_parts=3) == [[0, 1], [2]]
    assert plan([text(0, body=long)], max_parts=1) == [[0]]  # a text longer than a group goes alone


# --------------------------------------------------------------------------- one batch, few requests
def test_a_batch_at_short_code_rate_is_one_read_one_booking_one_claim_one_mark_sent():
    r = rig(parts_per_second=100.0)
    outcomes = r.pipeline.send([text(n) for n in range(10)], r.book)
    assert words(outcomes) == ["sent"] * 10
    assert len(r.store.batch_reads) == 1
    assert len(r.store.batch_reads[0]["consent"]) == 10 and len(r.store.batch_reads[0]["control"]) == 10
    assert r.pacer.bookings == [([10], None)]  # one slot for the group's ten parts
    claim, mark_sent = r.store.transactions
    assert len(claim) == 10 * 3  # consent check, the kind's claim, the cap record
    assert len(mark_sent) == 10 * 2  # the kind's sent item, the log record
    assert len(r.sms.sent) == 10 and len(r.store.log) == 10 and len(r.store.sent) == 10
    assert all(len(record.sends) == 1 for record in r.store.caps.values())


def test_at_one_part_a_second_each_text_is_its_own_group_but_the_read_and_the_booking_are_one():
    r = rig(parts_per_second=1.0)
    assert words(r.pipeline.send([text(n) for n in range(4)], r.book)) == ["sent"] * 4
    assert len(r.store.batch_reads) == 1
    assert r.pacer.bookings == [([1, 1, 1, 1], None)]  # one booking, one slot per text
    assert r.pacer.waits == [0, 1, 2, 3]  # each text waits for its own slot, then is claimed
    # Each group's mark-sent goes with the next group's claim; the last group's goes alone.
    sizes = [len(t) for t in r.store.transactions]
    assert sizes == [3, 2 + 3, 2 + 3, 2 + 3, 2]
    for n, transaction in enumerate(r.store.transactions[1:4], start=1):
        kinds = [(item["target"][0], item["target"][1]) for item in transaction]
        assert kinds[:2] == [("text", f"text-{n - 1}"), ("log", f"text-{n - 1}")]  # text n-1 sent
        assert kinds[2:] == [("consent", f"hmac-{n}"), ("text", f"text-{n}"), ("cap", f"hmac-{n}")]
    assert set(r.store.sent) == {f"text-{n}" for n in range(4)} and len(r.store.log) == 4
    assert r.store.claims == {}


# --------------------------------------------------------------------------- the carried mark-sent
def sizes(r) -> list[int]:
    return [len(t) for t in r.store.transactions]


def test_a_combined_transaction_cancelled_by_its_mark_sent_part_writes_it_alone_and_claims_again():
    r = rig(parts_per_second=1.0)
    r.store.forced += [{}, {0: "TransactionConflict"}]  # text-0's sent item, in text-1's claim
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert [(o.word, o.retry) for o in outcomes] == [("sent", False), ("sent", False)]
    # claim 0; mark-sent 0 + claim 1 (cancelled); mark-sent 0 alone; claim 1 again; mark-sent 1
    assert sizes(r) == [3, 2 + 3, 2, 3, 2]
    assert set(r.store.sent) == {"text-0", "text-1"} and set(r.store.log) == {"text-0", "text-1"}
    assert len(r.sms.sent) == 2 and r.store.claims == {}


def test_a_combined_transaction_cancelled_by_an_opt_out_stops_that_text_and_still_marks_the_last_sent():
    r = rig(parts_per_second=1.0)
    r.store.forced += [{}, {2: "ConditionalCheckFailed"}]  # text-1's consent check (after 2 sent items)
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert [(o.word, o.retry) for o in outcomes] == [("sent", False), ("skipped_opted_out", False)]
    assert ("stop", "text-1", "skipped_opted_out:consent_opted_out_at_send") in r.book.calls
    assert sizes(r) == [3, 2 + 3, 2]  # the mark-sent part alone, the opted-out text never claimed again
    assert r.store.sent.keys() == {"text-0"} and r.store.log.keys() == {"text-0"}
    assert [phone for phone, _ in r.sms.sent] == ["+12065550000"]


def test_a_combined_transaction_that_fails_outright_still_writes_the_mark_sent_alone():
    r = rig(parts_per_second=1.0)
    real_write = r.store.write

    def second_write_throttled(items):  # type: ignore[no-untyped-def]
        if len(r.store.transactions) == 1:
            r.store.transactions.append([dict(i) for i in items])
            raise RuntimeError("ProvisionedThroughputExceeded")
        real_write(items)

    r.store.write = second_write_throttled  # type: ignore[method-assign]
    outcomes = r.pipeline.send([text(0), text(1), text(2)], r.book)
    assert [(o.word, o.retry) for o in outcomes] == [("sent", False), ("retry_later", True), ("sent", False)]
    assert sizes(r) == [3, 2 + 3, 2, 3, 2]  # text-2's claim goes alone: nothing is left to carry
    assert r.store.sent.keys() == {"text-0", "text-2"} and r.store.claims == {}
    assert [phone for phone, _ in r.sms.sent] == ["+12065550000", "+12065550002"]


def test_a_mark_sent_that_fails_alone_too_leaves_its_text_claimed_for_the_redelivery():
    r = rig(parts_per_second=1.0)
    r.store.forced += [{}, {0: "TransactionConflict"}, {0: "TransactionConflict"}]
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert [(o.word, o.retry) for o in outcomes] == [("retry_later", True), ("sent", False)]
    assert set(r.store.claims) == {"text-0"}  # sent, still claimed: closed unconfirmed, never resent
    assert r.store.sent.keys() == {"text-1"}


@dataclass
class SharedItemBook(FakeBook):
    """Every text checks one shared item in its claim and writes it when sent (an appointment with two
    reminders, say): a mark-sent and the next claim may not share a transaction."""

    claim_item_count: int = 2
    sent_item_count: int = 2

    def claim_items(self, text, token, now):  # type: ignore[no-untyped-def]
        return [super().claim_items(text, token, now)[0], {"target": ("appointment", "A")}]

    def sent_items(self, text, token, provider_id, now):  # type: ignore[no-untyped-def]
        return [*super().sent_items(text, token, provider_id, now)[:1], {"target": ("appointment", "A")}]


def test_a_mark_sent_that_touches_an_item_of_the_next_claim_goes_alone_first():
    r = rig(parts_per_second=1.0)
    r.book = SharedItemBook(r.store)
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert words(outcomes) == ["sent", "sent"]
    assert sizes(r) == [4, 3, 4, 3]  # claim, mark-sent, claim, mark-sent
    assert r.store.sent.keys() == {"text-0", "text-1"}


def test_a_slot_reached_late_books_the_rest_again_and_the_waiting_mark_sent_is_written_first():
    r = rig(parts_per_second=1.0)
    r.pacer.late = [0.0, 0.4]  # text-1's slot is reached 0.4 s late
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert words(outcomes) == ["sent", "sent"]
    assert r.pacer.bookings == [([1, 1], None), ([1], None)] and r.pacer.ahead == [0.0, 0.8]
    assert r.pacer.waits == [0, 1, 2]  # text-1 goes on its new slot, not the late one
    assert sizes(r) == [3, 2, 3, 2]


def test_the_groups_a_booking_finds_no_slot_for_come_back_and_the_others_go():
    r = rig(parts_per_second=1.0)
    r.pacer.fit = [2]  # the invocation's time holds two of the four slots
    outcomes = r.pipeline.send([text(n) for n in range(4)], r.book, seconds_left=40.0)
    assert [(o.word, o.retry) for o in outcomes] == [("sent", False)] * 2 + [("retry_later", True)] * 2
    assert r.pacer.waits == [0, 1] and r.store.sent.keys() == {"text-0", "text-1"}
    assert sizes(r) == [3, 2 + 3, 2] and r.store.claims == {}


def test_slots_reached_late_again_and_again_send_the_rest_back_unclaimed():
    r = rig(parts_per_second=1.0)
    r.pacer.late = [0.4] * 4
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert all(o.retry for o in outcomes) and r.store.transactions == [] and r.sms.sent == []
    assert len(r.pacer.bookings) == 4  # the booking and three more
    # each asked further ahead: twice the last round trip (what it asked ahead plus how late it was)
    assert r.pacer.ahead == pytest.approx([0.0, 0.8, 2.4, 5.6])


def test_a_process_dying_while_it_waits_for_the_next_slot_leaves_the_published_text_claimed():
    r = rig(parts_per_second=1.0)
    waits = r.pacer.wait_for

    def dies_at_the_second_slot(slot: int) -> float:
        if slot == 1:
            raise Died
        return waits(slot)

    r.pacer.wait_for = dies_at_the_second_slot  # type: ignore[method-assign]
    with pytest.raises(Died):
        r.pipeline.send([text(0), text(1)], r.book)
    # text-0 went out and stays claimed: its redelivery closes it unconfirmed, it is never sent again
    assert [phone for phone, _ in r.sms.sent] == ["+12065550000"]
    assert set(r.store.claims) == {"text-0"} and r.store.sent == {}


def test_the_dynamodb_adapter_names_the_item_each_transaction_item_touches():
    from shared.outbound.store import DynamoTransactions

    key = DynamoTransactions.item_key
    update = {"Update": {"TableName": "Reminders", "Key": {"pk": "r1"}, "UpdateExpression": "SET a = :a"}}
    check = {"ConditionCheck": {"TableName": "Reminders", "Key": {"pk": "r1"}, "ConditionExpression": "x"}}
    put = {"Put": {"TableName": "Messages", "Item": {"pk": "m1", "sk": "MSG#1", "body_ct": "..."}}}
    other = {"Put": {"TableName": "Messages", "Item": {"pk": "m1", "sk": "MSG#2"}}}
    assert key(update) == key(check) != key(put)
    assert key(put) == key(other)  # one partition key: counted as one item (never shared by mistake)
    assert key({"Put": {"TableName": "T", "Item": {"name": "x"}}}) is None
    assert key({"Something": {}}) is None


def test_the_log_writing_more_items_per_record_shrinks_the_groups():
    r = rig(messages=FakeMessagesWithLookups(items_per_record=3))
    r.book.sent_item_count = 30  # 33 items per text: three texts per mark-sent transaction
    outcomes = r.pipeline.send([text(n) for n in range(7)], r.book)
    assert words(outcomes) == ["sent"] * 7
    sizes = [len(t) for t in r.store.transactions]
    # claim, mark sent; per group of 3, 3, 1 (99 mark-sent items cannot share a claim transaction)
    assert sizes == [9, 99, 9, 99, 3, 33]
    assert all(size <= 100 for size in sizes)


def test_a_later_group_sees_the_cap_allowance_an_earlier_group_took():
    r = rig()
    outcomes = r.pipeline.send([text(0, number=5), text(1, number=5)], r.book)
    assert words(outcomes) == ["sent", "deferred_frequency_cap"]
    [(method, key, detail)] = r.book.calls
    assert (method, key) == ("defer", "text-1")
    assert detail.startswith(f"frequency_cap:{(NOW + timedelta(days=1)).isoformat()}")
    assert len(r.store.batch_reads) == 1  # the second group did not read again


# --------------------------------------------------------------------------- policy before the claim
def test_an_opted_out_number_read_in_the_batch_is_stopped_without_a_claim():
    r = rig()
    r.store.opted_out.add("hmac-1")
    assert words(r.pipeline.send([text(0), text(1)], r.book)) == ["sent", "skipped_opted_out"]
    assert ("stop", "text-1", "skipped_opted_out:consent_opted_out_at_send") in r.book.calls
    [claim, _mark] = r.store.transactions
    assert ("consent", "hmac-1") not in [item["target"] for item in claim]
    assert [phone for phone, _ in r.sms.sent] == ["+12065550000"]


def test_quiet_hours_hold_automated_kinds_but_not_a_staff_reply_or_an_emergency_notice():
    r = rig()
    r.clock.at = NOW.replace(hour=3)  # 23:00 in New York
    texts = [text(0), text(1, kind=SURVEY), text(2, kind=STAFF_REPLY), text(3, kind=EMERGENCY_NOTICE)]
    texts[1].not_after = NOW.replace(hour=10)  # 06:00 in New York: it could only go after its deadline
    assert words(r.pipeline.send(texts, r.book)) == [
        "deferred_quiet_hours",
        "skipped_quiet_hours",
        "sent",
        "sent",
    ]
    assert ("defer", "text-0", "quiet_hours:2026-06-01T08:00:00-04:00") in r.book.calls


# --------------------------------------------------------------------------- cancellation reasons
def test_an_opt_out_between_the_read_and_the_claim_stops_that_text_and_the_others_are_claimed_again():
    r = rig()
    real_write = r.store.write

    def stop_arrives_first(items):
        if not r.store.transactions:
            r.store.opted_out.add("hmac-1")  # the patient's STOP lands just before the claim
        real_write(items)

    r.store.write = stop_arrives_first  # type: ignore[method-assign]
    outcomes = r.pipeline.send([text(0), text(1), text(2)], r.book)
    assert words(outcomes) == ["sent", "skipped_opted_out", "sent"]
    first, second, _mark = r.store.transactions
    assert len(first) == 9 and len(second) == 6  # the two that could go, claimed once more
    assert [phone for phone, _ in r.sms.sent] == ["+12065550000", "+12065550002"]


@pytest.mark.parametrize(
    ("item", "code", "word", "retry"),
    [
        (0, "ConditionalCheckFailed", "skipped_opted_out", False),  # consent
        (1, "ConditionalCheckFailed", "claimed_elsewhere", False),  # the kind's own claim
        (2, "ConditionalCheckFailed", "retry_later", True),  # the cap record moved
        (1, "TransactionConflict", "retry_later", True),  # another writer on the item
        (0, "ThrottlingError", "retry_later", True),
    ],
)
def test_each_cancellation_reason_is_classified_without_reading_again(item, code, word, retry):
    r = rig()
    r.store.forced.append({3 + item: code})  # the second text's items start at index 3
    outcomes = r.pipeline.send([text(0), text(1), text(2)], r.book)
    assert (outcomes[1].word, outcomes[1].retry) == (word, retry)
    assert words(outcomes)[0::2] == ["sent", "sent"]
    assert len(r.store.batch_reads) == 1  # classified from the reasons alone
    assert [phone for phone, _ in r.sms.sent] == ["+12065550000", "+12065550002"]
    if word == "claimed_elsewhere":
        assert ("claim_refused", "text-1", "0") in r.book.calls


def test_a_claim_cancelled_twice_sends_the_rest_back_to_the_queue():
    r = rig()
    r.store.forced += [{1: "ConditionalCheckFailed"}, {1: "TransactionConflict"}]
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert [(o.word, o.retry) for o in outcomes] == [("claimed_elsewhere", False), ("retry_later", True)]
    assert len(r.store.transactions) == 2 and r.sms.sent == []
    assert r.store.claims == {}


def test_a_failed_claim_transaction_sends_the_group_back_and_the_next_group_goes_on():
    r = rig(parts_per_second=1.0)
    r.store.fail_writes.append(RuntimeError("ProvisionedThroughputExceeded"))
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert [(o.word, o.retry) for o in outcomes] == [("retry_later", True), ("sent", False)]


# --------------------------------------------------------------------------- Publish outcomes
def test_a_throttled_publish_books_a_new_slot_and_sends_once_under_the_same_claim():
    sleeps: list[float] = []
    r = rig(sleeps=sleeps)
    r.sms.script["+12065550000"] = [SendThrottled("ThrottledException")]
    assert words(r.pipeline.send([text(0)], r.book)) == ["sent"]
    assert r.sms.attempts == ["+12065550000"] * 2 and len(r.sms.sent) == 1
    assert r.pacer.bookings == [([1], None), (1, None)] and sleeps == [0.0]
    assert len(r.store.transactions) == 2


def test_throttled_beyond_the_retries_gives_the_claim_and_the_allowance_back():
    r = rig()
    r.sms.script["+12065550000"] = [SendThrottled("ThrottledException")] * 4
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert [(o.word, o.retry) for o in outcomes] == [("retry_later", True), ("sent", False)]
    assert r.sms.attempts.count("+12065550000") == 4  # one try and three retries
    assert ("release", "text-0", "1") in r.book.calls  # with the cap release item
    assert r.store.caps["hmac-0"].sends == {} and "text-0" not in r.store.claims
    assert r.store.sent.keys() == {"text-1"}


def test_an_unknown_outcome_is_unconfirmed_and_never_retried_a_rejection_is_rejected():
    r = rig()
    r.sms.script["+12065550000"] = [SendOutcomeUnknown("ReadTimeoutError")]
    r.sms.script["+12065550001"] = [SendRejected("InvalidParameter")]
    outcomes = r.pipeline.send([text(0), text(1), text(2)], r.book)
    assert [(o.word, o.retry) for o in outcomes] == [
        ("unconfirmed", False),
        ("rejected", False),
        ("sent", False),
    ]
    assert ("close", "text-0", "unconfirmed:unknown:ReadTimeoutError") in r.book.calls
    assert r.sms.attempts.count("+12065550000") == 1  # one HTTP attempt, no second text
    assert r.store.log.keys() == {"text-2"}


def test_a_busy_schedule_sends_the_group_back_unclaimed():
    r = rig()
    r.pacer.busy.append(True)
    outcomes = r.pipeline.send([text(0), text(1)], r.book, seconds_left=40.0)
    assert all(o.retry for o in outcomes) and r.store.transactions == []
    assert r.pacer.bookings[0][1] == pytest.approx(25.0, abs=0.5)  # 40 s less the bookkeeping reserve
    assert r.pacer.within[0] == pytest.approx(25.0, abs=0.5)  # the last slot too


def test_a_failed_mark_sent_leaves_the_sent_texts_claimed_for_the_redelivery_to_find():
    r = rig()
    real_write = r.store.write

    def mark_sent_fails(items):
        if any("mark_sent" in item for item in items):
            raise RuntimeError("ProvisionedThroughputExceeded")
        real_write(items)

    r.store.write = mark_sent_fails  # type: ignore[method-assign]
    outcomes = r.pipeline.send([text(0), text(1)], r.book)
    assert all(o.retry for o in outcomes) and len(r.sms.sent) == 2
    assert set(r.store.claims) == {"text-0", "text-1"} and r.store.log == {}


# --------------------------------------------------------------------------- a staff reply
def test_a_staff_reply_goes_through_the_same_path_in_one_call_with_its_own_policy():
    r = rig()
    r.clock.at = NOW.replace(hour=3)  # 23:00 in New York: a reminder would be held
    r.store.caps["hmac-9"] = CapRecord("hmac-9", 3, {"t": (NOW - timedelta(hours=1)).isoformat()})
    r.store.phones["hmac-9"] = r.cipher.seal("consent#hmac-9", "phone", "+12065559999")
    reply = OutboundText(
        key="reply-idem-1",
        kind=STAFF_REPLY,
        phone_hmac="hmac-9",
        body=SealedBody("draft#reply-idem-1", r.cipher.seal("draft#reply-idem-1", "body", "Yes, 3pm works")),
        department="nursing",
    )
    assert r.pipeline.send_one(reply, r.book) == "sent"
    assert r.sms.sent == [("+12065559999", "Yes, 3pm works")]
    [claim, mark_sent] = r.store.transactions
    assert [item["target"][0] for item in claim] == ["consent", "text"]  # no cap record: not capped
    assert [item["target"][0] for item in mark_sent] == ["text", "log"]
    assert r.store.log["reply-idem-1"].kind == "staff_reply"
    assert r.store.caps["hmac-9"].version == 3  # the caps were neither read into a claim nor moved
    # The same idempotency key again: the claim refuses it, nothing is sent twice.
    assert r.pipeline.send_one(reply, r.book) == "claimed_elsewhere"
    assert len(r.sms.sent) == 1


def test_a_staff_reply_to_an_opted_out_number_is_not_sent_and_a_throttled_one_comes_back():
    r = rig()
    r.store.opted_out.add("hmac-9")
    reply = OutboundText(key="r1", kind=STAFF_REPLY, phone_hmac="hmac-9", body="ok", phone="+12065559999")
    assert r.pipeline.send_one(reply, r.book) == "skipped_opted_out"
    r.store.opted_out.clear()
    r.sms.script["+12065559999"] = [SendThrottled("ThrottledException")] * 4
    with pytest.raises(RetryLater):
        r.pipeline.send_one(reply, r.book)
    assert r.sms.sent == [] and r.store.claims == {}


def test_a_kind_held_by_quiet_hours_without_a_zone_is_refused_and_the_rest_of_its_group_goes():
    r = rig()
    broken = OutboundText(key="b", kind=BROADCAST, phone_hmac="hmac-1", body="hi", phone="+12065550001")
    outcome, fine = r.pipeline.send([broken, text(2)], r.book)
    assert outcome.retry and "ValueError" in outcome.detail
    assert (fine.word, fine.retry) == ("sent", False) and r.sms.sent == [("+12065550002", text(2).body)]


def test_the_fake_store_refuses_what_dynamodb_refuses():
    store = FakeStore()
    with pytest.raises(ValueError, match="one item"):
        store.write([{"target": ("consent", "h")}, {"target": ("consent", "h")}])
    with pytest.raises(ValueError, match="100"):
        store.write([{"target": ("pad", n)} for n in range(101)])
    book = FakeBook(store)
    assert book.claim_item_count == 1 and FrequencyCaps().per_day == 1


class Died(BaseException):
    """The process dies (not an Exception: nothing in the pipeline may catch it)."""


def test_a_process_dying_in_the_bookkeeping_leaves_no_claimed_text_unpublished():
    r = rig()

    def dies_on_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Died

    r.book.sent_items = dies_on_first  # type: ignore[method-assign]
    with pytest.raises(Died):
        r.pipeline.send([text(n) for n in range(3)], r.book)
    assert len(r.sms.sent) == 3  # every claimed text went out: unconfirmed later, none lost
    assert set(r.store.claims) == {"text-0", "text-1", "text-2"}


def test_a_process_dying_in_the_next_rounds_booking_wait_leaves_the_previous_text_marked_sent():
    # Two texts to one number are two rounds; the second round's booking may sleep for most of the
    # invocation (a busy schedule), so the first round's mark-sent must be written before it.
    r = rig(parts_per_second=1.0)
    book = r.pacer.book

    def dies_in_the_second_booking(parts, **kwargs):  # type: ignore[no-untyped-def]
        if r.pacer.bookings:
            raise Died
        return book(parts, **kwargs)

    r.pacer.book = dies_in_the_second_booking  # type: ignore[method-assign]
    texts = [text(0, number=5, kind=STAFF_REPLY), text(1, number=5, kind=STAFF_REPLY)]
    with pytest.raises(Died):
        r.pipeline.send(texts, r.book)
    assert [phone for phone, _ in r.sms.sent] == ["+12065550005"]
    assert r.store.sent.keys() == {"text-0"} and r.store.claims == {} and r.store.log.keys() == {"text-0"}
