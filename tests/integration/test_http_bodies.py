"""Issue 10 §6: every route of the template's HTTP API refuses bad input with a 4xx, through one body parser.

Each case below is a body or header that gave a 500 or was accepted before: 990-deep nesting and a 4,301-digit
integer (500s), duplicate keys and coerced types (accepted: ``"include_body": "yes"`` decrypted the bodies),
and JSON under any content type (accepted). Every refused case must change no table and send no text; the
accepted media types (odd case, a charset) must still work, on the Twilio webhook too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.local import events
from infra.local.stack import Stack
from tests.conftest import TWILIO_TOKEN
from tests.integration.harness import CLINIC_NUMBER, all_items, outbox

IAM = "arn:aws:iam::123456789012:user/frontdesk"
PATIENT = "+12065550123"
TEMPLATE = (
    "{clinic_name}: Hi {first_name}, see you {when}[ at {location}]. "
    "Reply C to confirm, R to reschedule, STOP to opt out."
)


def _consented_at() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()


# (function, method, path, route, path parameters, a body the route accepts, the status it answers with)
def routes() -> list[tuple[str, str, str, str, dict[str, str] | None, dict[str, Any], int]]:
    return [
        (
            "ConsentApiFunction",
            "POST",
            "/consent",
            "/consent",
            None,
            {
                "phone": PATIENT,
                "source": "intake_form",
                "consented_at": _consented_at(),
                "send_confirmation": False,
            },
            201,
        ),
        ("ConsentApiFunction", "POST", "/consent/lookup", "/consent/lookup", None, LOOKUP, 200),
        ("MessagesApiFunction", "POST", "/messages/lookup", "/messages/lookup", None, LOOKUP, 200),
        ("MessagesApiFunction", "POST", "/templates/check", "/templates/check", None, TEMPLATE_BODY, 200),
        (
            "MessagesApiFunction",
            "PUT",
            "/templates/reminder",
            "/templates/{name}",
            {"name": "reminder"},
            {"body": TEMPLATE},
            201,
        ),
        (
            "AppointmentsApiFunction",
            "POST",
            "/appointments",
            "/appointments",
            None,
            {"resourceType": "Bundle", "type": "batch", "entry": []},
            200,
        ),
    ]


ROUTE_IDS = ["POST /consent", "POST /consent/lookup", "POST /messages/lookup", "POST /templates/check"]
ROUTE_IDS += ["PUT /templates/{name}", "POST /appointments"]
LOOKUP = {"phone": PATIENT}
TEMPLATE_BODY = {"body": TEMPLATE}


def call(
    stack: Stack,
    route: tuple[Any, ...],
    body: str | bytes,
    content_type: str | None = "application/json",
) -> dict[str, Any]:
    function, method, path, template_route, params, _valid, _status = route
    event = events.http_api_event(
        method,
        path,
        route_key=f"{method} {template_route}",
        body=body,
        headers={"content-type": content_type} if content_type is not None else {},
        iam_caller=IAM,
        path_parameters=params,
        base64_body=False,
    )
    return stack.functions[function].invoke(event)


def snapshot(stack: Stack) -> set[str]:
    return {json.dumps([logical, item], sort_keys=True, default=str) for logical, item in all_items(stack)}


def assert_refused(stack: Stack, response: dict[str, Any], status: int, before: set[str]) -> dict[str, Any]:
    assert response["statusCode"] == status, response
    answer = json.loads(response["body"])
    assert snapshot(stack) == before, "refused input changed a table"
    assert outbox() == [], "refused input sent a text"
    return answer


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _with(valid: dict[str, Any], value_text: str) -> str:
    """The valid body with one more member holding ``value_text`` (raw JSON), placed first."""
    return '{"x": ' + value_text + ", " + json.dumps(valid)[1:]


def _duplicate(valid: dict[str, Any]) -> str:
    key = next(iter(valid))
    return "{" + json.dumps(key) + ': "first", ' + json.dumps(valid)[1:]


HOSTILE_BODIES = {
    # value: (JSON text built from the route's valid body, status, what the answer says)
    "990-deep array as a field": (lambda valid: _with(valid, nested(990)), 400, "nested"),
    "990-deep array as the body": (lambda valid: nested(990), 400, "nested"),
    "5000-deep objects": (lambda valid: '{"a":' * 5000 + "1" + "}" * 5000, 400, "nested"),
    "4301-digit integer": (lambda valid: _with(valid, "1" * 4301), 400, "digits"),
    "exponent that overflows": (lambda valid: _with(valid, "1e99999"), 400, "range"),
    "long float text": (lambda valid: _with(valid, "0." + "1" * 400), 400, "digits"),
    "NaN": (lambda valid: _with(valid, "NaN"), 400, "NaN"),
    "-Infinity": (lambda valid: _with(valid, "-Infinity"), 400, "NaN"),
    "duplicate key": (_duplicate, 400, "twice"),
    "top-level array": (lambda valid: json.dumps([valid]), 400, "object"),
    "top-level string": (lambda valid: json.dumps("x"), 400, "object"),
    "escaped lone surrogate": (lambda valid: _with(valid, '"\\ud800"'), 400, "surrogate"),
}


def test_hostile_json_is_a_400_on_every_route(stack):
    wrong = []
    for route, name in zip(routes(), ROUTE_IDS, strict=True):
        for case, (make, status, says) in HOSTILE_BODIES.items():
            before = snapshot(stack)
            response = call(stack, route, make(route[5]))
            answer = json.loads(response["body"])
            if response["statusCode"] != status or says.lower() not in json.dumps(answer).lower():
                wrong.append(f"{name} {case}: {response['statusCode']} {response['body'][:200]}")
            assert snapshot(stack) == before, f"{name} {case}: refused input changed a table"
    assert outbox() == [], "refused input sent a text"
    assert not wrong, "\n".join(wrong)


OTHER_MEDIA_TYPES = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/jsonx",
    "application/json; charset=latin-1",
    "json",
    "application/json, text/plain",
    "multipart/form-data; boundary=x",
    "application/fhir+json",  # FHIR's type, read by POST /appointments only
]


def test_a_json_route_refuses_other_media_types_with_415_naming_the_header(stack):
    wrong = []
    for route, name in zip(routes(), ROUTE_IDS, strict=True):
        for content_type in OTHER_MEDIA_TYPES:
            if name == "POST /appointments" and content_type == "application/fhir+json":
                continue
            before = snapshot(stack)
            response = call(stack, route, json.dumps(route[5]), content_type)
            answer = json.loads(response["body"])
            names_it = (
                "content type" in json.dumps(answer).lower() or "content-type" in json.dumps(answer).lower()
            )
            if response["statusCode"] != 415 or not names_it:
                wrong.append(f"{name} {content_type!r}: {response['statusCode']} {response['body'][:200]}")
            if name != "POST /appointments":
                assert answer["error"]["field"] == "content-type", answer
            assert snapshot(stack) == before, f"{name} {content_type!r}: refused input changed a table"
    assert outbox() == [], "refused input sent a text"
    assert not wrong, "\n".join(wrong)


def test_json_media_types_are_matched_case_insensitively(stack):
    wrong = []
    for content_type in [
        "Application/JSON",
        "application/json; charset=utf-8",
        "APPLICATION/JSON;Charset=utf8",
    ]:
        for route, name in zip(routes(), ROUTE_IDS, strict=True):
            response = call(stack, route, json.dumps(route[5]), content_type)
            if not 200 <= response["statusCode"] < 300:
                wrong.append(f"{name} {content_type!r}: {response['statusCode']} {response['body'][:200]}")
    assert not wrong, "\n".join(wrong)


def test_fhir_json_is_accepted_on_appointments(stack):
    appointments = routes()[5]
    body = json.dumps(appointments[5])
    response = call(stack, appointments, body, "Application/FHIR+JSON; charset=UTF-8; fhirVersion=4.0")
    assert response["statusCode"] == 200, response


WRONG_TYPES = [
    (0, "send_confirmation", 1),
    (0, "send_confirmation", "false"),
    (0, "phone", 12065550123),
    (0, "consented_at", 1_700_000_000),
    (0, "action", ["opt_out"]),
    (1, "phone", 12065550123),
    (2, "include_body", "yes"),
    (2, "include_body", 1),
    (2, "limit", "5"),
    (2, "limit", 5.0),
    (2, "limit", True),
    (2, "limit", 101),
    (2, "phone", None),
    (3, "body", ["a"]),
    (4, "body", 5),
]


def test_wrong_types_are_400_naming_the_field_not_coerced(stack):
    wrong = []
    for route_index, field, value in WRONG_TYPES:
        route = routes()[route_index]
        before = snapshot(stack)
        response = call(stack, route, json.dumps({**route[5], field: value}))
        answer = json.loads(response["body"])
        if response["statusCode"] != 400 or answer["error"].get("field") != field:
            wrong.append(f"{ROUTE_IDS[route_index]} {field}={value!r}: {response['body'][:200]}")
        assert snapshot(stack) == before, f"{field}={value!r}: refused input changed a table"
    assert outbox() == [], "refused input sent a text"
    assert not wrong, "\n".join(wrong)


def test_oversized_json_body_is_413(stack):
    route = routes()[1]
    before = snapshot(stack)
    body = json.dumps({"phone": PATIENT, "pad": "x" * (70 * 1024)})
    answer = assert_refused(stack, call(stack, route, body), 413, before)
    assert answer["error"]["field"] == "body"


# -- path parameters ------------------------------------------------------------------------------------


def test_path_parameters_are_validated(stack):
    wrong = []
    before = snapshot(stack)
    for method in ("GET", "PUT"):
        for name in ["x" * 300, "../reminder", "REMINDER", "reminder\n", "", "remin der"]:
            event = events.http_api_event(
                method,
                "/templates/x",
                route_key=f"{method} /templates/{{name}}",
                body=json.dumps({"body": TEMPLATE}) if method == "PUT" else None,
                headers={"content-type": "application/json"},
                iam_caller=IAM,
                path_parameters={"name": name},
            )
            response = stack.functions["MessagesApiFunction"].invoke(event)
            if response["statusCode"] != 400 or json.loads(response["body"])["error"].get("field") != "name":
                wrong.append(f"{method} /templates/{name!r}: {response['body'][:200]}")
    for appointment_id in ["x" * 65, "a/b", "appt 1", "appt\u202e1", "%2e%2e", ""]:
        event = events.http_api_event(
            "GET",
            "/appointments/x",
            route_key="GET /appointments/{id}",
            iam_caller=IAM,
            path_parameters={"id": appointment_id},
        )
        response = stack.functions["AppointmentsApiFunction"].invoke(event)
        if response["statusCode"] != 400 or json.loads(response["body"])["error"].get("field") != "id":
            wrong.append(f"GET /appointments/{appointment_id!r}: {response['body'][:200]}")
    assert snapshot(stack) == before, "refused input changed a table"
    assert not wrong, "\n".join(wrong)


def test_a_valid_unknown_appointment_id_is_still_404(stack):
    event = events.http_api_event(
        "GET",
        "/appointments/appt-404",
        route_key="GET /appointments/{id}",
        iam_caller=IAM,
        path_parameters={"id": "appt-404"},
    )
    assert stack.functions["AppointmentsApiFunction"].invoke(event)["statusCode"] == 404


# -- the Twilio webhook: media type matched case-insensitively, signature still checked ---------------------


def _signed_stop(content_type: str) -> dict[str, Any]:
    event = events.twilio_webhook_event(
        TWILIO_TOKEN, from_number=PATIENT, to_number=CLINIC_NUMBER, body="STOP"
    )
    event["headers"]["content-type"] = content_type  # the signature covers URL and parameters, not headers
    return event


@pytest.mark.parametrize(
    "content_type",
    [
        "Application/x-www-form-urlencoded; charset=UTF-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded;charset=utf-8",
    ],
)
def test_signed_twilio_stop_with_an_odd_cased_media_type_is_recorded(stack, content_type):
    response = stack.functions["TwilioWebhookFunction"].invoke(_signed_stop(content_type))
    assert response["statusCode"] == 200, response
    [state] = [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"] == "STATE"]
    assert state["status"] == "opted_out"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/json", "application/x-www-form-urlencoded; charset=latin-1"]
)
def test_signed_twilio_request_with_another_media_type_is_415(stack, content_type):
    before = snapshot(stack)
    response = stack.functions["TwilioWebhookFunction"].invoke(_signed_stop(content_type))
    answer = assert_refused(stack, response, 415, before)
    assert answer["error"]["field"] == "content-type"


def test_forged_twilio_request_with_an_odd_cased_media_type_is_still_403(stack):
    event = _signed_stop("Application/X-WWW-Form-Urlencoded")
    event["headers"]["x-twilio-signature"] = "forged"
    before = snapshot(stack)
    assert_refused(stack, stack.functions["TwilioWebhookFunction"].invoke(event), 403, before)
