"""Issue 11 §3: ingest in batches. Requests counted as HTTP attempts (botocore's ``before-send``, once per
request sent, retries included), against moto tables built from template.yaml.

A Bundle's appointments are read with one consistent BatchGetItem per 100, reminders are read only for
appointments that exist and changed, writes go in transactions of at most 100 items; UnprocessedKeys are
asked again (and counted); a transaction that loses a race reads again only the entries that lost; the
time budget answers what it did not reach with 503; the fingerprint key is derived once per container.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from infra.demo import reminder_bundle
from shared.appointments import plan
from shared.appointments.fhir import parse_bundle
from shared.appointments.ingest import ingest_bundle
from shared.appointments.store.book import MAX_TRANSACTION_ITEMS, AppointmentBook
from shared.core.clock import SystemClock, iso
from shared.crypto.kms import KmsDerivedFingerprint, KmsEnvelopeCipher, KmsFingerprint, KmsHmacBlindIndex

OFFSETS = [2880, 120]
ZONE = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """HTTP requests by service:operation from every botocore session created while the test runs, and
    the size of every TransactWriteItems sent. The counter goes before moto's own ``before-send``."""
    import botocore.handlers

    seen: dict[str, Any] = {"counts": Counter(), "transaction_sizes": []}

    def count(event_name: str, request: Any = None, **_kwargs: Any) -> None:
        service = event_name.split(".")[1]
        operation = event_name.rsplit(".", 1)[-1]
        seen["counts"][f"{service}:{operation}"] += 1
        if operation == "TransactWriteItems" and request is not None:
            seen["transaction_sizes"].append(len(json.loads(request.body)["TransactItems"]))

    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [("before-send.dynamodb", count), ("before-send.kms", count), *botocore.handlers.BUILTIN_HANDLERS],
    )
    yield seen


def make_book(stack: Any, *, client: Any = None) -> AppointmentBook:
    """The book as wiring builds it, on a session created after the request counter is in place."""
    session = boto3.session.Session(region_name="us-east-1")
    kms = session.client("kms")
    resource = session.resource("dynamodb")
    appointments = resource.Table(stack.table("AppointmentsTable").name)
    reminders = resource.Table(stack.table("RemindersTable").name)
    book = AppointmentBook(
        appointments=appointments,
        reminders=reminders,
        cipher=KmsEnvelopeCipher(stack.arn("DataKey")),
        blind_index=KmsHmacBlindIndex(kms, stack.arn("BlindIndexKey")),
        fingerprint=KmsDerivedFingerprint(kms, stack.arn("BlindIndexKey")),
        offsets=OFFSETS,
        clock=SystemClock(),
        sleep=lambda _seconds: None,
    )
    if client is not None:
        book._client = client  # a wrapper of the real client that misbehaves as DynamoDB may
    return book


def day() -> date:
    return (datetime.now(ZONE) + timedelta(days=5)).date()


def patients(first: int, count: int, *, hour: int = 10) -> list[tuple[str, str, str, str, str, clock_time]]:
    return [
        (f"pat-{n}", "Sam", f"Batch{n}", f"+1206300{n:04d}", f"appt-{n}", clock_time(hour, n % 60))
        for n in range(first, first + count)
    ]


def post(book: AppointmentBook, rows: list[Any], **kwargs: Any) -> list[dict[str, Any]]:
    answer = ingest_bundle(reminder_bundle(day(), rows), book, offsets=OFFSETS, **kwargs)
    assert answer.status == 200
    return [
        e["response"] for e in answer.body["entry"] if "Appointment/" in e["response"].get("location", "")
    ]


def stored(stack: Any, logical: str) -> dict[str, dict[str, Any]]:
    table = stack.table(logical)
    response = table.scan()
    items = response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ExclusiveStartKey=response["LastEvaluatedKey"])
        items += response["Items"]
    return {item["pk"]: item for item in items}


def test_150_new_appointments_take_one_read_per_100_and_transactions_of_at_most_100_items(
    stack: Any, requests: dict[str, Any]
) -> None:
    book = make_book(stack)

    answers = post(book, patients(0, 150))

    assert [a["status"] for a in answers] == ["201 Created"] * 150
    counts = requests["counts"]
    assert counts["dynamodb:BatchGetItem"] == 2  # 150 ids, 100 a request; no reminder reads for new ones
    assert counts["dynamodb:GetItem"] == 0
    per_transaction = MAX_TRANSACTION_ITEMS // (1 + len(OFFSETS))  # an appointment and its reminders, whole
    assert counts["dynamodb:TransactWriteItems"] == math.ceil(150 / per_transaction)
    assert max(requests["transaction_sizes"]) <= MAX_TRANSACTION_ITEMS
    assert sum(requests["transaction_sizes"]) == 150 * (1 + len(OFFSETS))
    # KMS: one blind index per new number (kept: it is the key of consent and messages), one derivation
    # of the fingerprint key, one data key; no fingerprint request per appointment.
    assert counts["kms:GenerateMac"] == 150 + 1
    assert counts["kms:GenerateDataKey"] == 1
    dynamodb = sum(n for op, n in counts.items() if op.startswith("dynamodb:"))
    print(f"\n150 new appointments: {sum(counts.values())} requests ({dynamodb} DynamoDB)")
    assert len(stored(stack, "AppointmentsTable")) == 150
    assert len(stored(stack, "RemindersTable")) == 300

    counts.clear()
    again = post(book, patients(0, 150))

    assert [a["status"] for a in again] == ["200 OK"] * 150
    assert all(a["location"].endswith("/_history/1") for a in again)  # unchanged: nothing rewritten
    assert counts == Counter({"dynamodb:BatchGetItem": 2})


def test_a_mixed_bundle_reads_reminders_only_for_changed_appointments(
    stack: Any, requests: dict[str, Any]
) -> None:
    book = make_book(stack)
    assert {a["status"] for a in post(book, patients(0, 60))} == {"201 Created"}
    before = stored(stack, "RemindersTable")
    requests["counts"].clear()

    # 0-29 unchanged, 30-59 moved an hour later, 60-119 new.
    rows = patients(0, 30) + patients(30, 30, hour=11) + patients(60, 60)
    answers = post(book, rows)

    statuses = [a["status"] for a in answers]
    assert statuses == ["200 OK"] * 60 + ["201 Created"] * 60
    assert [a["location"].rsplit("/", 1)[-1] for a in answers[:60]] == ["1"] * 30 + ["2"] * 30
    counts = requests["counts"]
    # 120 appointments (2 requests of 100 ids) + the 30 moved ones' 60 reminders (1 request).
    assert counts["dynamodb:BatchGetItem"] == 3
    assert counts["dynamodb:GetItem"] == 0
    after = stored(stack, "RemindersTable")
    assert len(after) == 240
    for n in range(60):
        key = plan.reminder_pk(f"appt-{n}", 120)
        moved = after[key]["due_at"] != before[key]["due_at"]
        assert moved == (n >= 30), n


class UnprocessedKeys:
    """The real client, except that BatchGetItem leaves keys unprocessed as DynamoDB may under load:
    ``rounds`` answers hold back every other key (``rounds=None``: every key, always)."""

    def __init__(self, client: Any, rounds: int | None) -> None:
        self._client = client
        self._rounds = rounds
        self.withheld = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, request)] = RequestItems.items()
        if self._rounds is not None and self._rounds <= 0:
            return dict(self._client.batch_get_item(RequestItems=RequestItems))
        keys = request["Keys"]
        held = keys if self._rounds is None else keys[1::2]
        asked = [k for k in keys if k not in held]
        if self._rounds is not None:
            self._rounds -= 1
        self.withheld += len(held)
        response: dict[str, Any] = {"Responses": {table: []}}
        if asked:
            response = dict(self._client.batch_get_item(RequestItems={table: {**request, "Keys": asked}}))
        response["UnprocessedKeys"] = {table: {**request, "Keys": held}} if held else {}
        return response


def test_unprocessed_keys_are_asked_again_and_counted(stack: Any, requests: dict[str, Any]) -> None:
    book = make_book(stack)
    assert {a["status"] for a in post(book, patients(0, 40))} == {"201 Created"}
    flaky = UnprocessedKeys(book._client, rounds=2)
    book = make_book(stack, client=flaky)
    requests["counts"].clear()

    # 0-19 moved (their reminders must be read), 20-39 unchanged: a key left unprocessed and then
    # forgotten would make an existing appointment look new and fail its write, or lose its reminders.
    answers = post(book, patients(0, 20, hour=12) + patients(20, 20))

    assert [a["status"] for a in answers] == ["200 OK"] * 40
    assert [a["location"][-1] for a in answers] == ["2"] * 20 + ["1"] * 20
    assert flaky.withheld > 0
    assert book.unprocessed_retries == 2
    assert requests["counts"]["dynamodb:BatchGetItem"] == 2 + 2  # appointments, reminders, 2 asked again
    assert requests["counts"]["dynamodb:TransactWriteItems"] == 1
    due = {pk: r["due_at"] for pk, r in stored(stack, "RemindersTable").items() if r["status"] == "pending"}
    assert len(due) == 80
    moved_to = datetime.combine(day(), clock_time(12, 0), ZONE)
    assert due[plan.reminder_pk("appt-0", 120)] == iso(moved_to - timedelta(minutes=120))


def test_keys_never_processed_answer_409_and_store_nothing(stack: Any) -> None:
    book = make_book(stack)
    book = make_book(stack, client=UnprocessedKeys(book._client, rounds=None))

    answers = post(book, patients(0, 3))

    assert [a["status"] for a in answers] == ["409 Conflict"] * 3
    assert "could not be read" in answers[0]["outcome"]["issue"][0]["diagnostics"]
    assert stored(stack, "AppointmentsTable") == {}


class LosesOneRace:
    """The real client; before the first transaction, another writer updates one appointment."""

    def __init__(self, client: Any, table: str, source_id: str) -> None:
        self._client = client
        self._table = table
        self._pk = plan.appointment_pk(source_id)
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> Any:
        if not self.raced:
            self.raced = True
            self._client.update_item(
                TableName=self._table,
                Key={"pk": self._pk},
                UpdateExpression="SET version = version + :one",
                ExpressionAttributeValues={":one": 1},
            )
        return self._client.transact_write_items(TransactItems=TransactItems)


def test_a_lost_race_reads_again_only_the_entry_that_lost(stack: Any, requests: dict[str, Any]) -> None:
    book = make_book(stack)
    assert {a["status"] for a in post(book, patients(0, 10))} == {"201 Created"}
    race = LosesOneRace(book._client, stack.table("AppointmentsTable").name, "appt-3")
    book = make_book(stack, client=race)
    requests["counts"].clear()

    answers = post(book, patients(0, 10, hour=13))  # every one moved: one transaction of 30 items

    assert race.raced
    assert [a["status"] for a in answers] == ["200 OK"] * 10
    versions = [a["location"].rsplit("/", 1)[-1] for a in answers]
    assert versions == ["2"] * 3 + ["3"] + ["2"] * 6  # appt-3 was at 2 when read again
    counts = requests["counts"]
    # First round: 10 appointments, 20 reminders, one transaction (cancelled). Second: appt-3 and its 2
    # reminders read again, and one transaction for all ten (the nine did not need a read).
    assert counts["dynamodb:BatchGetItem"] == 4
    assert counts["dynamodb:TransactWriteItems"] == 2
    items = stored(stack, "AppointmentsTable")
    assert int(items[plan.appointment_pk("appt-3")]["version"]) == 3


def test_entries_not_stored_when_the_budget_runs_out_are_503_and_leave_nothing(
    stack: Any, requests: dict[str, Any]
) -> None:
    book = make_book(stack)
    sent = requests["transaction_sizes"]

    answers = post(book, patients(0, 50), time_left=lambda: 1.0 if not sent else 0.0)

    per_transaction = MAX_TRANSACTION_ITEMS // (1 + len(OFFSETS))
    statuses = [a["status"] for a in answers]
    assert statuses == ["201 Created"] * per_transaction + ["503 Service Unavailable"] * (
        50 - per_transaction
    )
    assert answers[-1]["outcome"]["issue"][0]["code"] == "timeout"
    assert len(stored(stack, "AppointmentsTable")) == per_transaction
    assert len(stored(stack, "RemindersTable")) == 2 * per_transaction


def test_an_appointment_stored_with_a_kms_fingerprint_is_still_recognised_unchanged(
    stack: Any, requests: dict[str, Any]
) -> None:
    book = make_book(stack)
    assert post(book, patients(0, 1))[0]["status"] == "201 Created"
    # As stored before format 2: content_hash written by KmsFingerprint (one GenerateMac per appointment).
    table = stack.table("AppointmentsTable")
    item = table.get_item(Key={"pk": plan.appointment_pk("appt-0")})["Item"]
    assert str(item["content_hash"]).startswith(KmsDerivedFingerprint.PREFIX)
    [(_, intake)] = parse_bundle(json.dumps(reminder_bundle(day(), patients(0, 1)))).intakes
    intake_bytes = plan.content_fingerprint_input(intake, OFFSETS)
    legacy = KmsFingerprint(boto3.client("kms"), stack.arn("BlindIndexKey")).of(intake_bytes)
    table.update_item(
        Key={"pk": plan.appointment_pk("appt-0")},
        UpdateExpression="SET content_hash = :h",
        ExpressionAttributeValues={":h": legacy},
    )
    requests["counts"].clear()

    [again] = post(make_book(stack), patients(0, 1))

    assert again["status"] == "200 OK" and again["location"].endswith("/_history/1")
    assert requests["counts"]["dynamodb:TransactWriteItems"] == 0
    # The one format-1 check (only an appointment stored before format 2 needs one).
    assert requests["counts"]["kms:GenerateMac"] == 1


def test_one_appointment_twice_in_one_call_is_stored_in_order(stack: Any) -> None:
    # Bundles and CSV files refuse a repeated id; the book still keeps its promise to any caller.
    book = make_book(stack)
    [(_, first)] = parse_bundle(json.dumps(reminder_bundle(day(), patients(1, 1)))).intakes
    [(_, moved)] = parse_bundle(json.dumps(reminder_bundle(day(), patients(1, 1, hour=14)))).intakes

    answers = book.upsert_many([first, moved])

    assert [(a.outcome, a.version) for a in answers] == [("created", 1), ("updated", 2)]  # type: ignore[union-attr]
    due = stored(stack, "RemindersTable")[plan.reminder_pk("appt-1", 120)]["due_at"]
    assert due == iso(datetime.combine(day(), clock_time(14, 1), ZONE) - timedelta(minutes=120))
