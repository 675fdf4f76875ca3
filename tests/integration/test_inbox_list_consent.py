"""Issue 12, list items' consent state, through template.yaml: a patient who texts STOP lists as opted
out, a damaged consent record as unreadable (never opted in), and a page costs one BatchGetItem of
ConsentTable whatever its length (no GetItem per item), within InboxApiFunction's policy."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.client import BaseClient

from tests.integration.inbox_helpers import (
    Clock,
    clinic_departments,
    conversations,
    frozen_clock,
    text,
)
from tests.integration.test_delivery_batches import _granted
from tests.integration.test_inbox_conversations_api import call

MONDAY_OPEN = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles, nursing open
NUMBERS = [f"+1206555014{n}" for n in range(6)]


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MONDAY_OPEN)


@pytest.fixture
def clinic(stack, clock):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    for n, number in enumerate(NUMBERS):
        text(stack, clock, MONDAY_OPEN + timedelta(minutes=n), "About my refill", from_number=number)
    return stack


class ConsentCalls:
    """Every DynamoDB call the functions make on ConsentTable, by operation (BatchGetItem counted by the
    tables it names)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.counts: Counter[str] = Counter()

    def tables(self, operation: str, params: dict[str, Any]) -> list[str]:
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return list(params.get("RequestItems", {}))
        if operation == "TransactWriteItems":
            return [body["TableName"] for item in params["TransactItems"] for body in item.values()]
        return [params.get("TableName", "")]


@pytest.fixture
def consent_calls(stack, monkeypatch):  # type: ignore[no-untyped-def]
    calls = ConsentCalls(stack.ref("ConsentTable"))
    original = BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: Any) -> Any:
        if self.meta.service_model.service_name == "dynamodb" and calls.table in calls.tables(
            operation, params
        ):
            calls.counts[operation] += 1
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    return calls


def listed(stack: Any, clock: Clock, query: str = "") -> dict[str, str]:
    status, _h, body = call(stack, clock, "nurse", "GET", f"/inbox/conversations{query}")
    assert status == 200, body
    by_id = {c["conversation_id"]: c["phone_hmac"] for c in conversations(stack)}
    return {by_id[item["id"]]: item["consent"] for item in json.loads(body)["conversations"]}


def hmac_of(stack: Any, number: str) -> str:
    """The number's blind index: the conversations were started in NUMBERS' order, a minute apart."""
    ordered = sorted(conversations(stack), key=lambda c: str(c["first_inbound_at"]))
    return str(ordered[NUMBERS.index(number)]["phone_hmac"])


def test_a_patient_who_texts_stop_lists_as_opted_out_and_a_page_is_one_consent_batch_read(
    clinic, clock, consent_calls
) -> None:
    stopped, never = NUMBERS[0], NUMBERS[1]
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=10), "STOP", from_number=stopped)
    clock.now = MONDAY_OPEN + timedelta(minutes=11)

    consent_calls.counts.clear()
    shown = listed(clinic, clock)
    assert len(shown) == len(NUMBERS)
    assert shown[hmac_of(clinic, stopped)] == "opted_out"
    # the others never texted a keyword nor were recorded by a clinic system: no record, not opted in
    assert shown[hmac_of(clinic, never)] == "unknown"
    assert consent_calls.counts == Counter({"BatchGetItem": 1})  # six items, one request, no GetItem
    # the one read, and InboxApiFunction's policy grants it on ConsentTable (InboxSendPath)
    assert ("dynamodb:BatchGetItem", clinic.ref("ConsentTable")) in _granted("InboxApiFunction", clinic)

    consent_calls.counts.clear()
    assert len(listed(clinic, clock, "?limit=2")) == 2
    assert consent_calls.counts == Counter({"BatchGetItem": 1})


def test_a_damaged_consent_record_lists_as_unreadable_never_as_opted_in(clinic, clock) -> None:
    damaged = hmac_of(clinic, NUMBERS[2])
    clinic.table("ConsentTable").put_item(
        Item={"pk": damaged, "sk": "STATE", "status": "opted_in", "version": "one", "updated_at": "x"}
    )
    shown = listed(clinic, clock)
    assert shown[damaged] == "unreadable"
