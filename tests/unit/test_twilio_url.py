"""shared.inbound.twilio.public_url: the URL Twilio signed, rebuilt from an API Gateway HTTP API event.

Twilio error 57012 is what a clinic sees when any part of this differs from what Twilio requested.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from infra.local import events
from shared.core.errors import InvalidInput, Unauthorized
from shared.inbound.twilio import FormParams, form_params, public_url, verify_signature

HOST = "abc123.execute-api.us-east-1.amazonaws.com"
TOKEN = "unit-test-twilio-token-0000000000"


def event(path: str = "/webhooks/twilio", **kwargs: Any) -> dict[str, Any]:
    return events.http_api_event("POST", path, route_key="POST /webhooks/twilio", **kwargs)


def test_default_stage_scheme_host_and_path():
    assert public_url(event()) == f"https://{HOST}/webhooks/twilio"


def test_scheme_from_x_forwarded_proto():
    assert public_url(event(headers={"X-Forwarded-Proto": "http"})) == f"http://{HOST}/webhooks/twilio"


def test_first_of_several_forwarded_protos_is_the_callers():
    assert public_url(event(headers={"x-forwarded-proto": "http, https"})).startswith("http://")


def test_scheme_defaults_to_https_without_the_header():
    e = event()
    del e["headers"]["x-forwarded-proto"]
    assert public_url(e) == f"https://{HOST}/webhooks/twilio"


def test_host_header_is_used_as_sent():
    e = event(host="sms.example-clinic.org")
    assert public_url(e) == "https://sms.example-clinic.org/webhooks/twilio"
    e["headers"]["host"] = "abc123.execute-api.us-east-1.amazonaws.com:443"
    assert public_url(e) == f"https://{HOST}:443/webhooks/twilio"


def test_host_falls_back_to_the_request_context_domain():
    e = event()
    del e["headers"]["host"]
    assert public_url(e) == f"https://{HOST}/webhooks/twilio"


def test_no_host_at_all_is_invalid_input():
    e = event()
    del e["headers"]["host"]
    del e["requestContext"]["domainName"]
    with pytest.raises(InvalidInput) as raised:
        public_url(e)
    assert raised.value.field == "host"


def test_named_stage_already_in_raw_path_is_not_doubled():
    e = event(stage="prod")
    assert e["rawPath"] == "/prod/webhooks/twilio"
    assert public_url(e) == f"https://{HOST}/prod/webhooks/twilio"


def test_named_stage_missing_from_raw_path_is_prefixed():
    e = event(stage="prod")
    e["rawPath"] = "/webhooks/twilio"
    assert public_url(e) == f"https://{HOST}/prod/webhooks/twilio"


def test_path_that_merely_starts_with_the_stage_name_gets_the_stage():
    e = event(stage="prod")
    e["rawPath"] = "/production/webhooks/twilio"
    assert public_url(e) == f"https://{HOST}/prod/production/webhooks/twilio"


def test_raw_path_is_used_as_requested_not_decoded():
    e = event(path="/webhooks/twilio%20x")
    assert public_url(e) == f"https://{HOST}/webhooks/twilio%20x"


def test_path_falls_back_to_request_context_http_path():
    e = event(stage="prod")
    del e["rawPath"]
    assert public_url(e) == f"https://{HOST}/prod/webhooks/twilio"


def test_raw_query_string_is_appended_verbatim():
    e = event(query="b=2&a=1&c=%20")
    assert public_url(e) == f"https://{HOST}/webhooks/twilio?b=2&a=1&c=%20"


def test_no_question_mark_without_a_query():
    assert "?" not in public_url(event(query=""))


def test_public_base_url_replaces_scheme_and_host():
    e = event(headers={"x-forwarded-proto": "http"})
    assert public_url(e, "https://sms.example-clinic.org") == "https://sms.example-clinic.org/webhooks/twilio"


def test_public_base_url_trailing_slash_is_ignored():
    assert (
        public_url(event(), "https://sms.example-clinic.org/")
        == "https://sms.example-clinic.org/webhooks/twilio"
    )


def test_public_base_url_drops_the_stage_from_the_path():
    e = event(stage="prod")
    assert public_url(e, "https://sms.example-clinic.org") == "https://sms.example-clinic.org/webhooks/twilio"


def test_public_base_url_keeps_the_query_string():
    e = event(query="v=1")
    assert (
        public_url(e, "https://sms.example-clinic.org")
        == "https://sms.example-clinic.org/webhooks/twilio?v=1"
    )


def test_public_base_url_with_a_base_path():
    assert (
        public_url(event(), "https://example-clinic.org/sms")
        == "https://example-clinic.org/sms/webhooks/twilio"
    )


# -- FormParams with Twilio's own RequestValidator ---------------------------------------------------


def _twilio_reference_signature(url: str, pairs: list[tuple[str, str]]) -> str:
    """The algorithm Twilio documents: URL + each name+value, sorted by name (then value), HMAC-SHA1."""
    data = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_request_validator_reads_every_value_of_a_repeated_key():
    url = f"https://{HOST}/webhooks/twilio"
    pairs = [
        ("Body", "hi"),
        ("MediaUrl", "https://m/2"),
        ("From", "+12065550123"),
        ("MediaUrl", "https://m/1"),
    ]
    params = FormParams(pairs)
    assert params.getlist("MediaUrl") == ["https://m/2", "https://m/1"]
    assert params.get("MediaUrl") == "https://m/2" and params.get("Missing") is None
    assert list(params) == ["Body", "MediaUrl", "From"] and "From" in params

    signature = _twilio_reference_signature(url, pairs)
    validator = RequestValidator(TOKEN)
    assert validator.compute_signature(url, params) == signature
    assert validator.validate(url, params, signature)
    # A plain dict keeps one value per key: the repeated value would be lost and validation fail.
    assert not validator.validate(url, dict(pairs), signature)
    assert not validator.validate(url, FormParams(pairs[:-1]), signature)


def test_form_params_keeps_repeated_keys_and_blank_values_and_verifies():
    url = f"https://{HOST}/webhooks/twilio"
    pairs = [("To", "+12065550100"), ("Tag", "b"), ("Tag", "a"), ("Body", ""), ("From", "+12065550123")]
    body = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in pairs)
    e = event(body=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert e["isBase64Encoded"] is True
    params = form_params(e)
    assert params.getlist("Tag") == ["b", "a"] and params.get("Body") == ""
    assert params.get("To") == "+12065550100"  # %2B is a plus; a bare + would be a space

    e["headers"]["x-twilio-signature"] = _twilio_reference_signature(url, pairs)
    verify_signature(e, params, TOKEN, "")
    e["headers"]["x-twilio-signature"] = _twilio_reference_signature(url, pairs[:-1])
    with pytest.raises(Unauthorized):
        verify_signature(e, params, TOKEN, "")


def test_validator_accepts_the_signature_with_or_without_the_default_port():
    pairs = [("Body", "STOP")]
    signature = _twilio_reference_signature(f"https://{HOST}:443/webhooks/twilio", pairs)
    e = event()
    e["headers"]["x-twilio-signature"] = signature
    verify_signature(e, FormParams(pairs), TOKEN, "")
