"""Issue 2: inbound texts through the SNS two-way topic, keywords, consent ledger, replies, audit."""

from __future__ import annotations

import json

import pytest

from infra.local import events
from tests.integration.harness import CLINIC_NUMBER, outbox, plaintext_leaks, text_via_sns, texts_to
from tests.integration.inbox_helpers import open_around_the_clock

PATIENT = "+12065550123"


def consent_items(stack, sk_prefix: str):
    items = stack.table("ConsentTable").scan()["Items"]
    return [item for item in items if item["sk"].startswith(sk_prefix)]


def messages(stack):
    return stack.table("MessagesTable").scan()["Items"]


def test_stop_opts_out_records_event_and_replies_once(stack):
    text_via_sns(stack, PATIENT, "STOP")
    replies = texts_to(PATIENT)
    assert len(replies) == 1
    assert "Riverside Family Clinic" in replies[0] and "unsubscribed" in replies[0]
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_out"
    [event] = consent_items(stack, "EVENT#")
    assert event["action"] == "opt_out" and event["source"] == "keyword" and event["keyword"] == "STOP"
    assert event["channel"] == "aws-sms"

    # A second STOP is recorded but not answered again: one confirmation only.
    text_via_sns(stack, PATIENT, "stop")
    assert len(texts_to(PATIENT)) == 1
    assert len(consent_items(stack, "EVENT#")) == 2


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        " Stop. ",
        "STOP ALL",
        "stopall",
        "Unsubscribe",
        "CANCEL",
        "end",
        "QUIT",
        "revoke",
        "OPT-OUT",
        "opt out",
        "OPTOUT",
        "remove",
        "Arrêt",
        "ARRET",
        "td",
    ],
)
def test_every_opt_out_word_opts_out(stack, body):
    text_via_sns(stack, PATIENT, body)
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_out"


# Opt-out words that are neither a carrier keyword nor a plain-words revocation ("stop it", "please stop"
# are: tests/integration/test_revocation_inbound.py).
@pytest.mark.parametrize("body", ["don't stop", "stop by the office", "I need to cancel my appointment"])
def test_opt_out_words_only_match_the_whole_message(stack, body):
    open_around_the_clock(stack)  # no after-hours reply (issue 12), whatever hour the suite runs
    text_via_sns(stack, PATIENT, body)
    assert consent_items(stack, "STATE") == []
    assert texts_to(PATIENT) == []  # not understood: kept for staff, no "invalid response" reply
    [stored] = messages(stack)
    assert stored["kind"] == "other" and stored["direction"] == "inbound"


def test_start_opts_back_in_with_ctia_confirmation(stack):
    text_via_sns(stack, PATIENT, "STOP")
    text_via_sns(stack, PATIENT, "START")
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_in"
    confirmation = texts_to(PATIENT)[-1]
    for required in ("Riverside Family Clinic", "Msg&data rates may apply", "HELP", "STOP", "msgs/week"):
        assert required in confirmation
    started = [e for e in consent_items(stack, "EVENT#") if e["action"] == "opt_in"]
    assert started[0]["carrier_sync"] == "not_on_carrier_list"


def test_start_readmits_on_aws_opt_out_list_once_per_30_days(stack):
    carrier_opted_out = "+12065550199"  # moto reports numbers ending in 99 as on SNS's opt-out list
    text_via_sns(stack, carrier_opted_out, "START")
    text_via_sns(stack, carrier_opted_out, "STOP")
    text_via_sns(stack, carrier_opted_out, "START")
    syncs = [
        e["carrier_sync"]
        for e in sorted(consent_items(stack, "EVENT#"), key=lambda e: e["sk"])
        if e["action"] == "opt_in"
    ]
    assert syncs == ["readmitted", "readmit_blocked_30_day_limit"]
    [state] = consent_items(stack, "STATE")
    assert "carrier_readmitted_at" in state


def test_help_is_answered_even_when_opted_out(stack):
    text_via_sns(stack, PATIENT, "STOP")
    text_via_sns(stack, PATIENT, "help")
    text_via_sns(stack, PATIENT, "INFO")
    replies = texts_to(PATIENT)
    assert len(replies) == 3
    for reply in replies[1:]:
        assert "Riverside Family Clinic" in reply and "(206) 555-0100" in reply and "STOP" in reply
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_out"  # HELP does not change consent


def test_redelivered_text_is_processed_once(stack):
    text_via_sns(stack, PATIENT, "STOP", message_id="inbound-1")
    result = text_via_sns(stack, PATIENT, "STOP", message_id="inbound-1")
    assert result["processed"][0]["replayed"] is True
    assert len(texts_to(PATIENT)) == 1
    assert len(consent_items(stack, "EVENT#")) == 1
    assert len(messages(stack)) == 2  # one inbound, one reply


def test_other_text_is_stored_encrypted_in_thread(stack, monkeypatch):
    open_around_the_clock(stack)  # no after-hours reply (issue 12), whatever hour the suite runs
    body = "Hi, this is Maria Lopez, can you call me about my knee MRI results?"
    text_via_sns(stack, PATIENT, body)
    [stored] = messages(stack)
    assert stored["direction"] == "inbound" and stored["status"] == "received"
    assert "body_ct" in stored and body not in json.dumps(stored, default=str)
    assert plaintext_leaks(stack, [PATIENT, body, "Maria", "Lopez", "MRI"]) == []

    from shared.messaging import wiring

    # The function's environment for this read only (monkeypatch restores it: no settings leak into
    # the next test on this worker).
    for name, value in stack.functions["InboundSmsFunction"].environment.items():
        monkeypatch.setenv(name, value)
    thread = wiring.message_log().thread(stored["pk"])
    assert thread[0].body == body


def test_reply_goes_from_the_number_the_patient_texted(stack, monkeypatch):
    sent = []
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):
        if operation == "Publish":
            sent.append(params)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    text_via_sns(stack, PATIENT, "HELP")
    [publish] = sent
    assert publish["PhoneNumber"] == PATIENT
    attrs = publish["MessageAttributes"]
    assert attrs["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"
    assert attrs["AWS.MM.SMS.OriginationNumber"]["StringValue"] == CLINIC_NUMBER


def test_no_plaintext_phi_anywhere_after_a_conversation(stack):
    open_around_the_clock(stack)  # no after-hours reply (issue 12), whatever hour the suite runs
    for body in ["HELP", "STOP", "START", "Running 10 min late - Jane Doe"]:
        text_via_sns(stack, PATIENT, body)
    assert len(outbox()) == 3
    assert plaintext_leaks(stack, [PATIENT, "Running 10 min late", "Jane Doe"]) == []


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        json.dumps({"originationNumber": PATIENT}),
        json.dumps(events.two_way_sms_message("12345", CLINIC_NUMBER, "STOP")),
        json.dumps(events.two_way_sms_message(PATIENT, CLINIC_NUMBER, "x" * 5000)),
        json.dumps({**events.two_way_sms_message(PATIENT, CLINIC_NUMBER, "STOP"), "inboundMessageId": ""}),
        # A forged duplicate key: pydantic alone kept the last one and handled "STOP" as "hello".
        json.dumps(events.two_way_sms_message(PATIENT, CLINIC_NUMBER, "STOP"))[:-1]
        + ', "messageBody": "hello"}',
        # Deep nesting refused by the one JSON parser, not by a RecursionError.
        '{"originationNumber": "' + PATIENT + '", "x": ' + "[" * 990 + "]" * 990 + "}",
    ],
)
def test_malformed_inbound_is_parked_and_changes_nothing(stack, message):
    event = events.sns_event(stack.ref("InboundSmsTopic"), message)
    result = stack.functions["InboundSmsFunction"].invoke(event)
    assert "rejected" in result["processed"][0]
    assert outbox() == []
    assert stack.table("ConsentTable").scan()["Items"] == []
    assert stack.table("MessagesTable").scan()["Items"] == []
    import boto3

    parked = boto3.client("sqs").receive_message(
        QueueUrl=stack.ref("AsyncFailureQueue"), MessageAttributeNames=["All"]
    )["Messages"]
    assert len(parked) == 1 and parked[0]["MessageAttributes"]["source"]["StringValue"] == "two-way-sms"
