"""Issue 2: consent recorded by clinic systems through POST /consent and read through /consent/lookup."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from infra.local import events
from infra.local.stack import Stack
from shared.core.clock import parse_iso
from tests.integration.harness import all_items, outbox, plaintext_leaks, text_via_sns, texts_to

FRONT_DESK = "arn:aws:iam::123456789012:user/frontdesk"
PATIENT = "+12065550123"
PACIFIC = timezone(timedelta(hours=-8))


def consent_event(
    body: Any,
    *,
    path: str = "/consent",
    caller: str | None = FRONT_DESK,
    raw: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    return events.http_api_event(
        "POST",
        path,
        body=raw if raw is not None else json.dumps(body),
        headers={"content-type": "application/json"},
        iam_caller=caller,
        **kwargs,
    )


def call(stack: Stack, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = stack.functions["ConsentApiFunction"].invoke(event)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def record(stack: Stack, caller: str | None = FRONT_DESK, **fields: Any) -> tuple[int, dict[str, Any]]:
    return call(stack, consent_event(opt_in(**fields), caller=caller))


def lookup(stack: Stack, phone: str = PATIENT) -> dict[str, Any]:
    status, body = call(stack, consent_event({"phone": phone}, path="/consent/lookup"))
    assert status == 200, body
    return body["consent"]


def opt_in(**fields: Any) -> dict[str, Any]:
    when = datetime.now(PACIFIC).replace(microsecond=0) - timedelta(hours=1)
    return {"phone": "(206) 555-0123", "source": "intake_form", "consented_at": when.isoformat(), **fields}


def ledger(stack: Stack, sk_prefix: str) -> list[dict[str, Any]]:
    return [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"].startswith(sk_prefix)]


def assert_refused(status: int, body: dict[str, Any], expected: int, field: str | None = None) -> None:
    assert status == expected, body
    if field is not None:
        assert body["error"]["field"] == field, body


# -- recording opt-in -----------------------------------------------------------------------------------


def test_intake_form_opt_in_is_recorded_and_confirmed_once(stack):
    fields = opt_in(reference="intake/2026-0042")
    status, body = call(stack, consent_event(fields))
    assert status == 201, body
    assert body["consent"]["status"] == "opted_in" and body["consent"]["source"] == "intake_form"
    assert body["confirmation"] == "sent"

    [event] = ledger(stack, "EVENT#")
    assert event["action"] == "opt_in" and event["source"] == "intake_form" and event["channel"] == "api"
    assert event["event_id"] == body["event_id"] and event["reference"] == "intake/2026-0042"
    assert parse_iso(event["at"]) == datetime.fromisoformat(fields["consented_at"])  # the form's time
    assert parse_iso(event["recorded_at"]) > parse_iso(event["at"])
    [state] = ledger(stack, "STATE")
    assert state["status"] == "opted_in" and "phone_ct" in state

    [confirmation] = texts_to(PATIENT)  # normalized to E.164 before sending through SNS
    for required in ("Riverside Family Clinic", "Msg&data rates may apply", "HELP", "STOP", "msgs/week"):
        assert required in confirmation

    # The same form submitted again is recorded, but the patient is not texted a second time.
    status, body = record(stack)
    assert status == 201 and body["confirmation"] == "not_requested"
    assert len(texts_to(PATIENT)) == 1
    assert len(ledger(stack, "EVENT#")) == 2

    outbound = [m for m in stack.table("MessagesTable").scan()["Items"] if m["direction"] == "outbound"]
    assert len(outbound) == 1 and outbound[0]["kind"] == "consent_confirmation"
    assert plaintext_leaks(stack, [PATIENT, confirmation]) == []


def test_confirmation_can_be_skipped(stack):
    status, body = record(stack, send_confirmation=False)
    assert status == 201 and body["confirmation"] == "not_requested"
    assert outbox() == []


def test_base64_json_body_is_accepted(stack):
    event = consent_event(opt_in(), base64_body=True)
    assert event["isBase64Encoded"] is True
    status, body = call(stack, event)
    assert status == 201, body


def test_lookup_returns_the_state(stack):
    assert lookup(stack) == {"status": "unknown", "updated_at": None, "source": None}
    fields = opt_in()
    record(stack, consented_at=fields["consented_at"])
    state = lookup(stack, "206-555-0123")
    assert state["status"] == "opted_in" and state["source"] == "intake_form"
    assert parse_iso(state["updated_at"]) == datetime.fromisoformat(fields["consented_at"])


# -- who may call -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/consent", "/consent/lookup"])
def test_without_iam_authorizer_context_is_403_and_nothing_stored(stack, path):
    status, body = call(stack, consent_event(opt_in(), path=path, caller=None))
    assert_refused(status, body, 403)
    assert all_items(stack) == [] and outbox() == []


# -- what is refused ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["12345", "+1 206 555 01", "not a number", "+999999999999"])
def test_invalid_phone_is_400_naming_the_field_without_echoing_it(stack, phone):
    event = consent_event(opt_in(phone=phone))
    response = stack.functions["ConsentApiFunction"].invoke(event)
    status, body = response["statusCode"], json.loads(response["body"])
    assert_refused(status, body, 400, "phone")
    assert phone not in response["body"]
    digits = "".join(ch for ch in phone if ch.isdigit())
    assert not digits or digits not in response["body"]
    assert all_items(stack) == [] and outbox() == []


def test_invalid_phone_in_lookup_is_400(stack):
    status, body = call(stack, consent_event({"phone": "12345"}, path="/consent/lookup"))
    assert_refused(status, body, 400, "phone")


@pytest.mark.parametrize(
    "extra",
    [{"first_name": "Maria"}, {"notes": "knee MRI follow-up"}, {"PHONE": PATIENT}],
    ids=["name", "notes", "case-variant"],
)
def test_extra_fields_are_400_and_not_echoed(stack, extra):
    event = consent_event(opt_in(**extra))
    response = stack.functions["ConsentApiFunction"].invoke(event)
    body = json.loads(response["body"])
    assert_refused(response["statusCode"], body, 400, next(iter(extra)))
    for value in extra.values():
        assert value not in response["body"]
    assert all_items(stack) == [] and outbox() == []


def test_extra_fields_in_lookup_are_400(stack):
    status, body = call(stack, consent_event({"phone": PATIENT, "name": "x"}, path="/consent/lookup"))
    assert_refused(status, body, 400, "name")


def test_naive_timestamp_is_400(stack):
    status, body = record(stack, consented_at=datetime.now().replace(microsecond=0).isoformat())
    assert_refused(status, body, 400, "consented_at")
    assert "offset" in body["error"]["message"]
    assert all_items(stack) == []


def test_future_timestamp_is_400(stack):
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    status, body = record(stack, consented_at=tomorrow.isoformat())
    assert_refused(status, body, 400, "consented_at")
    assert "future" in body["error"]["message"]
    assert all_items(stack) == []


def test_small_clock_skew_is_tolerated(stack):
    status, body = record(stack, consented_at=(datetime.now(UTC) + timedelta(minutes=1)).isoformat())
    assert status == 201, body


@pytest.mark.parametrize(
    "fields",
    [
        {"source": "keyword"},
        {"source": "carrier"},
        {"action": "maybe"},
        {"consented_at": "yesterday"},
        {"reference": "has spaces and PHI?"},
        {"phone": None},
    ],
    ids=["source-keyword", "source-carrier", "action", "timestamp-text", "reference", "phone-null"],
)
def test_other_invalid_fields_are_400(stack, fields):
    status, body = record(stack, **fields)
    assert_refused(status, body, 400, next(iter(fields)))
    assert all_items(stack) == []


def test_missing_required_field_is_400(stack):
    fields = opt_in()
    del fields["source"]
    status, body = call(stack, consent_event(fields))
    assert_refused(status, body, 400, "source")


def test_opt_in_dated_before_a_later_stop_is_409(stack):
    text_via_sns(stack, PATIENT, "STOP")  # now
    assert len(texts_to(PATIENT)) == 1
    a_day_ago = datetime.now(UTC) - timedelta(days=1)
    status, body = record(stack, consented_at=a_day_ago.isoformat())
    assert_refused(status, body, 409)
    assert body["error"]["code"] == "conflict"
    assert lookup(stack)["status"] == "opted_out"
    assert len(ledger(stack, "EVENT#")) == 1
    assert len(texts_to(PATIENT)) == 1  # no opt-in confirmation

    # A consent collected after the STOP is a new consent and is honoured.
    status, body = record(stack, consented_at=datetime.now(UTC).isoformat())
    assert status == 201 and body["consent"]["status"] == "opted_in"


def test_staff_opt_out(stack):
    record(stack)
    status, body = record(stack, action="opt_out", source="staff", consented_at=datetime.now(UTC).isoformat())
    assert status == 201, body
    assert body["consent"] == {**body["consent"], "status": "opted_out", "source": "staff"}
    assert lookup(stack)["status"] == "opted_out"
    latest = max(ledger(stack, "EVENT#"), key=lambda e: e["sk"])
    assert latest["action"] == "opt_out" and latest["source"] == "staff" and latest["channel"] == "staff"
    replies = texts_to(PATIENT)
    assert len(replies) == 2 and "unsubscribed" in replies[-1]  # one opt-out confirmation


@pytest.mark.parametrize(
    ("raw", "base64_body"),
    [
        ("{not json", False),
        ("", False),
        ("[1, 2", False),
        ("not base64!!", True),
        (base64.b64encode(b"\xff\xfe not utf-8").decode(), True),
    ],
    ids=["invalid-json", "empty", "truncated", "invalid-base64", "base64-not-utf8"],
)
def test_invalid_json_or_base64_body_is_400(stack, raw, base64_body):
    event = consent_event(None, raw="placeholder")
    event["body"] = raw
    event["isBase64Encoded"] = base64_body
    status, body = call(stack, event)
    assert_refused(status, body, 400, "body")
    assert all_items(stack) == []


@pytest.mark.parametrize("payload", [[], "a string", 42, None])
def test_json_that_is_not_an_object_is_400(stack, payload):
    status, body = call(stack, consent_event(payload))
    assert_refused(status, body, 400)
    assert body["error"]["code"] == "invalid_request"


def test_unknown_route_is_404(stack):
    status, body = call(stack, consent_event(opt_in(), path="/consent/other"))
    assert_refused(status, body, 404)
