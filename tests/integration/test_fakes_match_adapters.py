"""The in-memory fakes (tests/fakes.py) behave like the DynamoDB adapters they stand in for: the same
script of writes gives the same answers on both, so a unit test on a fake means what it says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.consent.store import DynamoConsentLedger
from shared.core.errors import AlreadyRecorded, Conflict
from shared.core.models import (
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Direction,
    MessageRecord,
)
from shared.crypto.kms import KmsEnvelopeCipher
from shared.messaging.store import DynamoDeliveryBook, DynamoMessageLog
from tests.fakes import FakeConsentLedger, FakeMessageLog

T0 = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
NUMBER = "+12065550123"
HMAC = "a" * 64


@pytest.fixture
def ledgers(stack):
    real = DynamoConsentLedger(stack.table("ConsentTable"), KmsEnvelopeCipher(stack.arn("DataKey")))

    def damage_real(phone_hmac: str) -> None:
        stack.table("ConsentTable").put_item(
            Item={"pk": phone_hmac, "sk": "STATE", "status": "garbled", "version": 3, "updated_at": "x"}
        )

    fake = FakeConsentLedger()
    return [(real, damage_real), (fake, fake.damage)]


def consent_event(n: int, action: ConsentAction, at: datetime, source=ConsentSource.KEYWORD) -> ConsentEvent:
    return ConsentEvent(
        event_id=f"e{n}",
        phone_hmac=HMAC,
        action=action,
        at=at,
        recorded_at=T0 + timedelta(minutes=30),
        channel=Channel.AWS_SMS,
        source=source,
    )


def run_consent_script(ledger, damage) -> list[object]:
    seen: list[object] = [ledger.state(HMAC).status]
    seen.append(ledger.record(consent_event(1, ConsentAction.OPT_IN, T0), NUMBER).status)
    seen.append(
        ledger.record(consent_event(2, ConsentAction.OPT_OUT, T0 + timedelta(minutes=5)), NUMBER).status
    )
    seen.append(
        ledger.record(consent_event(2, ConsentAction.OPT_OUT, T0 + timedelta(minutes=5)), NUMBER).status
    )
    seen.append(
        ledger.record(consent_event(3, ConsentAction.OPT_IN, T0 + timedelta(minutes=1)), NUMBER).status
    )
    damage(HMAC)
    seen.append(ledger.state(HMAC).status)
    try:
        ledger.record(
            consent_event(4, ConsentAction.OPT_IN, T0 + timedelta(minutes=9), ConsentSource.STAFF), NUMBER
        )
        seen.append("recorded")
    except Conflict:
        seen.append("conflict")
    seen.append(
        ledger.record(consent_event(5, ConsentAction.OPT_OUT, T0 + timedelta(minutes=10)), NUMBER).status
    )
    seen.append(
        ledger.record(consent_event(6, ConsentAction.OPT_IN, T0 + timedelta(minutes=11)), NUMBER).status
    )
    seen.append([(e.event_id, e.action.value) for e in ledger.events(HMAC)])
    state = ledger.state(HMAC)
    seen.append((state.status, state.last_event_id, state.updated_at))
    return seen


def test_the_fake_consent_ledger_answers_like_the_dynamodb_one(ledgers):
    (real, damage_real), (fake, damage_fake) = ledgers
    on_real = run_consent_script(real, damage_real)
    assert run_consent_script(fake, damage_fake) == on_real
    assert "conflict" in on_real  # the script does reach the refusal it is meant to compare


def test_both_consent_ledgers_read_many_states_at_once_alike(ledgers):
    """``states()`` (a list page's one batch read) answers like ``state()`` one by one on both."""
    answers = []
    for ledger, damage in ledgers:
        ledger.record(consent_event(1, ConsentAction.OPT_IN, T0), NUMBER)
        other, damaged, never = "b" * 64, "c" * 64, "d" * 64
        ledger.record(
            consent_event(2, ConsentAction.OPT_OUT, T0).model_copy(update={"phone_hmac": other}), NUMBER
        )
        ledger.record(
            consent_event(3, ConsentAction.OPT_IN, T0).model_copy(update={"phone_hmac": damaged}), NUMBER
        )
        damage(damaged)
        asked = [HMAC, other, damaged, never, HMAC]  # a number twice: read once
        states = ledger.states(asked)
        assert {h: s.status for h, s in states.items()} == {h: ledger.state(h).status for h in asked}
        answers.append({h: s.status.value for h, s in states.items()})
    assert answers[0] == answers[1]
    assert answers[0] == {
        HMAC: "opted_in",
        "b" * 64: "opted_out",
        "c" * 64: "unreadable",
        "d" * 64: "unknown",
    }


def message(n: int, at: datetime) -> MessageRecord:
    return MessageRecord(
        message_id=f"m{n}",
        phone_hmac=HMAC,
        direction=Direction.INBOUND,
        kind="other",
        channel=Channel.AWS_SMS,
        status="received",
        created_at=at,
        body=f"text {n}",
    )


def run_log_script(log) -> list[object]:
    seen: list[object] = []
    for n, minutes in ((1, 0), (2, 5), (3, 2)):
        log.append(message(n, T0 + timedelta(minutes=minutes)))
    try:
        log.append(message(2, T0 + timedelta(minutes=5)))
        seen.append("appended twice")
    except AlreadyRecorded:
        seen.append("already recorded")
    log.append(message(2, T0 + timedelta(minutes=6)))  # same id, another position: a different record
    seen.append([(m.message_id, m.created_at) for m in log.thread(HMAC, limit=3)])
    seen.append(log.recorded(HMAC, "m3", T0 + timedelta(minutes=2)))
    seen.append(log.recorded(HMAC, "m3", T0 + timedelta(minutes=3)))
    return seen


def test_the_fake_message_log_answers_like_the_dynamodb_one(stack):
    real = DynamoMessageLog(
        stack.table("MessagesTable"),
        KmsEnvelopeCipher(stack.arn("DataKey")),
        DynamoDeliveryBook(stack.table("DeliveryTable")),
    )
    assert run_log_script(FakeMessageLog()) == run_log_script(real)
