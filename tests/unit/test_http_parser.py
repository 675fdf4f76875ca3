"""Issue 10 §6: the one body parser (shared/runtime/http.py), media types, strict models and the page byte
budget."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.core.errors import InvalidInput
from shared.runtime.http import (
    FHIR_MEDIA_TYPES,
    JSON_LIMITS,
    JSON_MEDIA_TYPES,
    LAMBDA_RESPONSE_LIMIT,
    BodyTooLarge,
    JsonLimits,
    UnsupportedMediaType,
    error_for,
    json_response,
    media_type,
    model_body,
    parse_json,
)


def refused(text: str, limits: JsonLimits = JSON_LIMITS) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_json(text, limits)
    return caught.value


# -- parse_json -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 990, 5000, 100_000])
def test_nesting_deeper_than_the_cap_is_refused_whatever_the_depth(depth):
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        error = refused(text)
        assert "nested deeper than 32" in error.message and error.field == "body"


def test_nesting_up_to_the_cap_is_read():
    assert parse_json('{"a":' * 31 + "[1]" + "}" * 31)  # 31 objects and one array: 32 levels


@pytest.mark.parametrize("digits", ["1" * 4301, "-" + "9" * 40, "1" * 33])
def test_integers_past_the_digit_cap_are_refused_before_python_reads_them(digits):
    error = refused('{"limit": ' + digits + "}")
    assert "more than 32 digits" in error.message
    assert digits not in error.message


def test_integers_within_the_cap_are_read_exactly():
    assert parse_json('{"n": ' + "9" * 32 + "}") == {"n": int("9" * 32)}


@pytest.mark.parametrize("number", ["1e99999", "-1E+400", "1e309"])
def test_a_number_that_overflows_to_infinity_is_refused(number):
    assert "out of range" in refused('{"x": ' + number + "}").message


def test_long_float_text_is_refused():
    assert "digits" in refused('{"x": 0.' + "1" * 60 + "}").message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant):
    assert "not JSON" in refused('{"x": ' + constant + "}").message


def test_a_duplicate_key_is_refused_naming_the_key():
    error = refused('{"phone": "+12065550123", "phone": "+12065550199"}')
    assert error.field == "phone" and "twice" in error.message
    assert "555" not in error.message


def test_a_duplicate_key_that_is_not_a_field_name_is_not_echoed():
    error = refused('{"+12065550123": 1, "+12065550123": 2}')
    assert error.field == "body" and "555" not in error.message


def test_duplicates_are_refused_in_nested_objects_too():
    assert "twice" in refused('{"entry": [{"resource": {"id": "a", "id": "b"}}]}').message


@pytest.mark.parametrize("text", ['"x"', "[1]", "1", "null", "true"])
def test_the_top_level_must_be_an_object(text):
    assert "JSON object" in refused(text).message


def test_an_unpaired_surrogate_escape_is_refused_naming_where():
    error = refused('{"entry": [{"name": "\\ud800"}]}')
    assert error.field == "entry.0.name" and "surrogate" in error.message
    assert "surrogate" in refused('{"\\udfff": 1}').message


def test_a_paired_surrogate_escape_is_a_character():
    assert parse_json('{"t": "\\ud83d\\ude00"}') == {"t": "\U0001f600"}


@pytest.mark.parametrize("text", ["", "{", "{'a': 1}", '{"a": 1,}', "\x00"])
def test_text_that_is_not_json_names_the_body(text):
    error = refused(text)
    assert error.field == "body" and "not valid JSON" in error.message


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
)
json_tree = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8), json_tree, max_size=5))
def test_every_json_object_within_the_limits_reads_back_as_it_was_written(value: dict[str, Any]) -> None:
    assert parse_json(json.dumps(value)) == value
    assert parse_json(json.dumps(value, ensure_ascii=False)) == value


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_parse_json_raises_nothing_but_invalid_input(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        parse_json(text)


# -- media types ----------------------------------------------------------------------------------------


def event(content_type: str | None, body: str = "{}", **extra: Any) -> dict[str, Any]:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return {"headers": headers, "body": body, **extra}


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "Application/JSON",
        "APPLICATION/JSON; CHARSET=UTF-8",
        "application/json;charset=utf-8",
        'application/json; charset="UTF-8"',
    ],
)
def test_json_media_types_are_matched_case_insensitively(value):
    assert media_type(event(value), JSON_MEDIA_TYPES) == "application/json"


def test_header_names_are_matched_case_insensitively():
    assert media_type({"headers": {"CONTENT-TYPE": "application/json"}}, JSON_MEDIA_TYPES)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "text/plain",
        "application/jsonx",
        "json",
        "application/json, text/plain",
        "application/json; charset=latin-1",
        "application/json\x00",
        "application/fhir+json",
        "*/*",
    ],
)
def test_other_media_types_are_415_naming_the_header(value):
    with pytest.raises(UnsupportedMediaType) as caught:
        media_type(event(value), JSON_MEDIA_TYPES)
    response = error_for(caught.value)
    assert response is not None and response["statusCode"] == 415
    assert json.loads(response["body"])["error"]["field"] == "content-type"


def test_fhir_routes_read_both_fhir_json_and_json():
    assert (
        media_type(event("Application/FHIR+JSON; fhirVersion=4.0"), FHIR_MEDIA_TYPES)
        == "application/fhir+json"
    )
    assert media_type(event("application/json"), FHIR_MEDIA_TYPES) == "application/json"


def test_an_oversized_body_is_413():
    from shared.runtime.http import json_body

    with pytest.raises(BodyTooLarge) as caught:
        json_body(event("application/json", '{"a": "' + "x" * JSON_LIMITS.max_bytes + '"}'))
    response = error_for(caught.value)
    assert response is not None and response["statusCode"] == 413


# -- strict models --------------------------------------------------------------------------------------


def lookup(body: dict[str, Any]) -> Any:
    from functions.messages_api.handler import MessagesLookup

    return model_body(event("application/json", json.dumps(body)), MessagesLookup)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("include_body", "yes"),
        ("include_body", 1),
        ("include_body", "true"),
        ("limit", "5"),
        ("limit", 5.0),
        ("limit", True),
        ("limit", 0),
        ("limit", 101),
        ("phone", 12065550123),
    ],
)
def test_strict_models_refuse_values_of_the_wrong_json_type(field, value):
    with pytest.raises(ValidationError) as caught:
        lookup({"phone": "+12065550123", field: value})
    response = error_for(caught.value)
    assert response is not None and response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["field"] == field


def test_strict_models_still_read_their_types():
    parsed = lookup({"phone": "+12065550123", "limit": 5, "include_body": True})
    assert parsed.limit == 5 and parsed.include_body is True


def test_consent_dates_arrive_as_iso_strings_not_unix_times():
    from shared.consent.domain import ConsentRequest

    body = {"phone": "+12065550123", "source": "intake_form", "consented_at": "2026-11-23T10:00:00-08:00"}
    parsed = model_body(event("application/json", json.dumps(body)), ConsentRequest)
    assert parsed.consented_at == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    for wrong in (1_700_000_000, 1.7e9, True, ["2026-11-23T10:00:00Z"]):
        with pytest.raises(ValidationError):
            model_body(event("application/json", json.dumps({**body, "consented_at": wrong})), ConsentRequest)
    for wrong_flag in (1, "true", None):
        with pytest.raises(ValidationError):
            model_body(
                event("application/json", json.dumps({**body, "send_confirmation": wrong_flag})),
                ConsentRequest,
            )


# -- responses stay under Lambda's 6 MB ------------------------------------------------------------------


def worst_record(index: int, body: str) -> Any:
    from shared.core.models import Channel, Direction, MessageRecord

    return MessageRecord(
        message_id=f"{index:032x}",
        phone_hmac="h" * 64,
        direction=Direction.INBOUND,
        kind="other" * 5,
        channel=Channel.TWILIO,
        status="received" * 4,
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
        body=body,
        appointment_id="a" * 64,
        segments=10,
        template="reminder@v999999",
        delivery_status="failed",
        delivery_at=datetime(2026, 11, 23, tzinfo=UTC),
        delivery_detail='"\\' * 100,
    )


def envelope_bytes(response: dict[str, Any]) -> int:
    """What Lambda counts: the whole response object as JSON (the body string escaped a second time)."""
    return len(json.dumps(response).encode())


def test_the_largest_messages_page_is_far_below_lambdas_response_limit():
    from functions.messages_api.handler import MAX_PAGE, page
    from shared.core.models import MAX_INBOUND_BODY

    # The costliest characters to escape: an astral emoji is 12 bytes of JSON, 14 once escaped again.
    records = [worst_record(i, "\U0001f600" * MAX_INBOUND_BODY) for i in range(MAX_PAGE)]
    shown, truncated = page(records, include_body=True)
    assert len(shown) == MAX_PAGE and not truncated
    size = envelope_bytes(json_response(200, {"messages": shown, "truncated": truncated}))
    assert size < LAMBDA_RESPONSE_LIMIT / 2, size


def test_a_page_of_records_larger_than_any_text_is_cut_short_below_the_limit():
    from functions.messages_api.handler import MAX_PAGE, page

    records = [worst_record(i, '"\\\U0001f600' * 20_000) for i in range(MAX_PAGE)]
    shown, truncated = page(records, include_body=True)
    assert truncated and 0 < len(shown) < MAX_PAGE
    assert (
        envelope_bytes(json_response(200, {"messages": shown, "truncated": truncated}))
        < LAMBDA_RESPONSE_LIMIT
    )


def test_no_float_is_infinite_after_parsing():
    data = parse_json('{"x": 1.7976931348623157e308, "y": -2.5e-300}')
    assert all(math.isfinite(v) for v in data.values())


def test_an_extra_key_is_named_only_when_it_looks_like_a_field_name():
    for key, named in (
        ("nickname", "nickname"),
        ("+12065550123", "(unknown key)"),
        ("Ann Lee", "(unknown key)"),
    ):
        with pytest.raises(ValidationError) as caught:
            lookup({"phone": "+12065550123", key: 1})
        response = error_for(caught.value)
        assert response is not None and response["statusCode"] == 400
        assert json.loads(response["body"])["error"]["field"] == named
        assert "555" not in response["body"] and "Ann" not in response["body"]
