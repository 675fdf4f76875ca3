"""events/*.json: the committed samples are what the generator writes, and issue 2's are handled."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from xml.etree import ElementTree

import boto3
import pytest

from infra.local import make_events
from infra.local.stack import Stack
from shared.core.errors import Unauthorized
from shared.inbound.twilio import form_params, verify_signature
from tests.conftest import TWILIO_TOKEN
from tests.integration.harness import outbox, plaintext_leaks, texts_to


def sample(name: str) -> Any:
    return json.loads((make_events.EVENTS_DIR / name).read_text(encoding="utf-8"))


def invoke(stack: Stack, name: str) -> Any:
    function, _ = make_events.SAMPLES[name]
    return stack.functions[function].invoke(sample(name))


@pytest.mark.parametrize("name", sorted(make_events.SAMPLES))
def test_committed_sample_is_what_the_generator_writes(name):
    path = make_events.EVENTS_DIR / name
    assert path.exists(), f"run python -m infra.local.make_events to write {name}"
    assert path.read_text(encoding="utf-8") == make_events.render(name), (
        f"{name} is stale: run python -m infra.local.make_events"
    )


def test_every_function_in_the_template_has_a_sample(stack):
    assert {function for function, _ in make_events.SAMPLES.values()} == set(stack.functions)


def test_readme_lists_every_sample():
    readme = (make_events.EVENTS_DIR / "README.md").read_text(encoding="utf-8")
    for name, (function, _) in make_events.SAMPLES.items():
        assert f"`{name}` | `{function}`" in readme
    assert make_events.SAMPLE_TWILIO_AUTH_TOKEN in readme


def test_inbound_sms_sample(stack):
    event = sample("inbound_sms.json")
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns" and record["Sns"]["TopicArn"] == stack.ref("InboundSmsTopic")
    message = json.loads(record["Sns"]["Message"])
    result = invoke(stack, "inbound_sms.json")
    assert result["processed"] == [
        {"sns_message_id": record["Sns"]["MessageId"], "kind": "opt_out", "replayed": False}
    ]
    [reply] = texts_to(message["originationNumber"])
    assert "unsubscribed" in reply
    [state] = [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"] == "STATE"]
    assert state["status"] == "opted_out"
    assert plaintext_leaks(stack, [message["originationNumber"]]) == []


def test_twilio_sample_is_signed_with_the_sample_token_only():
    event = sample("twilio_webhook.json")
    params = form_params(event)
    verify_signature(event, params, make_events.SAMPLE_TWILIO_AUTH_TOKEN, "")
    with pytest.raises(Unauthorized):
        verify_signature(event, params, TWILIO_TOKEN, "")
    assert event == make_events.twilio_webhook()  # the generator signs with the same token


def test_twilio_webhook_sample(stack):
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.parameters["TwilioAuthTokenSecretArn"],
        SecretString=make_events.SAMPLE_TWILIO_AUTH_TOKEN,
    )
    response = invoke(stack, "twilio_webhook.json")
    assert response["statusCode"] == 200, response
    assert response["headers"]["Content-Type"] == "text/xml"
    [message] = ElementTree.fromstring(response["body"]).findall("Message")
    assert "Riverside Family Clinic" in (message.text or "") and "STOP" in (message.text or "")
    assert outbox() == []
    [stored] = [m for m in stack.table("MessagesTable").scan()["Items"] if m["direction"] == "inbound"]
    assert stored["kind"] == "help" and stored["provider_message_id"] == make_events.TWILIO_MESSAGE_SID


def test_consent_api_record_sample(stack):
    request = json.loads(sample("consent_api_record.json")["body"])
    response = invoke(stack, "consent_api_record.json")
    assert response["statusCode"] == 201, response
    body = json.loads(response["body"])
    assert body["consent"]["status"] == "opted_in" and body["consent"]["source"] == "intake_form"
    assert body["confirmation"] == "sent"
    assert len(texts_to("+12065550178")) == 1
    [event] = [i for i in stack.table("ConsentTable").scan()["Items"] if i["sk"].startswith("EVENT#")]
    assert event["reference"] == request["reference"]


def test_consent_api_lookup_sample(stack):
    response = invoke(stack, "consent_api_lookup.json")
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["consent"]["status"] == "unknown"
    invoke(stack, "consent_api_record.json")
    response = invoke(stack, "consent_api_lookup.json")
    assert json.loads(response["body"])["consent"]["status"] == "opted_in"


def test_delivery_status_sample(stack):
    # No text of ours has that SNS id in an empty stack: counted as unmatched, nothing written.
    assert invoke(stack, "delivery_status.json") == {
        "delivered": 1,
        "failed": 0,
        "opted_out": 0,
        "unmatched": 1,
        "stale": 0,
        "rejected": 0,
        "retries": 0,  # the transaction was refused (no such text) and left nothing to send again
    }
    assert stack.table("MessagesTable").scan()["Items"] == []
    assert stack.table("DeliveryTable").scan()["Items"] == []


def test_messages_api_samples(stack):
    response = invoke(stack, "messages_api_template_save.json")
    assert response["statusCode"] == 201, response
    assert json.loads(response["body"])["template"]["version"] == 1
    response = invoke(stack, "messages_api_lookup.json")
    assert response["statusCode"] == 200 and json.loads(response["body"]) == {"messages": []}


def test_inbox_api_me_sample(stack):
    """The sample's claims, for this stack's pool and app client, identify the nurse they name."""
    text = (make_events.EVENTS_DIR / "inbox_api_me.json").read_text(encoding="utf-8")
    text = text.replace(make_events.SAMPLE_STAFF_POOL, stack.ref("StaffUserPool"))
    text = text.replace(make_events.SAMPLE_STAFF_CLIENT, stack.ref("StaffAppClient"))
    event = json.loads(text)
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:groups"] == "[nursing]"
    # The sample's token was issued at the sample's fixed time; check it as of then.
    with mock.patch(
        "shared.core.clock.SystemClock.now",
        lambda _self: datetime.fromtimestamp(make_events.AT.timestamp() + 60, UTC),
    ):
        answer = stack.functions["InboxApiFunction"].invoke(event)
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["departments"] == ["nursing"]
    # As committed (another pool), the function refuses the claims: it re-checks the issuer.
    refused = invoke(stack, "inbox_api_me.json")
    assert refused["statusCode"] == 401 and json.loads(refused["body"])["error"]["field"] == "iss"


def test_secure_page_sample(stack):
    """The patient page answers the bare GET with its form, never cached, and reads nothing from the event."""
    response = invoke(stack, "secure_page_open.json")
    assert response["statusCode"] == 200, response
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"].startswith("text/html") and "no-store" in headers["cache-control"]
    assert "date of birth" in response["body"].lower()
