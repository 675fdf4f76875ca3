"""The audit trail in AuditTable (built from template.yaml in moto): serialized appends, queries by
conversation, staff member and period, and verify() against tampering done in the table itself."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from shared.audit.domain import AuditAction, AuditEvent, verify
from shared.audit.service import Verifier
from shared.audit.store import DynamoAuditLog
from shared.core.clock import FixedClock
from shared.core.errors import ConcurrentChange, IntegrityError, InvalidInput
from shared.crypto.kms import KmsEnvelopeCipher
from tests.integration.harness import plaintext_leaks

T0 = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
CONVERSATION = "c_" + "A" * 22
OTHER = "c_" + "B" * 22
REASON = "Patient Jane Roe called about her biopsy result"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def cipher(stack):
    return KmsEnvelopeCipher(stack.arn("DataKey"))


@pytest.fixture
def log(stack, cipher, clock) -> DynamoAuditLog:
    return DynamoAuditLog(stack.table("AuditTable"), cipher, clock)


def event(n: int = 0, **overrides) -> AuditEvent:
    fields = {
        "user_id": f"sub-{n % 2}",
        "username": f"nurse{n % 2}",
        "action": AuditAction.READ,
        "source_ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "conversation_id": CONVERSATION if n % 3 else OTHER,
        "detail": {"via": "department"},
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def fill(log: DynamoAuditLog, clock: FixedClock, count: int, *, step: timedelta = timedelta(minutes=1)):
    records = []
    for n in range(1, count + 1):
        records.append(log.append(event(n)))
        clock.advance(seconds=step.total_seconds())
    return records


def raw(stack, sequence: int) -> dict:
    return stack.table("AuditTable").get_item(Key={"pk": "CHAIN", "sk": sequence})["Item"]


def put_raw(stack, item: dict) -> None:
    stack.table("AuditTable").put_item(Item=item)  # what an attacker with table access would do


def check(log: DynamoAuditLog):
    return verify(log.chain(), head=log.head())


# -- appending ------------------------------------------------------------------------------------


def test_appends_number_and_chain_records_and_the_trail_verifies(log, clock):
    records = fill(log, clock, 5)
    assert [r.sequence for r in records] == [1, 2, 3, 4, 5]
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(records))
    head = log.head()
    assert (head.sequence, head.hash) == (5, records[-1].hash)
    assert log.chain() == records  # what was sealed is exactly what reads back
    assert check(log).intact


def test_a_writer_that_loses_the_race_rereads_the_head_and_retries(stack, cipher, clock):
    table = stack.table("AuditTable")
    slow, fast = DynamoAuditLog(table, cipher, clock), DynamoAuditLog(table, cipher, clock)
    real_transact = slow._client.transact_write_items
    calls = []

    def interleaved(**kwargs):
        if not calls:  # the other writer appends between this one's head read and its transaction
            fast.append(event(1))
        calls.append(kwargs)
        return real_transact(**kwargs)

    slow._client = type("C", (), {"transact_write_items": staticmethod(interleaved)})()
    record = slow.append(event(2))
    assert slow.retries == 1 and len(calls) == 2
    assert record.sequence == 2
    assert check(fast).intact and len(fast.chain()) == 2


def test_a_writer_that_always_loses_gives_up_after_a_bounded_number_of_tries(stack, cipher, clock):
    table = stack.table("AuditTable")
    loser, winner = DynamoAuditLog(table, cipher, clock), DynamoAuditLog(table, cipher, clock)
    real_transact = loser._client.transact_write_items

    def always_beaten(**kwargs):
        winner.append(event(1))
        return real_transact(**kwargs)

    loser._client = type("C", (), {"transact_write_items": staticmethod(always_beaten)})()
    with pytest.raises(ConcurrentChange):
        loser.append(event(2))
    assert loser.retries == 8
    assert check(winner).intact and len(winner.chain()) == 8


def test_stamps_never_go_back_along_the_chain(log, clock):
    first = log.append(event(1))
    clock.advance(minutes=-10)  # another container's clock is behind
    second = log.append(event(2))
    assert second.at >= first.at


def test_the_break_glass_reason_is_stored_encrypted_and_reads_back(stack, log):
    record = log.append(event(1, action=AuditAction.BREAK_GLASS, reason=REASON))
    item = raw(stack, record.sequence)
    assert "reason" not in item and "reason_ct" in item
    assert plaintext_leaks(stack, ["Jane Roe", "biopsy"]) == []
    [read] = log.chain()
    assert read.reason == REASON and check(log).intact


def test_keys_and_indexes_carry_no_phi(stack, log):
    record = log.append(event(1, detail={"message_id": "m-1"}))
    item = raw(stack, record.sequence)
    index_keys = {item["conversation_id"], item["user_id"], item["day"], item["at_sequence"]}
    assert index_keys == {CONVERSATION, "sub-1", "2026-11-24", f"{record.at}#000000000001"}


# -- queries --------------------------------------------------------------------------------------


def test_by_conversation_and_by_user_newest_first_with_a_cursor(log, clock):
    fill(log, clock, 9)
    page = log.by_conversation(CONVERSATION, limit=3)
    ours = [n for n in range(1, 10) if n % 3]
    assert [r.sequence for r in page.records] == ours[::-1][:3] and page.cursor
    rest = log.by_conversation(CONVERSATION, limit=10, cursor=page.cursor)
    assert [r.sequence for r in rest.records] == ours[::-1][3:] and rest.cursor is None
    assert [r.sequence for r in log.by_user("sub-0", limit=50).records] == [8, 6, 4, 2]


def test_by_conversation_within_a_period(log, clock):
    fill(log, clock, 9)
    page = log.by_conversation(CONVERSATION, start=T0 + timedelta(minutes=3), end=T0 + timedelta(minutes=6))
    assert [r.sequence for r in page.records] == [5, 4]  # stamped at minutes 4 and 3; 6 (minute 5) is OTHER's


def test_by_period_spans_days_and_pages(log, clock):
    fill(log, clock, 6, step=timedelta(hours=12))  # three days
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=5)
    seen, cursor = [], None
    while True:
        page = log.by_period(start, end, limit=2, cursor=cursor)
        seen += [r.sequence for r in page.records]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1]
    narrow = log.by_period(T0 + timedelta(hours=12), T0 + timedelta(hours=36))
    assert [r.sequence for r in narrow.records] == [3, 2]


@pytest.mark.parametrize("cursor", ["garbage", "e30", "eyJxIjoiYnlfdXNlciJ9", "x" * 3000])
def test_a_cursor_that_was_not_issued_for_the_query_is_400(log, clock, cursor):
    fill(log, clock, 2)
    with pytest.raises(InvalidInput) as caught:
        log.by_conversation(CONVERSATION, cursor=cursor)
    assert caught.value.field == "cursor"


def test_a_cursor_with_an_out_of_range_position_is_400_not_a_dynamodb_error(log, clock):
    import base64
    import json

    fill(log, clock, 3)
    state = {"q": "by_user", "key": {"pk": "CHAIN", "sk": 10**40, "user_id": "sub-1", "at_sequence": "x"}}
    cursor = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
    with pytest.raises(InvalidInput) as caught:
        log.by_user("sub-1", cursor=cursor)
    assert caught.value.field == "cursor"


def test_a_start_key_dynamodb_refuses_is_the_cursors_fault_not_a_500(log, clock):
    """DynamoDB (not moto) refuses an ExclusiveStartKey outside the key condition's range."""
    from botocore.exceptions import ClientError

    fill(log, clock, 4)
    cursor = log.by_conversation(CONVERSATION, limit=1).cursor

    class RefusingTable:
        meta, name = log._table.meta, log._table.name

        def query(self, **kwargs):
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "outside query boundaries"}}, "Query"
            )

    log._table = RefusingTable()
    with pytest.raises(InvalidInput) as caught:
        log.by_conversation(
            CONVERSATION, start=T0 + timedelta(days=1), end=T0 + timedelta(days=2), cursor=cursor
        )
    assert caught.value.field == "cursor"
    with pytest.raises(ClientError):  # without a cursor it is our bug, and stays a 500
        log.by_conversation(CONVERSATION)


def test_a_cursor_of_one_conversation_cannot_read_another(log, clock):
    fill(log, clock, 9)
    cursor = log.by_conversation(CONVERSATION, limit=1).cursor
    with pytest.raises(InvalidInput):
        log.by_conversation(OTHER, cursor=cursor)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(T0, T0, "to"), (T0, T0 - timedelta(days=1), "to"), (T0, T0 + timedelta(days=400), "to")],
)
def test_a_bad_period_is_400_naming_the_field(log, start, end, field):
    with pytest.raises(InvalidInput) as caught:
        log.by_period(start, end)
    assert caught.value.field == field


@pytest.mark.parametrize("limit", [0, 501, True])
def test_a_bad_limit_is_400(log, limit):
    with pytest.raises(InvalidInput) as caught:
        log.by_user("sub-0", limit=limit)
    assert caught.value.field == "limit"


# -- tampering in the table -----------------------------------------------------------------------


def test_a_field_changed_in_the_table_is_reported_as_that_record(stack, log, clock):
    fill(log, clock, 6)
    item = raw(stack, 3)
    put_raw(stack, {**item, "username": "somebody else"})
    report = check(log)
    assert report.changed == (3,) and not (report.missing or report.reordered or report.broken_links)


def test_a_deleted_record_is_reported_missing(stack, log, clock):
    fill(log, clock, 6)
    stack.table("AuditTable").delete_item(Key={"pk": "CHAIN", "sk": 4})
    report = check(log)
    assert report.missing == (4,) and not (report.changed or report.reordered or report.broken_links)


def test_two_swapped_records_are_reported_reordered(stack, log, clock):
    fill(log, clock, 6)
    two, three = raw(stack, 2), raw(stack, 3)
    put_raw(stack, {**three, "sk": 2})
    put_raw(stack, {**two, "sk": 3})
    report = check(log)
    assert report.reordered == (2, 3) and not (report.changed or report.missing or report.broken_links)


def test_records_deleted_from_the_end_are_reported_truncated(stack, log, clock):
    fill(log, clock, 6)
    for sequence in (5, 6):
        stack.table("AuditTable").delete_item(Key={"pk": "CHAIN", "sk": sequence})
    assert check(log).truncated == (5, 6)


def test_a_moved_reason_ciphertext_does_not_verify(stack, log, clock):
    log.append(event(1, action=AuditAction.BREAK_GLASS, reason=REASON))
    log.append(event(2, action=AuditAction.BREAK_GLASS, reason="a different written reason"))
    first, second = raw(stack, 1), raw(stack, 2)
    put_raw(stack, {**second, "reason_ct": first["reason_ct"]})
    assert check(log).changed == (2,)


def test_an_attribute_of_the_wrong_type_is_reported_not_fatal(stack, log, clock):
    fill(log, clock, 3)
    put_raw(stack, {**raw(stack, 2), "detail": "flattened", "at": 5})
    assert check(log).changed == (2,)


def test_a_deleted_head_stops_appends_at_once_and_verify_reports_it(stack, log, clock):
    fill(log, clock, 3)
    stack.table("AuditTable").delete_item(Key={"pk": "CHAIN", "sk": 0})
    with pytest.raises(IntegrityError):
        log.append(event(4))
    assert log.retries == 0 and len(log.chain()) == 3  # nothing overwritten, no retry storm
    assert check(log).head_mismatch


def test_a_damaged_head_stops_appends_instead_of_forking(stack, log, clock):
    fill(log, clock, 2)
    put_raw(stack, {"pk": "CHAIN", "sk": 0, "last_sequence": "two"})
    with pytest.raises(ConcurrentChange):
        log.append(event(3))


# -- the paged verifier on the table --------------------------------------------------------------


def test_the_paged_verifier_walks_the_table_by_its_keys(stack, log, clock):
    fill(log, clock, 7)
    assert Verifier(log, page=3).run().intact
    forged = raw(stack, 2)
    put_raw(stack, {**forged, "sequence": 10**12})  # a forged sequence cannot make the walk skip ahead
    put_raw(stack, {**raw(stack, 6), "action": "reply"})
    stack.table("AuditTable").delete_item(Key={"pk": "CHAIN", "sk": 4})
    report = Verifier(log, page=3).run()
    assert 10**12 in report.changed and 6 in report.changed and 4 in report.missing


def test_a_verification_run_is_recorded_in_the_trail(log, clock):
    fill(log, clock, 2)
    verifier = Verifier(log)
    report = verifier.run_and_record(
        AuditEvent(
            user_id="sub-admin",
            username="admin",
            action=AuditAction.AUDIT_VERIFY,
            source_ip="",
            user_agent="clinictext-cli",
        )
    )
    assert report.intact and report.checked == 2
    assert [r.action for r in log.chain()] == ["read", "read", "audit_verify"]
    assert verifier.run().intact
