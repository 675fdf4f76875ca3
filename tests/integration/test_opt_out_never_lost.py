"""Issue 10 §1: an opt-out is recorded whatever state the consent ledger is in.

A STATE item that cannot be read back (a timestamp the old ``iso()`` wrote for year 1, a status that is
not one ClinicText writes, a missing or garbage version, a ciphertext that does not decrypt) used to make
every read of that number raise: ``/consent/lookup`` answered 500, a signed Twilio STOP answered 500, and
the two-way SMS STOP raised on every retry and was never recorded. Each test writes such an item into the
template's ConsentTable on moto and drives the real entry points.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pytest

from infra.local import events
from infra.local.stack import Stack
from shared.clock import parse_iso
from tests.conftest import TWILIO_TOKEN
from tests.integration.harness import CLINIC_NUMBER, plaintext_leaks, text_via_sns, texts_to
from tests.integration.test_consent_api import call, consent_event, opt_in

PATIENT = "+12065550123"

# What an unreadable STATE item looked like in the field, one corruption per case. ``None`` removes the
# attribute. Every case made ConsentLedger.state() raise before the fix, except ``phone_ct``: the number's
# ciphertext is never decrypted to decide anything, and the repair replaces it.
CORRUPTIONS: dict[str, dict[str, Any]] = {
    "old-iso-year-1": {"updated_at": "1-01-01T00:00:00.000000Z"},
    "garbage-updated-at": {"updated_at": "yesterday"},
    "status-not-in-enum": {"status": "opted_maybe"},
    "status-missing": {"status": None},
    "version-missing": {"version": None},
    "version-garbage": {"version": "seven"},
    "version-fraction": {"version": Decimal("1.5")},
    "source-not-in-enum": {"last_source": "fax"},
    "readmitted-garbage": {"carrier_readmitted_at": "1-01-01T00:00:00.000000Z"},
    "status-wrong-type": {"status": Decimal(3)},
    "phone-ct-garbage": {"phone_ct": "not-a-ciphertext"},
}
RAISED_BEFORE = [case for case in CORRUPTIONS if case != "phone-ct-garbage"]


# -- helpers ------------------------------------------------------------------------------------------


def state_items(stack: Stack) -> list[dict[str, Any]]:
    return [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"] == "STATE"]


def event_items(stack: Stack) -> list[dict[str, Any]]:
    return [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"].startswith("EVENT#")]


def opted_in_then_corrupted(stack: Stack, case: str) -> dict[str, Any]:
    """The patient opted in on an intake form; then their STATE item was damaged as ``case`` says."""
    status, body = call(stack, consent_event(opt_in(send_confirmation=False)))
    assert status == 201, body
    [state] = state_items(stack)
    sets, removes, values, names = [], [], {}, {}
    for n, (attribute, value) in enumerate(CORRUPTIONS[case].items()):
        names[f"#a{n}"] = attribute
        if value is None:
            removes.append(f"#a{n}")
        else:
            sets.append(f"#a{n} = :v{n}")
            values[f":v{n}"] = value
    expression = " ".join(
        part
        for part in (sets and "SET " + ", ".join(sets), removes and "REMOVE " + ", ".join(removes))
        if part
    )
    stack.table("ConsentTable").update_item(
        Key={"pk": state["pk"], "sk": "STATE"},
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        **({"ExpressionAttributeValues": values} if values else {}),
    )
    [corrupt] = state_items(stack)
    return corrupt


def lookup(stack: Stack) -> tuple[int, dict[str, Any]]:
    return call(stack, consent_event({"phone": PATIENT}, path="/consent/lookup"))


def twilio(stack: Stack, body: str, **kwargs: Any) -> dict[str, Any]:
    event = events.twilio_webhook_event(
        TWILIO_TOKEN, from_number=PATIENT, to_number=CLINIC_NUMBER, body=body, **kwargs
    )
    return stack.functions["TwilioWebhookFunction"].invoke(event)


def twiml_messages(response: dict[str, Any]) -> list[str]:
    assert response["statusCode"] == 200, response
    assert response["headers"]["Content-Type"] == "text/xml"
    return [message.text or "" for message in ElementTree.fromstring(response["body"])]


def assert_repaired_opted_out(stack: Stack) -> None:
    """The STATE item reads back as a good opted-out state, with a ciphertext that decrypts."""
    from shared import wiring
    from shared.stores.consent import state_record_ref

    [state] = state_items(stack)
    assert state["status"] == "opted_out"
    assert parse_iso(state["updated_at"])  # reads back
    assert isinstance(state["version"], Decimal) and state["version"] >= 1
    with _function_env(stack, "ConsentApiFunction"):
        payload = wiring.cipher().decrypt(state_record_ref(state["pk"]), state["phone_ct"])
    assert payload == {"phone": PATIENT}
    status, body = lookup(stack)
    assert status == 200 and body["consent"]["status"] == "opted_out", body


class _function_env:
    """The environment one function runs with, for reading what it wrote (KMS key ARNs)."""

    def __init__(self, stack: Stack, logical: str) -> None:
        self._env = stack.functions[logical].environment

    def __enter__(self) -> None:
        import os

        from shared import wiring

        self._saved = {k: os.environ.get(k) for k in self._env}
        os.environ.update(self._env)
        wiring.reset(clients=False)

    def __exit__(self, *_exc: object) -> None:
        import os

        from shared import wiring

        for key, old in self._saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        wiring.reset(clients=False)


# -- reading an unreadable state -------------------------------------------------------------------------


@pytest.mark.parametrize("case", RAISED_BEFORE)
def test_lookup_of_an_unreadable_state_says_so_with_200(stack, case):
    opted_in_then_corrupted(stack, case)
    status, body = lookup(stack)
    assert status == 200, body
    assert body["consent"]["status"] == "unreadable"
    assert "STOP" in body["consent"]["detail"]  # what a person can do about it
    assert PATIENT not in json.dumps(body)


# -- STOP over an unreadable state, on every entry point that records an opt-out --------------------------


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_two_way_sms_stop_over_an_unreadable_state_is_recorded_and_confirmed(stack, case):
    corrupt = opted_in_then_corrupted(stack, case)
    result = text_via_sns(stack, PATIENT, "STOP")
    assert result["processed"][0]["kind"] == "opt_out"
    assert_repaired_opted_out(stack)
    [stop] = [e for e in event_items(stack) if e["action"] == "opt_out"]
    assert stop["keyword"] == "STOP" and stop["channel"] == "aws-sms"
    [confirmation] = texts_to(PATIENT)  # the state could not say it was confirmed before: confirm once
    assert "unsubscribed" in confirmation
    [state] = state_items(stack)
    assert state["last_event_id"] == stop["event_id"] and state["last_event_id"] != corrupt["last_event_id"]
    # A second STOP is recorded and, the state being readable again, not answered twice.
    text_via_sns(stack, PATIENT, "stop")
    assert len(texts_to(PATIENT)) == 1
    assert len([e for e in event_items(stack) if e["action"] == "opt_out"]) == 2
    assert plaintext_leaks(stack, [PATIENT]) == []


@pytest.mark.parametrize("case", RAISED_BEFORE)
def test_signed_twilio_stop_over_an_unreadable_state_is_recorded_and_answered(stack, case):
    opted_in_then_corrupted(stack, case)
    [reply] = twiml_messages(twilio(stack, "STOP"))
    assert "unsubscribed" in reply
    assert_repaired_opted_out(stack)
    assert [e["channel"] for e in event_items(stack) if e["action"] == "opt_out"] == ["twilio"]


@pytest.mark.parametrize("case", RAISED_BEFORE)
def test_staff_opt_out_over_an_unreadable_state_is_recorded(stack, case):
    opted_in_then_corrupted(stack, case)
    status, body = call(stack, consent_event(opt_in(action="opt_out", source="staff")))
    assert status == 201, body
    assert body["consent"]["status"] == "opted_out"
    assert_repaired_opted_out(stack)


def test_an_older_stop_still_wins_over_a_state_stamped_in_the_future(stack):
    """A state whose time lies beyond the event's recording is not a newer decision to respect."""
    opted_in_then_corrupted(stack, "old-iso-year-1")
    [state] = state_items(stack)
    stack.table("ConsentTable").update_item(
        Key={"pk": state["pk"], "sk": "STATE"},
        UpdateExpression="SET updated_at = :t, version = :v",
        ExpressionAttributeValues={":t": "2999-01-01T00:00:00.000000Z", ":v": 1},
    )
    text_via_sns(stack, PATIENT, "STOP")
    assert_repaired_opted_out(stack)


# -- opting in over an unreadable state -------------------------------------------------------------------


@pytest.mark.parametrize("case", ["old-iso-year-1", "status-not-in-enum", "version-garbage"])
def test_a_clinic_system_opt_in_over_an_unreadable_state_is_409_and_changes_nothing(stack, case):
    corrupt = opted_in_then_corrupted(stack, case)
    events_before = event_items(stack)
    status, body = call(stack, consent_event(opt_in()))
    assert status == 409, body
    assert "cannot be read" in body["error"]["message"] and "START" in body["error"]["message"]
    assert state_items(stack) == [corrupt] and event_items(stack) == events_before
    assert texts_to(PATIENT) == []


def test_the_patients_own_start_over_an_unreadable_state_opts_in(stack):
    opted_in_then_corrupted(stack, "status-not-in-enum")
    text_via_sns(stack, PATIENT, "START")
    [state] = state_items(stack)
    assert state["status"] == "opted_in" and parse_iso(state["updated_at"])
    [confirmation] = texts_to(PATIENT)
    assert "Msg&data rates may apply" in confirmation


# -- the ledger's history ---------------------------------------------------------------------------------


def test_a_bad_event_item_does_not_hide_the_rest_of_the_history(stack):
    from shared import wiring
    from shared.stores.consent import DynamoConsentLedger

    call(stack, consent_event(opt_in(send_confirmation=False)))
    [state] = state_items(stack)
    stack.table("ConsentTable").put_item(
        Item={
            "pk": state["pk"],
            "sk": "EVENT#1-01-01T00:00:00.000000Z#old",
            "record_type": "consent_event",
            "event_id": "old",
            "action": "opt_in",
            "at": "1-01-01T00:00:00.000000Z",
            "recorded_at": "1-01-01T00:00:00.000000Z",
            "channel": "api",
            "source": "intake_form",
        }
    )
    text_via_sns(stack, PATIENT, "STOP")
    with _function_env(stack, "ConsentApiFunction"):
        ledger: DynamoConsentLedger = wiring.consent_ledger()
        history = ledger.events(state["pk"])
    assert [e.action.value for e in history] == ["opt_in", "opt_out"]


# -- sending fails closed ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["old-iso-year-1", "status-not-in-enum", "version-garbage", "status-missing"]
)
def test_no_reminder_is_sent_to_a_number_whose_state_cannot_be_read(stack, monkeypatch, case):
    from shared.clock import SystemClock
    from tests.fixtures.fhir_samples import MAGGIE_MOBILE
    from tests.integration.test_reminders import (
        FIRST_RUN,
        SENDER_NOW,
        deliver,
        future_bundle,
        post_bundle,
        receive,
        reminders,
        scheduled_run,
    )

    monkeypatch.setattr(SystemClock, "now", lambda self: SENDER_NOW)
    post_bundle(stack, future_bundle())
    status, body = call(stack, consent_event(opt_in(phone=MAGGIE_MOBILE, send_confirmation=False)))
    assert status == 201, body
    [state] = state_items(stack)
    changes = CORRUPTIONS[case]
    [(attribute, value)] = changes.items()
    if value is None:
        stack.table("ConsentTable").update_item(
            Key={"pk": state["pk"], "sk": "STATE"},
            UpdateExpression="REMOVE #a",
            ExpressionAttributeNames={"#a": attribute},
        )
    else:
        stack.table("ConsentTable").update_item(
            Key={"pk": state["pk"], "sk": "STATE"},
            UpdateExpression="SET #a = :v",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":v": value},
        )
    monkeypatch.setattr(SystemClock, "now", lambda self: FIRST_RUN)
    scheduled_run(stack, FIRST_RUN)
    assert deliver(stack, receive(stack)) == {"batchItemFailures": []}
    assert texts_to(MAGGIE_MOBILE) == []
    maggie = [r for pk, r in reminders(stack).items() if pk.startswith("rem#appt-5001#")]
    assert "skipped_opted_out" in {r["status"] for r in maggie}


def test_a_repair_does_not_clobber_a_writer_that_replaced_the_item_meanwhile(stack, monkeypatch):
    """The repair is conditional on the unreadable item it read: another writer's state is kept."""
    from datetime import UTC, datetime

    from shared import wiring
    from shared.models import Channel, ConsentAction, ConsentEvent, ConsentSource
    from shared.stores.consent import DynamoConsentLedger

    opted_in_then_corrupted(stack, "version-garbage")
    [state] = state_items(stack)
    now = datetime.now(UTC)
    with _function_env(stack, "ConsentApiFunction"):
        ledger: DynamoConsentLedger = wiring.consent_ledger()
        read = ledger._read
        raced: list[bool] = []

        def read_then_someone_writes(phone_hmac: str):  # type: ignore[no-untyped-def]
            result = read(phone_hmac)
            if not raced:  # between our read and our write, another writer puts a good state
                raced.append(True)
                stack.table("ConsentTable").put_item(
                    Item={
                        **state,
                        "status": "opted_out",
                        "version": 5,
                        "last_event_id": "other",
                        "updated_at": "2026-01-01T00:00:00.000000Z",
                    }
                )
            return result

        monkeypatch.setattr(ledger, "_read", read_then_someone_writes)
        result = ledger.record(
            ConsentEvent(
                event_id="ours",
                phone_hmac=state["pk"],
                action=ConsentAction.OPT_OUT,
                at=now,
                recorded_at=now,
                channel=Channel.STAFF,
                source=ConsentSource.STAFF,
            ),
            PATIENT,
        )
    assert raced
    # Our opt-out went on top of the other writer's version 5 (read again), not over it from scratch.
    assert result.version == 6
    [final] = state_items(stack)
    assert final["version"] == 6 and final["last_event_id"] == "ours" and final["status"] == "opted_out"


# -- an inbound text never becomes a retry loop, and its opt-out is never lost ----------------------------


def parked(stack: Stack) -> list[dict[str, Any]]:
    """Everything on the encrypted failure queue: (reason, source, raw event)."""
    import boto3

    sqs, found = boto3.client("sqs"), []
    while True:
        got = sqs.receive_message(
            QueueUrl=stack.ref("AsyncFailureQueue"), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return found
        for message in got:
            attributes = message.get("MessageAttributes", {})
            found.append(
                {
                    "reason": attributes["reason"]["StringValue"],
                    "source": attributes["source"]["StringValue"],
                    "raw": json.loads(message["Body"]),
                }
            )


def a_bug_in_the_inbound_service(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from shared.inbound import InboundService

    def broken(self, text):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug that fails the same way on every retry")

    monkeypatch.setattr(InboundService, "handle", broken)


def dynamodb_says(code: str, monkeypatch, *, times: int = 1) -> None:  # type: ignore[no-untyped-def]
    """The message log's next ``times`` writes fail with ``code`` (after the SDK's own retries)."""
    from botocore.exceptions import ClientError

    from shared.stores.messages import DynamoMessageLog

    append = DynamoMessageLog.append
    left = [times]

    def failing(self, record):  # type: ignore[no-untyped-def]
        if left[0] > 0:
            left[0] -= 1
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "PutItem")
        return append(self, record)

    monkeypatch.setattr(DynamoMessageLog, "append", failing)


def sns_text(stack: Stack, body: str, *, message_id: str | None = None, timestamp: str | None = None) -> Any:
    message = events.two_way_sms_message(PATIENT, CLINIC_NUMBER, body, message_id=message_id)
    event = events.sns_event(stack.ref("InboundSmsTopic"), json.dumps(message), timestamp=timestamp)
    return stack.functions["InboundSmsFunction"].invoke(event)


def test_a_stop_the_service_cannot_process_is_recorded_parked_and_not_retried(stack, monkeypatch):
    call(stack, consent_event(opt_in(send_confirmation=False)))
    a_bug_in_the_inbound_service(monkeypatch)
    result = sns_text(stack, "STOP")  # returns: SNS and Lambda have nothing to retry
    [outcome] = result["processed"]
    assert outcome["parked"] == "processing failed: RuntimeError" and outcome["opt_out_recorded"] is True
    [state] = state_items(stack)
    assert state["status"] == "opted_out"
    [stop] = [e for e in event_items(stack) if e["action"] == "opt_out"]
    assert stop["keyword"] == "STOP" and stop["source"] == "keyword"
    [kept] = parked(stack)
    assert kept["source"] == "two-way-sms" and kept["reason"] == "processing failed: RuntimeError"
    assert json.loads(kept["raw"]["Sns"]["Message"])["messageBody"] == "STOP"  # an operator can replay it


def test_a_plain_words_opt_out_the_service_cannot_process_is_recorded_too(stack, monkeypatch):
    call(stack, consent_event(opt_in(send_confirmation=False)))
    a_bug_in_the_inbound_service(monkeypatch)
    sns_text(stack, "please stop texting me")
    [state] = state_items(stack)
    assert state["status"] == "opted_out"


def test_another_text_the_service_cannot_process_is_parked_and_changes_no_consent(stack, monkeypatch):
    call(stack, consent_event(opt_in(send_confirmation=False)))
    before = state_items(stack)
    a_bug_in_the_inbound_service(monkeypatch)
    [outcome] = sns_text(stack, "Is there parking near the clinic?")["processed"]
    assert outcome["parked"] == "processing failed: RuntimeError" and outcome["opt_out_recorded"] is False
    assert state_items(stack) == before
    [kept] = parked(stack)
    assert kept["source"] == "two-way-sms"


def test_a_refused_write_is_parked_not_retried(stack, monkeypatch):
    dynamodb_says("AccessDeniedException", monkeypatch)
    [outcome] = sns_text(stack, "STOP")["processed"]
    assert outcome["parked"] == "processing failed: ClientError"
    [state] = state_items(stack)
    assert state["status"] == "opted_out"
    assert len(parked(stack)) == 1


def test_a_throttled_stop_is_recorded_raised_for_the_retry_and_the_retry_confirms_once(stack, monkeypatch):
    from botocore.exceptions import ClientError

    dynamodb_says("ProvisionedThroughputExceededException", monkeypatch)
    message = events.two_way_sms_message(PATIENT, CLINIC_NUMBER, "STOP")
    event = events.sns_event(stack.ref("InboundSmsTopic"), json.dumps(message))
    function = stack.functions["InboundSmsFunction"]
    with pytest.raises(ClientError):
        function.invoke(event)  # raised: Lambda retries this asynchronous invocation with the same event
    [state] = state_items(stack)
    assert state["status"] == "opted_out"  # recorded before the failure was raised
    assert parked(stack) == [] and texts_to(PATIENT) == []
    function.invoke(event)  # the retry
    [confirmation] = texts_to(PATIENT)  # the reply the failed attempt still owed, once
    assert "unsubscribed" in confirmation
    assert len([e for e in event_items(stack) if e["action"] == "opt_out"]) == 1
    function.invoke(event)  # a further redelivery is a replay: nothing more is sent
    assert len(texts_to(PATIENT)) == 1


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:00:00.000Z", "not a time", "9999-12-31T23:59:59.999Z", "1899-12-31T23:00:00Z"],
)
def test_a_stop_with_an_unusable_timestamp_is_parked_and_still_opts_out(stack, timestamp):
    """Year 1 used to be accepted: the STOP was stored as older than the opt-in and lost to it."""
    call(stack, consent_event(opt_in(send_confirmation=False)))
    [outcome] = sns_text(stack, "STOP", timestamp=timestamp)["processed"]
    assert outcome["rejected"] == "inbound SMS notification has an invalid timestamp (field Timestamp)"
    assert outcome["opt_out_recorded"] is True
    assert_repaired_opted_out(stack)
    [kept] = parked(stack)
    assert kept["reason"] == "inbound SMS notification has an invalid timestamp (field Timestamp)"


def test_a_malformed_record_without_a_usable_number_is_parked_and_changes_nothing(stack):
    message = {"originationNumber": "not a number", "destinationNumber": CLINIC_NUMBER, "messageBody": "STOP"}
    event = events.sns_event(stack.ref("InboundSmsTopic"), json.dumps(message))
    [outcome] = stack.functions["InboundSmsFunction"].invoke(event)["processed"]
    assert outcome["opt_out_recorded"] is False and outcome["rejected"]
    assert state_items(stack) == [] and event_items(stack) == []
    assert len(parked(stack)) == 1


def test_a_signed_twilio_stop_the_service_cannot_process_is_recorded_and_confirmed(stack, monkeypatch):
    call(stack, consent_event(opt_in(send_confirmation=False)))
    a_bug_in_the_inbound_service(monkeypatch)
    [reply] = twiml_messages(twilio(stack, "STOP"))
    assert "unsubscribed" in reply
    [state] = state_items(stack)
    assert state["status"] == "opted_out"
    assert [e["channel"] for e in event_items(stack) if e["action"] == "opt_out"] == ["twilio"]
    [kept] = parked(stack)
    assert kept["source"] == "twilio-webhook" and kept["reason"] == "processing failed: RuntimeError"


def test_a_second_twilio_stop_through_the_last_resort_is_not_confirmed_twice(stack, monkeypatch):
    twiml_messages(twilio(stack, "STOP"))
    a_bug_in_the_inbound_service(monkeypatch)
    assert twiml_messages(twilio(stack, "STOP")) == []  # recorded, not answered a second time
    assert len([e for e in event_items(stack) if e["action"] == "opt_out"]) == 2


def test_another_twilio_text_the_service_cannot_process_is_parked_and_answered(stack, monkeypatch):
    a_bug_in_the_inbound_service(monkeypatch)
    assert twiml_messages(twilio(stack, "What time do you open?")) == []  # kept for an operator
    assert state_items(stack) == []
    assert len(parked(stack)) == 1


def test_a_twilio_text_that_fails_transiently_is_parked_and_answered_503(stack, monkeypatch):
    dynamodb_says("ThrottlingException", monkeypatch)
    response = twilio(stack, "What time do you open?")
    assert response["statusCode"] == 503, response
    assert "retry" in json.loads(response["body"])["error"]["message"]
    assert len(parked(stack)) == 1
