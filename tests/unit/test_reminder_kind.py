"""The reminder kind with in-memory fakes: what a queued reminder must be to be sent, the items it puts
in the pipeline's transactions, and the batch read and transaction adapters' limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.appointments import plan
from shared.appointments.fanout import QueuedReminder
from shared.appointments.reminder_kind import CLAIM_TIMEOUT, triage
from shared.appointments.store.sender import ReminderSender
from shared.appointments.wording import ReminderTemplate
from shared.consent.store import sendable_state_item
from shared.core.clock import iso
from shared.outbound.caps import FrequencyCaps
from shared.outbound.ports import ReadIncomplete, TransactionCancelled
from shared.outbound.store import DynamoBatchReader, DynamoTransactions
from tests.unit.outbound_fakes import (
    NOW,
    FakeCapLedger,
    FakeClock,
    FakeConsent,
    FakeMessages,
    FakePacer,
    FakeSms,
)


class DictCipher:
    def __init__(self) -> None:
        self.sealed: dict[str, tuple[str, dict[str, Any]]] = {}

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str:
        token = f"ct{len(self.sealed)}"
        self.sealed[token] = (record_ref, dict(payload))
        return token

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
        ref, payload = self.sealed[ciphertext]
        if ref != record_ref:
            raise ValueError("bound to another record")
        return dict(payload)


class Table:
    def __init__(self, name: str) -> None:
        self.name = name
        self.items: dict[str, dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.updates.append(request)
        return {}


class Reader:
    def __init__(self, *tables: Table) -> None:
        self.tables = {t.name: t for t in tables}
        self.calls: list[dict[str, list[dict[str, Any]]]] = []

    def get(self, requests: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        self.calls.append({t: [dict(k) for k in keys] for t, keys in requests.items()})
        out: dict[str, list[dict[str, Any]]] = {}
        for name, keys in requests.items():
            table = self.tables.get(name)
            for key in keys:
                if table is not None and str(key["pk"]) in table.items:
                    out.setdefault(name, []).append(dict(table.items[str(key["pk"])]))
        return out


class Writes:
    def __init__(self) -> None:
        self.transactions: list[list[dict[str, Any]]] = []
        self.cancel: list[list[str]] = []

    @staticmethod
    def item_key(item: Mapping[str, Any]) -> Any:
        return item.get("target") or DynamoTransactions.item_key(item)

    def write(self, items: Sequence[Mapping[str, Any]]) -> None:
        self.transactions.append([dict(i) for i in items])
        if self.cancel:
            raise TransactionCancelled(self.cancel.pop(0))


class Setup:
    def __init__(self) -> None:
        self.reminders, self.appointments = Table("reminders"), Table("appointments")
        self.reader = Reader(self.reminders, self.appointments)
        self.writes = Writes()
        self.cipher = DictCipher()
        self.sms = FakeSms()
        self.sender = ReminderSender(
            reminders=self.reminders,
            appointments=self.appointments,
            consent=FakeConsent(),  # type: ignore[arg-type]
            cipher=self.cipher,
            sender=self.sms,
            messages=FakeMessages(),  # type: ignore[arg-type]
            template=ReminderTemplate("Riverside Clinic", "America/New_York"),
            clock=FakeClock(),
            batch_reader=self.reader,
            transactions=self.writes,
            cap_ledger=FakeCapLedger(),
            caps=FrequencyCaps(),
            pacer=FakePacer(),
            parts_per_second=100.0,
        )

    def add(
        self, n: int, *, status: str = plan.QUEUED, appointment: str = "booked", **extra: Any
    ) -> QueuedReminder:
        source = f"appt-{n}"
        contact = self.cipher.encrypt(
            plan.contact_record_ref(source), {"phone": f"+1206555{n:04d}", "first_name": "Sam"}
        )
        self.reminders.items[plan.reminder_pk(source, 2880)] = {
            "pk": plan.reminder_pk(source, 2880),
            "status": status,
            "appointment_version": 1,
            "offset_minutes": 2880,
            "contact_ct": contact,
            **extra,
        }
        self.appointments.items[plan.appointment_pk(source)] = {
            "pk": plan.appointment_pk(source),
            "source_id": source,
            "version": 1,
            "status": appointment,
            "start_at": iso(NOW + timedelta(days=2)),
            "phone_hmac": f"hmac-{n}",
            "time_zone": "America/New_York",
        }
        return QueuedReminder(plan.reminder_pk(source, 2880), plan.appointment_pk(source), 1)


def test_triage_closes_what_is_final_moved_cancelled_or_started_and_waits_for_a_fresh_claim():
    s = Setup()
    message = s.add(1)
    reminder = s.reminders.items[message.reminder_pk]
    appointment = s.appointments.items[message.appointment_pk]
    assert triage(message, reminder, appointment, NOW).send
    assert triage(message, None, appointment, NOW).word == "missing"
    assert triage(message, {**reminder, "status": "sent"}, appointment, NOW).word == "already_sent"
    assert (
        triage(
            QueuedReminder(message.reminder_pk, message.appointment_pk, 2), reminder, appointment, NOW
        ).word
        == "stale_message"
    )
    assert triage(message, reminder, {**appointment, "version": 2}, NOW).write == plan.SUPERSEDED
    assert triage(message, reminder, None, NOW).write == plan.SUPERSEDED
    assert triage(message, reminder, {**appointment, "status": "cancelled"}, NOW).write == plan.CANCELLED
    assert triage(message, reminder, {**appointment, "start_at": iso(NOW)}, NOW).write == plan.SKIPPED_PASSED
    fresh = {**reminder, "status": plan.SENDING, "claimed_at": iso(NOW - timedelta(minutes=1))}
    assert triage(message, fresh, appointment, NOW).retry
    stale = {**fresh, "claimed_at": iso(NOW - CLAIM_TIMEOUT - timedelta(seconds=1))}
    verdict = triage(message, stale, appointment, NOW)
    assert verdict.write == plan.UNCONFIRMED and verdict.abandoned_claim


def test_a_batch_is_one_read_of_reminders_and_appointments_then_one_claim_and_one_mark_sent():
    s = Setup()
    go = [s.add(n) for n in range(3)]
    cancelled = s.add(7, appointment="cancelled")
    fresh = s.add(8, status=plan.SENDING, claimed_at=iso(NOW - timedelta(minutes=1)))
    outcomes = s.sender.send_batch([*go, cancelled, fresh])
    assert [(o.word, o.retry) for o in outcomes] == [
        ("sent", False),
        ("sent", False),
        ("sent", False),
        ("cancelled", False),
        ("retry_later", True),
    ]
    first, numbers = s.reader.calls
    assert set(first) == {"reminders", "appointments"} and len(first["reminders"]) == 5
    assert set(numbers) == {"consent", "control"} and len(numbers["consent"]) == 3
    claim, mark_sent = s.writes.transactions
    assert len(claim) == 12 and len(mark_sent) == 9
    reminder_claim = claim[1]["Update"]
    assert reminder_claim["TableName"] == "reminders"
    assert reminder_claim["ExpressionAttributeValues"][":sending"] == plan.SENDING
    assert claim[2]["ConditionCheck"]["TableName"] == "appointments"
    assert mark_sent[0]["Update"]["ExpressionAttributeValues"][":sent"] == plan.SENT
    assert mark_sent[2]["target"][0] == "log"
    record = mark_sent[2]["record"]
    assert record.kind == "reminder" and record.appointment_id == "appt-0" and "Sam" in record.body
    [stop] = s.reminders.updates
    assert stop["ExpressionAttributeValues"][":final"] == plan.CANCELLED
    assert sorted(phone for phone, _ in s.sms.sent) == ["+12065550000", "+12065550001", "+12065550002"]


@pytest.mark.parametrize(
    ("item", "word"), [(1, "claimed_elsewhere"), (2, "appointment_changed"), (0, "skipped_opted_out")]
)
def test_a_refused_reminder_claim_is_named_from_its_item(item, word):
    s = Setup()
    message = s.add(1)
    reasons = ["None"] * 4
    reasons[item] = "ConditionalCheckFailed"
    s.writes.cancel.append(reasons)
    [outcome] = s.sender.send_batch([message])
    assert (outcome.word, outcome.retry) == (word, False) and s.sms.sent == []
    if word == "skipped_opted_out":
        [stop] = s.reminders.updates
        assert stop["ExpressionAttributeValues"][":detail"] == "consent_opted_out_at_send"


def test_an_abandoned_claim_is_closed_unconfirmed_and_nothing_is_sent():
    s = Setup()
    stale = iso(NOW - CLAIM_TIMEOUT - timedelta(minutes=1))
    message = s.add(1, status=plan.SENDING, claimed_at=stale)
    assert s.sender.send(message) == plan.UNCONFIRMED
    [finish] = s.reminders.updates
    assert finish["ExpressionAttributeValues"][":claimed"] == stale
    assert s.sms.sent == [] and s.writes.transactions == []


def test_a_failed_read_sends_the_whole_batch_back():
    s = Setup()
    messages = [s.add(1), s.add(2)]

    def throttled(requests):  # type: ignore[no-untyped-def]
        raise ReadIncomplete("unprocessed")

    s.reader.get = throttled  # type: ignore[method-assign]
    assert all(o.retry for o in s.sender.send_batch(messages)) and s.sms.sent == []


# --------------------------------------------------------------------------- consent read = condition
@pytest.mark.parametrize(
    ("item", "sendable"),
    [
        (None, True),
        ({"status": "opted_in", "version": Decimal(3), "updated_at": "2026-11-24T15:30:00.000000Z"}, True),
        ({"status": "opted_out", "version": Decimal(3), "updated_at": "2026-11-24T15:30:00.000000Z"}, False),
        ({"status": "opted_in", "version": "3", "updated_at": "2026-11-24T15:30:00.000000Z"}, False),
        ({"status": "opted_in", "version": True, "updated_at": "2026-11-24T15:30:00.000000Z"}, False),
        ({"status": "opted_in", "version": Decimal(3), "updated_at": "0001-01-01T00:00:00Z"}, False),
        ({"status": "something", "version": Decimal(3), "updated_at": "2026-11-24T15:30:00.000000Z"}, False),
    ],
)
def test_the_batch_read_consent_rule_is_the_claims_condition(item, sendable):
    assert sendable_state_item(item) is sendable


# --------------------------------------------------------------------------- the batch read adapter
class Client:
    """``batch_get_item`` answering from a dict; the first ``unprocessed`` answers leave half the keys."""

    def __init__(self, unprocessed: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.unprocessed = unprocessed

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        responses: dict[str, list[dict[str, Any]]] = {}
        left: dict[str, Any] = {}
        for table, request in RequestItems.items():
            assert request["ConsistentRead"] is True
            keys = request["Keys"]
            assert len(keys) == len({k["pk"] for k in keys}), "DynamoDB refuses duplicate keys"
            served = keys
            if self.unprocessed > 0:
                served, rest = keys[: len(keys) // 2], keys[len(keys) // 2 :]
                if rest:
                    left[table] = {"Keys": rest, "ConsistentRead": True}
            responses[table] = [{"pk": k["pk"], "v": 1} for k in served]
        self.unprocessed -= 1
        return {"Responses": responses, "UnprocessedKeys": left}


def test_batch_reads_split_at_one_hundred_keys_and_drop_duplicates():
    client = Client()
    reader = DynamoBatchReader(client, sleep=lambda _s: None)
    found = reader.get(
        {"a": [{"pk": n} for n in range(150)] + [{"pk": 3}], "b": [{"pk": n} for n in range(30)]}
    )
    assert len(found["a"]) == 150 and len(found["b"]) == 30
    assert [sum(len(r["Keys"]) for r in request.values()) for request in client.requests] == [100, 80]


def test_unprocessed_keys_are_read_again_and_counted_then_refused_when_they_stay():
    counted: list[tuple[str, int]] = []

    class Count:
        def count(self, name: str, value: int = 1) -> None:
            counted.append((name, value))

    client = Client(unprocessed=2)
    reader = DynamoBatchReader(client, counter=Count(), sleep=lambda _s: None)
    found = reader.get({"a": [{"pk": n} for n in range(8)]})
    assert sorted(i["pk"] for i in found["a"]) == list(range(8))
    assert reader.unprocessed_rounds == 2 and len(client.requests) == 3
    assert counted == [("BatchGetUnprocessedKeys", 4), ("BatchGetUnprocessedKeys", 2)]
    stuck = DynamoBatchReader(Client(unprocessed=99), sleep=lambda _s: None)
    with pytest.raises(ReadIncomplete):
        stuck.get({"a": [{"pk": n} for n in range(64)]})
