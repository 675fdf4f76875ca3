"""Canned responses (shared.inbox.canned): allowlisted placeholders, clear refusals, natural rendering."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.inbox.canned import (
    CANNED_PLACEHOLDERS,
    CannedContext,
    CannedResponseRequest,
    render,
    sample_report,
)
from shared.runtime.http import validation_message

CONTEXT = CannedContext(
    clinic_name="Cedar Clinic", department="front-desk", clinic_phone="(206) 555-0100", first_name="Ana"
)


def canned(body: str, department: str = "nursing", name: str = "refill ready") -> CannedResponseRequest:
    return CannedResponseRequest.model_validate_json(
        json.dumps({"department": department, "name": name, "body": body}), strict=True
    )


def refusal(**fields: Any) -> tuple[str, str | None]:
    body = {"department": "nursing", "name": "x", "body": "Hi {first_name}", **fields}
    with pytest.raises(ValidationError) as caught:
        CannedResponseRequest.model_validate_json(json.dumps(body), strict=True)
    return validation_message(caught.value)


def test_every_allowed_placeholder_renders() -> None:
    item = canned(
        "Hi {first_name}, this is {department} at {clinic_name}. We open {next_opening}; call {clinic_phone}."
    )
    assert set(item.placeholders) == set(CANNED_PLACEHOLDERS)
    context = CannedContext(**{**CONTEXT.__dict__, "next_opening": "Tuesday at 8:30 AM"})
    assert render(item, context) == (
        "Hi Ana, this is Front Desk at Cedar Clinic. We open Tuesday at 8:30 AM; call (206) 555-0100."
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hi {first_name}, your refill is ready.", "Hi there, your refill is ready."),
        ("Hello {first_name}! See you soon.", "Hello there! See you soon."),
        ("Dear {first_name}, your forms are in.", "Dear patient, your forms are in."),
        ("Thanks {first_name}!", "Thanks!"),
        ("{first_name}, your forms are in.", "Your forms are in."),
        ("Hola {first_name}, su receta esta lista.", "Hola, su receta esta lista."),
        ("Estimada {first_name}: su cita.", "Estimada paciente: su cita."),
    ],
)
def test_a_missing_first_name_reads_naturally(body: str, expected: str) -> None:
    for first_name in (None, "", "  "):
        context = CannedContext(clinic_name="Cedar Clinic", department="nursing", first_name=first_name)
        assert render(canned(body), context) == expected


def test_values_are_normalized_to_gsm() -> None:
    context = CannedContext(clinic_name="Cedar\u2019s Clinic", department="nursing", first_name="Zo\u00eb")
    assert render(canned("Hi {first_name} from {clinic_name}"), context) == "Hi Zo\u00eb from Cedar's Clinic"


def test_body_is_normalized_and_name_tidied_on_creation() -> None:
    item = canned("  We\u2019ll call you \u2014 soon.  ", name="  call   back ")
    assert item.body == "We'll call you - soon."
    assert item.name == "call back"
    assert sample_report(item).encoding == "GSM-7"


def test_unknown_placeholders_are_all_named() -> None:
    message, field = refusal(body="Hi {first_name}, your {diagnosis} results from {provider}")
    assert field == "body"
    assert message.startswith("Value error, unknown placeholders {diagnosis}, {provider}; allowed:")
    assert "{first_name}" in message and "{next_opening}" in message


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"body": ""}, "body", "at least 1"),
        ({"body": "   "}, "body", "empty"),
        ({"body": "x" * 481}, "body", "at most 480"),
        ({"body": "Hi\x1b[31m"}, "body", "U+001B (ESC)"),
        ({"body": "Hi \u202eevil"}, "body", "RIGHT-TO-LEFT OVERRIDE"),
        ({"body": "Hi {first_name!r}"}, "body", "format or conversion"),
        ({"body": "Hi {first_name"}, "body", "malformed placeholder"),
        ({"name": ""}, "name", "at least 1"),
        ({"name": "x" * 61}, "name", "at most 60"),
        ({"name": "bad\nname"}, "name", "control character"),
        ({"department": "admin"}, "department", "department"),
        ({"department": "Nursing"}, "department", "department"),
        ({"extra": 1}, "extra", "Extra inputs"),
    ],
)
def test_refusals_name_the_field(fields: dict[str, Any], field: str, words: str) -> None:
    message, named = refusal(**fields)
    assert named == field
    assert words in message


def test_square_brackets_and_escaped_braces_are_plain_text() -> None:
    item = canned("Reply [Y] to confirm {{not a placeholder}}")
    assert render(item, CONTEXT) == "Reply [Y] to confirm {not a placeholder}"


@given(st.sampled_from(["Hi {first_name}, ok.", "{first_name}: ready", "Thanks {first_name}."]), st.text())
def test_a_name_without_letters_is_no_name(body: str, first_name: str) -> None:
    context = CannedContext(clinic_name="Cedar Clinic", department="nursing", first_name=first_name)
    text = render(canned(body), context)
    if not any(ch.isalpha() for ch in first_name):
        assert text == render(canned(body), CannedContext(clinic_name="Cedar Clinic", department="nursing"))
        assert " ," not in text and not text.startswith((",", ":", " "))
    assert "{first_name}" not in text
    assert text.isprintable()
