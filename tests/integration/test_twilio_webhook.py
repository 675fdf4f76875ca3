"""Issue 2: the Twilio-compatible webhook, driven with genuinely signed requests.

Every request is built by ``infra.local.events.twilio_webhook_event`` (Twilio's own ``RequestValidator``
signs it) and invoked through ``TwilioWebhookFunction`` as API Gateway's HTTP API would invoke it.
"""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree

import boto3
import pytest
from twilio.request_validator import RequestValidator

from infra.local import events
from infra.local.stack import Stack
from tests.conftest import TWILIO_TOKEN
from tests.integration.harness import CLINIC_NUMBER, all_items, outbox, plaintext_leaks
from tests.integration.inbox_helpers import open_around_the_clock

PATIENT = "+12065550123"
API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"
WEBHOOK_URL = f"https://{API_HOST}/webhooks/twilio"
CUSTOM_BASE = "https://sms.example-clinic.org"


# -- helpers ----------------------------------------------------------------------------------------


def webhook(stack: Stack, event: dict) -> dict:
    return stack.functions["TwilioWebhookFunction"].invoke(event)


def signed(body: str, *, token: str = TWILIO_TOKEN, from_number: str = PATIENT, **kwargs) -> dict:
    return events.twilio_webhook_event(
        token, from_number=from_number, to_number=CLINIC_NUMBER, body=body, **kwargs
    )


def twiml_messages(response: dict) -> list[str]:
    """The <Message> texts of a TwiML answer; asserts it is one."""
    assert response["statusCode"] == 200, response
    assert response["headers"]["Content-Type"] == "text/xml"
    root = ElementTree.fromstring(response["body"])
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["Message"] * len(root)
    return [message.text or "" for message in root]


def form_of(event: dict) -> list[tuple[str, str]]:
    raw = event["body"]
    text = base64.b64decode(raw).decode() if event["isBase64Encoded"] else raw
    return parse_qsl(text, keep_blank_values=True)


def with_form(event: dict, pairs: list[tuple[str, str]]) -> dict:
    """The same request with a different form body (the signature header is left as it was)."""
    text = urlencode(pairs)
    changed = json.loads(json.dumps(event))
    changed["body"] = base64.b64encode(text.encode()).decode() if event["isBase64Encoded"] else text
    return changed


def tampered(event: dict, **changes: str) -> dict:
    return with_form(event, [(k, changes.get(k, v)) for k, v in form_of(event)])


def consent_items(stack: Stack, sk_prefix: str) -> list[dict]:
    return [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"].startswith(sk_prefix)]


def assert_refused_and_nothing_kept(response: dict, status: int = 403) -> dict:
    assert response["statusCode"] == status, response
    assert response["headers"]["Content-Type"] == "application/json"
    error = json.loads(response["body"])["error"]
    codes = {403: "forbidden", 413: "payload_too_large", 415: "unsupported_media_type"}
    assert error["code"] == codes.get(status, "invalid_request")
    assert outbox() == []
    return error


def assert_nothing_stored(stack: Stack) -> None:
    assert all_items(stack) == []  # every table of the template, idempotency records included


def stack_with(**parameters: str) -> Stack:
    """A second stack from template.yaml with other deploy-time parameters (no ``stack`` fixture)."""
    return Stack(parameters=parameters).provision()


def token_secret(value: str) -> str:
    name = f"clinictext/twilio-{uuid.uuid4().hex[:8]}"
    return boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]


# -- keywords answered as TwiML -----------------------------------------------------------------------


def test_stop_replies_as_twiml_not_sns_and_opts_out(stack):
    [reply] = twiml_messages(webhook(stack, signed("STOP")))
    assert "Riverside Family Clinic" in reply and "unsubscribed" in reply
    assert outbox() == []  # the reply travels in the response, from the number the patient texted
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_out"
    [event] = consent_items(stack, "EVENT#")
    assert event["action"] == "opt_out" and event["source"] == "keyword" and event["keyword"] == "STOP"
    assert event["channel"] == "twilio"
    assert plaintext_leaks(stack, [PATIENT]) == []


def test_start_replies_with_ctia_confirmation_as_twiml(stack):
    twiml_messages(webhook(stack, signed("STOP")))
    [reply] = twiml_messages(webhook(stack, signed("Start")))
    for required in ("Riverside Family Clinic", "Msg&data rates may apply", "HELP", "STOP", "msgs/week"):
        assert required in reply
    assert outbox() == []
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_in"
    assert sorted(e["action"] for e in consent_items(stack, "EVENT#")) == ["opt_in", "opt_out"]


def test_help_replies_as_twiml_even_when_opted_out(stack):
    twiml_messages(webhook(stack, signed("STOP")))
    [reply] = twiml_messages(webhook(stack, signed("help")))
    assert "Riverside Family Clinic" in reply and "(206) 555-0100" in reply and "STOP" in reply
    assert outbox() == []
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_out"  # HELP does not change consent
    assert len(consent_items(stack, "EVENT#")) == 1


def test_other_text_gets_empty_response_and_is_stored_encrypted(stack):
    open_around_the_clock(stack)  # no after-hours reply (issue 12), whatever hour the suite runs
    body = "Hi it's Maria Lopez, is my knee MRI result back?"
    assert twiml_messages(webhook(stack, signed(body))) == []
    assert outbox() == []
    assert consent_items(stack, "") == []
    [stored] = stack.table("MessagesTable").scan()["Items"]
    assert stored["direction"] == "inbound" and stored["kind"] == "other" and stored["channel"] == "twilio"
    assert "body_ct" in stored
    assert plaintext_leaks(stack, [PATIENT, body, "Maria", "Lopez", "MRI"]) == []


# -- signatures ---------------------------------------------------------------------------------------


def test_missing_signature_is_403_and_nothing_is_stored_or_sent(stack):
    event = signed("STOP")
    del event["headers"]["x-twilio-signature"]
    assert_refused_and_nothing_kept(webhook(stack, event))
    assert_nothing_stored(stack)


def test_empty_signature_is_403(stack):
    event = signed("STOP")
    event["headers"]["x-twilio-signature"] = ""
    assert_refused_and_nothing_kept(webhook(stack, event))
    assert_nothing_stored(stack)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda: signed("STOP", token="not-the-clinics-token-0000000000"), id="wrong-token"),
        pytest.param(lambda: tampered(signed("HELP"), Body="STOP"), id="tampered-body"),
        pytest.param(lambda: tampered(signed("STOP"), From="+12065550124"), id="tampered-from"),
        pytest.param(
            lambda: with_form(signed("STOP"), [*form_of(signed("STOP")), ("Extra", "1")]),
            id="added-param",
        ),
        pytest.param(
            lambda: signed("STOP", signed_url="https://attacker.example.com/webhooks/twilio"),
            id="signed-for-another-host",
        ),
        pytest.param(
            lambda: signed("STOP", signed_url=f"https://{API_HOST}/webhooks/other"),
            id="signed-for-another-path",
        ),
        pytest.param(lambda: signed("STOP", signed_url=f"{WEBHOOK_URL}?x=1"), id="signed-with-a-query"),
    ],
)
def test_forged_signature_is_403_and_nothing_is_stored(stack, forge):
    response = webhook(stack, forge())
    assert_refused_and_nothing_kept(response)
    assert json.loads(response["body"])["error"]["message"] == "signature validation failed"
    assert_nothing_stored(stack)


def test_signature_from_one_request_does_not_validate_another(stack):
    first = signed("HELP", message_sid="SM" + "1" * 32)
    replay = signed("STOP", message_sid="SM" + "2" * 32)
    replay["headers"]["x-twilio-signature"] = first["headers"]["x-twilio-signature"]
    assert_refused_and_nothing_kept(webhook(stack, replay))
    assert_nothing_stored(stack)


# -- the URL Twilio signed, rebuilt from the API Gateway event ------------------------------------------


def test_named_stage_in_raw_path(stack):
    event = signed("HELP", stage="prod")
    assert event["rawPath"] == "/prod/webhooks/twilio"
    assert len(twiml_messages(webhook(stack, event))) == 1
    # The stage is part of the URL Twilio called: a signature over the path without it is forged.
    unstaged = signed("HELP", stage="prod", signed_url=WEBHOOK_URL)
    assert_refused_and_nothing_kept(webhook(stack, unstaged))


def test_query_string_is_part_of_the_signed_url(stack):
    event = signed("HELP", query="clinic=riverside&v=2")
    assert event["rawQueryString"] == "clinic=riverside&v=2"
    assert len(twiml_messages(webhook(stack, event))) == 1
    without_query = signed("HELP", query="clinic=riverside&v=2", signed_url=WEBHOOK_URL)
    assert_refused_and_nothing_kept(webhook(stack, without_query))


def test_scheme_comes_from_x_forwarded_proto(stack):
    event = signed("HELP", signed_url=f"http://{API_HOST}/webhooks/twilio")
    event["headers"]["x-forwarded-proto"] = "http"
    assert len(twiml_messages(webhook(stack, event))) == 1
    # Same signature, but the proxy says the caller used https: that is another URL.
    event = signed("HELP", signed_url=f"http://{API_HOST}/webhooks/twilio")
    assert_refused_and_nothing_kept(webhook(stack, event))


def test_host_header_is_part_of_the_signed_url(stack):
    event = signed("HELP")
    event["headers"]["host"] = "other.execute-api.us-east-1.amazonaws.com"
    assert_refused_and_nothing_kept(webhook(stack, event))


@pytest.mark.parametrize(
    ("host", "stage"),
    [
        pytest.param("sms.example-clinic.org", "$default", id="custom-domain-host"),
        pytest.param(API_HOST, "prod", id="behind-a-proxy-with-the-api-host"),
    ],
)
def test_custom_domain_via_public_base_url(aws, host, stage):
    stack = stack_with(TwilioAuthTokenSecretArn=token_secret(TWILIO_TOKEN), PublicBaseUrl=CUSTOM_BASE)
    event = signed("STOP", host=host, stage=stage, signed_url=f"{CUSTOM_BASE}/webhooks/twilio")
    assert len(twiml_messages(webhook(stack, event))) == 1
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_out"


def test_custom_domain_refuses_signature_for_the_api_gateway_url(aws):
    stack = stack_with(TwilioAuthTokenSecretArn=token_secret(TWILIO_TOKEN), PublicBaseUrl=CUSTOM_BASE)
    assert_refused_and_nothing_kept(webhook(stack, signed("STOP")))  # signed for the execute-api URL
    assert_nothing_stored(stack)


def test_custom_domain_with_query_string(aws):
    stack = stack_with(TwilioAuthTokenSecretArn=token_secret(TWILIO_TOKEN), PublicBaseUrl=CUSTOM_BASE + "/")
    event = signed("HELP", query="v=1", signed_url=f"{CUSTOM_BASE}/webhooks/twilio?v=1")
    assert len(twiml_messages(webhook(stack, event))) == 1


# -- bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base64_body", [True, False], ids=["base64", "plain"])
def test_form_body_base64_encoded_or_not(stack, base64_body):
    event = signed("STOP")
    assert event["isBase64Encoded"] is True  # what HTTP API does with form bodies
    if not base64_body:
        event["body"] = base64.b64decode(event["body"]).decode()
        event["isBase64Encoded"] = False
    assert len(twiml_messages(webhook(stack, event))) == 1
    [state] = consent_items(stack, "STATE")
    assert state["status"] == "opted_out"


def test_unicode_body_is_signed_and_stored(stack):
    open_around_the_clock(stack)  # no after-hours reply (issue 12), whatever hour the suite runs
    body = "Merci ! J’arrive dans 10 min 🙂"
    assert twiml_messages(webhook(stack, signed(body))) == []
    assert plaintext_leaks(stack, [PATIENT, body, "arrive"]) == []
    assert len(stack.table("MessagesTable").scan()["Items"]) == 1


def _signed_raw(stack: Stack, raw: bytes, content_type: str, params: dict[str, str]) -> dict:
    """A request whose X-Twilio-Signature is valid for ``params`` at the webhook URL."""
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(WEBHOOK_URL, params)
    event = events.http_api_event(
        "POST",
        "/webhooks/twilio",
        route_key="POST /webhooks/twilio",
        body=raw,
        headers={"content-type": content_type, "x-twilio-signature": signature},
        base64_body=True,
    )
    return webhook(stack, event)


def _params(body: str, from_number: str = PATIENT) -> dict[str, str]:
    return dict(form_of(signed(body, from_number=from_number, message_sid="SM" + "3" * 32)))


def test_not_form_encoded_is_415(stack):
    params = _params("STOP")
    response = _signed_raw(stack, json.dumps(params).encode(), "application/json", params)
    error = assert_refused_and_nothing_kept(response, 415)
    assert error["field"] == "content-type" and "x-www-form-urlencoded" in error["message"]
    assert_nothing_stored(stack)


def test_invalid_from_number_is_400_without_echoing_it(stack):
    response = webhook(stack, signed("STOP", from_number="12345"))
    error = assert_refused_and_nothing_kept(response, 400)
    assert error["field"] == "from_number" and "E.164" in error["message"]
    assert "12345" not in response["body"]
    assert_nothing_stored(stack)


def test_message_body_over_the_limit_is_400(stack):
    response = webhook(stack, signed("x" * 1601))
    error = assert_refused_and_nothing_kept(response, 400)
    assert error["field"] == "body"
    assert "xxxx" not in response["body"]
    assert_nothing_stored(stack)


def test_request_body_over_the_limit_is_413(stack):
    params = {**_params("STOP"), "Padding": "p" * (64 * 1024)}
    response = _signed_raw(stack, urlencode(params).encode(), "application/x-www-form-urlencoded", params)
    error = assert_refused_and_nothing_kept(response, 413)
    assert error["field"] == "body" and "larger than" in error["message"]
    assert_nothing_stored(stack)


def test_non_utf8_body_is_400(stack):
    params = _params("Caf\xe9")
    raw = urlencode(params, encoding="latin-1").replace("%E9", "\xe9").encode("latin-1")
    assert b"\xe9" in raw
    response = _signed_raw(stack, raw, "application/x-www-form-urlencoded", params)
    error = assert_refused_and_nothing_kept(response, 400)
    assert error["field"] == "body" and "UTF-8" in error["message"]
    assert_nothing_stored(stack)


def test_invalid_base64_body_is_400(stack):
    event = signed("STOP")
    event["body"] = "not base64!!"
    error = assert_refused_and_nothing_kept(webhook(stack, event), 400)
    assert error["field"] == "body"
    assert_nothing_stored(stack)


# -- redelivery -----------------------------------------------------------------------------------------


def test_redelivery_with_same_message_sid_is_not_answered_twice(stack):
    sid = "SM" + uuid.uuid4().hex
    [reply] = twiml_messages(webhook(stack, signed("STOP", message_sid=sid)))
    assert "unsubscribed" in reply
    # Twilio retries the same message (new request id, new idempotency token, same MessageSid).
    assert twiml_messages(webhook(stack, signed("STOP", message_sid=sid))) == []
    assert len(consent_items(stack, "EVENT#")) == 1
    assert len(stack.table("MessagesTable").scan()["Items"]) == 2  # the text and its one reply
    assert outbox() == []


# -- where the auth token comes from ---------------------------------------------------------------------


def test_token_from_ssm_securestring(aws):
    name = f"/clinictext/test-{uuid.uuid4().hex[:8]}/twilio-auth-token"
    token = "ssm-held-twilio-token-" + uuid.uuid4().hex
    boto3.client("ssm").put_parameter(Name=name, Value=token, Type="SecureString")
    stack = stack_with(TwilioAuthTokenParameterName=name)
    assert stack.functions["TwilioWebhookFunction"].environment["TWILIO_AUTH_TOKEN_SECRET_ARN"] == ""
    assert_refused_and_nothing_kept(webhook(stack, signed("STOP")))  # signed with another token
    [reply] = twiml_messages(webhook(stack, signed("STOP", token=token)))
    assert "unsubscribed" in reply


def test_token_from_json_secret(aws):
    token = "json-held-twilio-token-" + uuid.uuid4().hex
    arn = token_secret(json.dumps({"account_sid": "AC" + "0" * 32, "auth_token": token}))
    stack = stack_with(TwilioAuthTokenSecretArn=arn)
    [reply] = twiml_messages(webhook(stack, signed("HELP", token=token)))
    assert "Riverside Family Clinic" in reply
    assert_refused_and_nothing_kept(webhook(stack, signed("HELP")))


def test_no_token_configured_refuses_everything(aws):
    stack = stack_with()
    assert_refused_and_nothing_kept(webhook(stack, signed("STOP")))
    assert_nothing_stored(stack)


def test_unsigned_request_with_a_malformed_body_gets_403_not_400(stack):
    event = events.http_api_event(
        "POST",
        "/webhooks/twilio",
        route_key="POST /webhooks/twilio",
        body="%%%not-a-form",
        headers={"content-type": "text/plain"},
    )
    response = stack.functions["TwilioWebhookFunction"].invoke(event)
    assert response["statusCode"] == 403
    assert outbox() == []


def test_malformed_json_token_secret_is_refused_not_a_500(aws):
    secret = boto3.client("secretsmanager").create_secret(Name="bad-json-token", SecretString="{not json")[
        "ARN"
    ]
    stack = stack_with(TwilioAuthTokenSecretArn=secret)
    event = events.twilio_webhook_event(
        "{not json", from_number=PATIENT, to_number=CLINIC_NUMBER, body="STOP"
    )
    response = stack.functions["TwilioWebhookFunction"].invoke(event)
    assert response["statusCode"] == 403
    assert outbox() == []
    assert stack.table("ConsentTable").scan()["Items"] == []
