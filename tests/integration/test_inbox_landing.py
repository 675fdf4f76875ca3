"""Issue 12: every patient text that is not a keyword or a reminder answer lands in its department's
conversation, through template.yaml (InboundSmsFunction, ConversationsTable)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import plaintext_leaks
from tests.integration.inbox_helpers import (
    NURSING_LINE,
    PATIENT,
    clinic_departments,
    conversation_in,
    conversations,
    frozen_clock,
    replies_to,
    text,
)

# Monday 2027-03-01, 10:00 in Los Angeles (18:00 UTC): every department is open.
MONDAY_OPEN = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MONDAY_OPEN)


@pytest.fixture
def clinic(stack):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    return stack


def test_a_billing_question_lands_in_billing(clinic, clock) -> None:
    result = text(clinic, clock, MONDAY_OPEN, "Hi, I have a question about my bill from March")
    assert result["processed"][0]["kind"] == "other"
    [conversation] = conversations(clinic)
    assert conversation["department"] == "billing"
    assert conversation["status"] == "open"
    assert conversation["patient_messages"] == 1
    assert conversation["awaiting_reply_since"] == "2027-03-01T18:00:00.000000Z"
    assert conversation["conversation_id"].startswith("c_")
    assert replies_to() == []  # open hours, not urgent: no automated text


def test_a_refill_lands_in_nursing_and_the_texted_number_routes(clinic, clock) -> None:
    text(clinic, clock, MONDAY_OPEN, "Can I get a refill of my blood pressure pills?")
    assert conversation_in(clinic, "nursing")["patient_messages"] == 1
    # The nursing line wins even for a billing word: the clinic number texted is the first rule.
    text(
        clinic,
        clock,
        MONDAY_OPEN + timedelta(minutes=1),
        "what do I owe on my bill",
        from_number="+12065550124",
        to_number=NURSING_LINE,
    )
    nursing = [c for c in conversations(clinic) if c["department"] == "nursing"]
    assert len(nursing) == 2
    assert not [c for c in conversations(clinic) if c["department"] == "billing"]


def test_a_text_no_rule_places_lands_in_the_default_department(clinic, clock) -> None:
    text(clinic, clock, MONDAY_OPEN, "Is there parking near the clinic?")
    assert conversation_in(clinic, "front-desk")["patient_messages"] == 1  # DefaultDepartment


def test_one_conversation_per_number_and_department(clinic, clock) -> None:
    text(clinic, clock, MONDAY_OPEN, "question about my bill")
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=5), "and my copay too")
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=6), "also I need a refill")
    billing = conversation_in(clinic, "billing")
    assert billing["patient_messages"] == 2
    assert billing["version"] == 3  # started, then two patient texts
    assert billing["last_activity_at"] == "2027-03-01T18:05:00.000000Z"
    assert conversation_in(clinic, "nursing")["patient_messages"] == 1
    # Both are found by the number's blind index and department (by_number index), and nothing holds the
    # number or the texts in clear.
    from boto3.dynamodb.conditions import Key

    found = clinic.table("ConversationsTable").query(
        IndexName="by_number", KeyConditionExpression=Key("phone_hmac").eq(billing["phone_hmac"])
    )["Items"]
    assert sorted(item["department"] for item in found) == ["billing", "nursing"]
    assert plaintext_leaks(clinic, [PATIENT, "question about my bill", "my copay too", "need a refill"]) == []


def test_a_closed_conversation_reopens_unread_with_its_activity_bumped(clinic, clock) -> None:
    from shared.inbox.store import DynamoConversationStore

    text(clinic, clock, MONDAY_OPEN, "question about my bill")
    item = conversation_in(clinic, "billing")
    store = _store(clinic)
    record = store.get(item["conversation_id"])
    assert record is not None
    read = record.conversation.mark_read("nurse-1", MONDAY_OPEN + timedelta(minutes=1))
    closed = read.close(by="clerk-7", expected_version=read.version, at=MONDAY_OPEN + timedelta(minutes=2))
    store.save(type(record)(closed, record.after_hours_key, record.escalation), expected_version=read.version)
    assert conversation_in(clinic, "billing")["status"] == "closed"

    text(clinic, clock, MONDAY_OPEN + timedelta(hours=1), "one more thing about the invoice")
    after = store.get(item["conversation_id"])
    assert after is not None and isinstance(store, DynamoConversationStore)
    assert after.conversation.status.value == "open"
    assert after.conversation.closed_at is None
    assert after.conversation.unread_for("clerk-7") and after.conversation.unread_for("nurse-1")
    assert after.conversation.last_activity_at == MONDAY_OPEN + timedelta(hours=1)
    assert after.conversation.history[-1].detail == "reopened"
    assert len(conversations(clinic)) == 1  # the same conversation, not a new one


def test_a_redelivered_text_lands_once_even_after_its_idempotency_record_is_gone(clinic, clock) -> None:
    text(clinic, clock, MONDAY_OPEN, "question about my bill", message_id="in-42")
    text(clinic, clock, MONDAY_OPEN, "question about my bill", message_id="in-42")  # Powertools replay
    _forget_idempotency(clinic)
    text(clinic, clock, MONDAY_OPEN, "question about my bill", message_id="in-42")  # a late redelivery
    billing = conversation_in(clinic, "billing")
    assert billing["patient_messages"] == 1
    assert billing["version"] == 2
    refs = [
        item
        for item in clinic.table("ConversationsTable").scan()["Items"]
        if item["pk"] == billing["conversation_id"] and item["sk"].startswith("msg#")
    ]
    assert len(refs) == 1  # one reference to the logged message, no body in it
    assert set(refs[0]) == {"pk", "sk", "message_id", "direction", "thread_at"}


def test_stop_still_wins_and_never_lands(clinic, clock) -> None:
    from shared.consent.wiring import consent_ledger  # noqa: F401  (the ledger as the functions see it)

    result = text(clinic, clock, MONDAY_OPEN, "STOP")
    assert result["processed"][0]["kind"] == "opt_out"
    assert conversations(clinic) == []
    assert len(replies_to()) == 1  # the one opt-out confirmation
    # A question after STOP lands for staff, and no automated text goes out (opted out).
    saturday_night = datetime(2027, 3, 7, 6, 0, tzinfo=UTC)  # Saturday 22:00 in Los Angeles: closed
    text(clinic, clock, saturday_night, "my incision is bleeding a lot")
    nursing = conversation_in(clinic, "nursing")
    assert nursing["urgent"] is True
    assert len(replies_to()) == 1  # no 911 reply, no after-hours reply to an opted-out number


def _store(stack):  # type: ignore[no-untyped-def]
    from infra.local.stack import function_environment
    from shared.inbox import wiring

    with function_environment(stack.functions["InboundSmsFunction"].environment):
        wiring.inbox_settings.cache_clear()
        return wiring.conversation_store()


def _forget_idempotency(stack) -> None:  # type: ignore[no-untyped-def]
    table = stack.table("IdempotencyTable")
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})
