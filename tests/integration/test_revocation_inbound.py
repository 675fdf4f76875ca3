"""Issue 10 §5: opt-outs in plain words through both inbound entry points the template declares.

AWS two-way SMS (``InboundSmsTopic`` -> ``InboundSmsFunction``) and the signed Twilio webhook
(``POST /webhooks/twilio`` -> ``TwilioWebhookFunction``): a clear revocation is an opt-out with the one
confirmation, a reminder answer that says "cancel" is not, and an unclear one pauses texts and gets one
clarification only, however often it is redelivered.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from infra.local import events
from infra.local.stack import Stack
from tests.conftest import TWILIO_TOKEN
from tests.integration.harness import CLINIC_NUMBER, outbox, plaintext_leaks, text_via_sns, texts_to
from tests.integration.test_twilio_webhook import twiml_messages


@pytest.fixture(autouse=True)
def _staffed_around_the_clock(request):  # type: ignore[no-untyped-def]
    """Texts here arrive at the wall clock's time: the default department answers around the clock, so
    no after-hours reply (issue 12) depends on when the suite runs."""
    if "stack" in request.fixturenames:
        from tests.integration.inbox_helpers import open_around_the_clock

        open_around_the_clock(request.getfixturevalue("stack"))


PATIENT = "+12065550123"
CONFIRMATION = "Riverside Family Clinic: You are unsubscribed and will receive no more texts."
CLARIFICATION = "Riverside Family Clinic: We have paused our texts to you. To keep getting appointment texts"


def consent_items(stack: Stack, sk_prefix: str) -> list[dict[str, Any]]:
    return [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"].startswith(sk_prefix)]


def state(stack: Stack) -> str | None:
    items = consent_items(stack, "STATE")
    return str(items[0]["status"]) if items else None


def messages(stack: Stack, direction: str = "inbound") -> list[dict[str, Any]]:
    items = stack.table("MessagesTable").scan()["Items"]
    return sorted((m for m in items if m["direction"] == direction), key=lambda m: m["sk"])


def forget_idempotency(stack: Stack) -> None:
    """As if the first delivery's idempotency record were gone (expired, or the function died before it
    was saved): a redelivery then runs the whole service again."""
    table = stack.table("IdempotencyTable")
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})


def redeliver_via_sns(stack: Stack, from_number: str, body: str, *, message_id: str, at: str) -> Any:
    """SNS redelivers the very notification: the same message and the same ``Timestamp``."""
    message = events.two_way_sms_message(from_number, CLINIC_NUMBER, body, message_id=message_id)
    event = events.sns_event(
        stack.ref("InboundSmsTopic"), json.dumps(message), message_id=f"sns-{message_id}", timestamp=at
    )
    return stack.functions["InboundSmsFunction"].invoke(event)


def twilio(stack: Stack, body: str, *, sid: str | None = None, from_number: str = PATIENT) -> list[str]:
    event = events.twilio_webhook_event(
        TWILIO_TOKEN, from_number=from_number, to_number=CLINIC_NUMBER, body=body, message_sid=sid
    )
    return twiml_messages(stack.functions["TwilioWebhookFunction"].invoke(event))


# -- AWS two-way SMS --------------------------------------------------------------------------------


def test_sns_plain_words_opt_out_is_recorded_like_stop_with_one_confirmation(stack):
    text_via_sns(stack, PATIENT, "please stop texting me")
    assert texts_to(PATIENT) == [CONFIRMATION + " Reply START to resubscribe."]
    assert state(stack) == "opted_out"
    [event] = consent_items(stack, "EVENT#")
    assert event["action"] == "opt_out" and event["source"] == "keyword" and event["channel"] == "aws-sms"
    assert event["keyword"] == "phrase:stop_texting"  # the rule that matched, never the body
    [inbound] = messages(stack)
    assert inbound["kind"] == "opt_out"

    # Another way of saying it, and then STOP: recorded, never a second confirmation.
    text_via_sns(stack, PATIENT, "Stop texting me!!")
    text_via_sns(stack, PATIENT, "STOP")
    assert len(texts_to(PATIENT)) == 1
    assert len(consent_items(stack, "EVENT#")) == 3 and state(stack) == "opted_out"
    assert plaintext_leaks(stack, [PATIENT, "please stop texting me", "Stop texting me!!"]) == []


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ("Unsubscribe me please", "phrase:unsubscribe"),
        ("no more texts", "phrase:no_more_texts"),
        ("take me off your list", "phrase:take_me_off"),
        ("dont text me anymore", "phrase:dont_text_me"),
    ],
)
def test_sns_other_clear_wordings_opt_out(stack, body, rule):
    text_via_sns(stack, PATIENT, body)
    assert state(stack) == "opted_out"
    assert [e["keyword"] for e in consent_items(stack, "EVENT#")] == [rule]
    assert len(texts_to(PATIENT)) == 1 and texts_to(PATIENT)[0].startswith(CONFIRMATION)


def test_sns_spanish_revocation_is_confirmed_in_spanish(stack):
    text_via_sns(stack, PATIENT, "No me manden más mensajes por favor")
    assert state(stack) == "opted_out"
    [reply] = texts_to(PATIENT)
    assert reply.startswith("Riverside Family Clinic: Se dio de baja") and "START" in reply
    assert reply.isascii()  # GSM-7: no accent turns it into a UCS-2 text


def test_sns_unclear_message_pauses_and_gets_one_clarification_even_when_redelivered(stack):
    at = events.sns_timestamp()
    result = redeliver_via_sns(stack, PATIENT, "stop it", message_id="unclear-1", at=at)
    assert result["processed"][0]["kind"] == "opt_out_unclear"
    [clarification] = texts_to(PATIENT)
    assert clarification.startswith(CLARIFICATION) and "START" in clarification
    # "No answer means revoked": the number is opted out from this text on.
    assert state(stack) == "opted_out"
    [event] = consent_items(stack, "EVENT#")
    assert event["keyword"] == "unclear:stop"
    [inbound] = messages(stack)
    assert inbound["kind"] == "opt_out_unclear"  # what a staff inbox lists for follow-up
    [reply] = messages(stack, "outbound")
    assert reply["kind"] == "reply_opt_out_unclear" and reply["status"] == "sent"

    # The same text redelivered: replayed, nothing sent.
    again = redeliver_via_sns(stack, PATIENT, "stop it", message_id="unclear-1", at=at)
    assert again["processed"][0]["replayed"] is True
    # Redelivered after its idempotency record is gone: the service runs again, the ledger says the
    # episode has had its clarification.
    forget_idempotency(stack)
    redeliver_via_sns(stack, PATIENT, "stop it", message_id="unclear-1", at=at)
    # Another unclear text in the same episode.
    text_via_sns(stack, PATIENT, "cancel please", message_id="unclear-2")
    assert texts_to(PATIENT) == [clarification]
    assert len(consent_items(stack, "EVENT#")) == 2  # one per text, never one per delivery

    # START ends the episode; a later unclear text starts a new one with its own single clarification.
    text_via_sns(stack, PATIENT, "START")
    assert state(stack) == "opted_in"
    text_via_sns(stack, PATIENT, "end this")
    assert texts_to(PATIENT)[-1].startswith(CLARIFICATION) and len(texts_to(PATIENT)) == 3
    assert state(stack) == "opted_out"


@pytest.mark.parametrize(
    "body",
    ["can I cancel and rebook?", "I need to cancel my appointment", "stop by the office", "don't stop"],
)
def test_sns_answers_that_use_opt_out_words_are_not_opt_outs(stack, body):
    text_via_sns(stack, PATIENT, body)
    assert consent_items(stack, "EVENT#") == [] and state(stack) is None
    assert texts_to(PATIENT) == []  # no reminded appointment: left to staff, no reply
    [inbound] = messages(stack)
    assert inbound["kind"] == "other"


# -- a reminded patient: the reminder-answer router and a paused number ------------------------------------


def reminded(stack, monkeypatch) -> tuple[str, Any]:
    """Maggie and Thanh booked, both reminded once; returns Thanh's number and the test_reminders module."""
    from shared.core.clock import SystemClock
    from tests.integration import test_reminders as flow

    monkeypatch.setattr(SystemClock, "now", lambda self: flow.SENDER_NOW)
    flow.post_bundle(stack, flow.future_bundle())
    flow.scheduled_run(stack, flow.FIRST_RUN)
    flow.deliver(stack, flow.receive(stack))
    assert len(texts_to(flow.THANH_MOBILE)) == 1
    return flow.THANH_MOBILE, flow


def test_reminder_answer_cancel_and_rebook_is_a_reschedule_request_not_an_opt_out(stack, monkeypatch):
    thanh, flow = reminded(stack, monkeypatch)
    text_via_sns(stack, thanh, "can I cancel and rebook?")
    assert consent_items(stack, "EVENT#") == []
    assert "reschedule" in texts_to(thanh)[-1]
    assert flow.get_appointment(stack, "appt-5002")[1]["reply"]["status"] == "reschedule_requested"


def test_unclear_message_pauses_reminders_until_start(stack, monkeypatch):
    from shared.core.clock import SystemClock

    thanh, flow = reminded(stack, monkeypatch)
    text_via_sns(stack, thanh, "Stop it!")
    assert texts_to(thanh)[-1].startswith(CLARIFICATION)
    # The two-hour reminders: Thanh's is skipped while his texts are paused.
    monkeypatch.setattr(SystemClock, "now", lambda self: flow.START - timedelta(minutes=50))
    flow.scheduled_run(stack, flow.START - timedelta(minutes=119) + timedelta(hours=1))
    flow.deliver(stack, flow.receive(stack))
    assert flow.reminders(stack)["rem#appt-5002#120"]["status"] == "skipped_opted_out"
    assert len(texts_to(thanh)) == 2  # the reminder and the clarification
    text_via_sns(stack, thanh, "START")
    assert [e["action"] for e in sorted(consent_items(stack, "EVENT#"), key=lambda e: e["sk"])] == [
        "opt_out",
        "opt_in",
    ]


# -- the signed Twilio webhook -------------------------------------------------------------------------


def test_twilio_plain_words_opt_out_with_one_confirmation(stack):
    [reply] = twilio(stack, "please stop texting me", sid="SM" + "a" * 32)
    assert reply.startswith(CONFIRMATION)
    assert state(stack) == "opted_out"
    [event] = consent_items(stack, "EVENT#")
    assert event["keyword"] == "phrase:stop_texting" and event["channel"] == "twilio"
    assert twilio(stack, "please stop texting me", sid="SM" + "a" * 32) == []  # Twilio's retry
    assert twilio(stack, "STOP") == []  # already opted out: recorded, not answered
    assert outbox() == []  # replies travel as TwiML
    assert plaintext_leaks(stack, [PATIENT, "please stop texting me"]) == []


def test_twilio_reminder_answer_is_not_an_opt_out(stack):
    assert twilio(stack, "can I cancel and rebook?") == []
    assert consent_items(stack, "EVENT#") == []
    [inbound] = messages(stack)
    assert inbound["kind"] == "other"


def test_twilio_unclear_message_gets_one_clarification_even_when_redelivered(stack):
    sid = "SM" + "b" * 32
    [clarification] = twilio(stack, "stop it", sid=sid)
    assert clarification.startswith(CLARIFICATION)
    assert state(stack) == "opted_out"
    assert twilio(stack, "stop it", sid=sid) == []  # Twilio's retry of the same message
    forget_idempotency(stack)
    assert twilio(stack, "stop it", sid=sid) == []  # rerun in full: the ledger already has the episode
    assert twilio(stack, "I need to cancel") == []  # another unclear text in the same episode
    assert {m["kind"] for m in messages(stack)} == {"opt_out_unclear"}
    assert [m["kind"] for m in messages(stack, "outbound")] == ["reply_opt_out_unclear"]
    assert {e["keyword"] for e in consent_items(stack, "EVENT#")} == {"unclear:stop", "unclear:cancel"}
