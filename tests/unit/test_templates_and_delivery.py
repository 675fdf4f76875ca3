"""Template rules and rendering, and the SNS delivery-status line parser (no AWS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.local.events import CARRIER_RESPONSES, sns_delivery_log
from shared.core.errors import InvalidInput
from shared.core.segments import analyze
from shared.delivery.domain import DELIVERED, FAILED, OPTED_OUT, SnsDeliveryLog
from shared.templates.domain import PLACEHOLDERS, placeholders_of, render, report, validate

GOOD = (
    "{clinic_name}: Hi {first_name}, see you {when}[ at {location}]. "
    "Reply C to confirm, R to reschedule, STOP to opt out."
)
VALUES = {
    "clinic_name": "Riverside Family Clinic",
    "first_name": "Ana",
    "when": "Tue Nov 24 at 3:30 PM",
    "location": "1200 Harbor Ave SW, Seattle",
}


def test_render_fills_placeholders_and_keeps_the_optional_part_when_it_fits() -> None:
    text = render(validate(GOOD), VALUES)
    assert text == (
        "Riverside Family Clinic: Hi Ana, see you Tue Nov 24 at 3:30 PM at 1200 Harbor Ave SW, Seattle. "
        "Reply C to confirm, R to reschedule, STOP to opt out."
    )
    assert analyze(text).segments == 1


def test_missing_values_leave_no_dangling_words_or_spaces() -> None:
    text = render(validate(GOOD), {**VALUES, "first_name": None, "location": ""})
    assert text.startswith("Riverside Family Clinic: Hi, see you Tue Nov 24 at 3:30 PM. Reply C")
    assert "  " not in text and " ," not in text and " at ." not in text


def test_optional_parts_are_dropped_last_first_until_the_text_fits_one_segment() -> None:
    template = validate(
        "{clinic_name}: Hi[ {first_name}], see you {when}[ at {location}]. Reply C to confirm, R to "
        "reschedule, STOP to opt out."
    )
    long_place = "12345 Northeast Hospital Way, Building C, Bellevue"
    text = render(template, {**VALUES, "first_name": "Christopher", "location": long_place})
    assert long_place not in text and "Christopher" in text  # the later optional part went first
    assert analyze(text).segments == 1


def test_typographic_punctuation_in_template_and_values_is_normalized() -> None:
    template = validate(GOOD.replace("see you", "we\u2019ll see you"))
    assert "we'll" in template.body
    text = render(template, {**VALUES, "location": "Pier 3 \u2013 Harbor Ave"})
    assert analyze(text).encoding == "GSM-7" and "Pier 3 - Harbor Ave" in text


def test_report_prices_a_long_sample_and_flags_two_segments() -> None:
    short = GOOD.replace("[ at {location}]", "")
    result = report(short, clinic_name="Riverside Family Clinic")
    assert result.sample_report.segments == 1 and not result.multi_segment and not result.warnings
    # With a long address the optional place makes it two segments: flagged, and the report says that
    # leaving the optional part out (as the sender does when it must) fits one.
    flagged = report(GOOD, clinic_name="Riverside Family Clinic")
    assert flagged.multi_segment and "2 segments" in flagged.warnings[0]
    assert "optional parts it takes 1" in flagged.warnings[0]
    longer = short.replace("see you", "this is a reminder that we look forward to seeing you")
    assert report(longer, clinic_name="Riverside Family Clinic").multi_segment
    emoji = report(GOOD.replace("Reply C", "\U0001f44d Reply C"), clinic_name="Riverside")
    assert emoji.sample_report.encoding == "UCS-2" and "U+1F44D" in emoji.warnings[-1]


@pytest.mark.parametrize(
    "body",
    ["{clinic_name} [unclosed STOP", "{clinic_name} [[nested]] STOP", "{clinic_name} ] STOP [", "   ", ""],
)
def test_malformed_templates_are_refused(body: str) -> None:
    with pytest.raises(InvalidInput):
        validate(body)


@given(st.text(alphabet=st.characters(categories=["Ll"]), min_size=1, max_size=20))
def test_every_placeholder_outside_the_allowlist_is_refused_by_name(name: str) -> None:
    body = f"{{clinic_name}} {{{name}}} Reply STOP to opt out."
    if name in PLACEHOLDERS:
        assert name in placeholders_of(body)
        return
    with pytest.raises(InvalidInput) as refused:
        validate(body)
    assert f"{{{name}}}" in refused.value.message


@given(st.text(max_size=300))
def test_validation_never_fails_other_than_with_a_clear_refusal(body: str) -> None:
    try:
        template = validate(body)
    except InvalidInput as exc:
        assert exc.field == "body" and exc.message
        return
    text = render(template, VALUES)  # a template that passed always renders
    assert "{" not in text.replace("{{", "") or "{" in body


# -- delivery status lines -------------------------------------------------------------------------------


def test_sns_success_and_failure_lines_are_classified() -> None:
    at = datetime(2026, 11, 23, 17, 4, 5, 123000, tzinfo=UTC)
    outcomes = {}
    for outcome in CARRIER_RESPONSES:
        line = SnsDeliveryLog.parse(json.dumps(sns_delivery_log("m-1", "+12065550123", outcome, at=at)))
        assert line.notification.timestamp == at
        outcomes[outcome] = line.outcome
    assert outcomes == {
        "delivered": DELIVERED,
        "unreachable": FAILED,
        "opted_out": OPTED_OUT,
        "blocked": FAILED,
        "unknown": FAILED,
    }


def test_the_documented_sample_lines_parse() -> None:
    success = {
        "notification": {
            "messageId": "34d9b400-c6dd-5444-820d-fbeb0f1f54cf",
            "timestamp": "2016-06-28 00:40:34.558",
        },
        "delivery": {
            "phoneCarrier": "My Phone Carrier",
            "mnc": 270,
            "destination": "+1XXX5550100",
            "priceInUSD": 0.00645,
            "smsType": "Transactional",
            "mcc": 310,
            "providerResponse": "Message has been accepted by phone carrier",
            "dwellTimeMs": 599,
            "dwellTimeMsUntilDeviceAck": 1344,
        },
        "status": "SUCCESS",
    }
    line = SnsDeliveryLog.parse(json.dumps(success))
    assert line.outcome == DELIVERED and line.reason == "Message has been accepted by phone carrier"
    assert line.notification.timestamp == datetime(2016, 6, 28, 0, 40, 34, 558000, tzinfo=UTC)


def test_a_reason_never_carries_a_number() -> None:
    line = sns_delivery_log("m-1", "+12065550123", "unknown")
    line["delivery"]["providerResponse"] = "Unknown error attempting to reach phone +1 (206) 555-0123"
    parsed = SnsDeliveryLog.parse(json.dumps(line))
    assert "555" not in parsed.reason and "[number]" in parsed.reason


@given(st.text(max_size=500))
def test_any_text_line_is_parsed_or_refused_clearly(line: str) -> None:
    try:
        SnsDeliveryLog.parse(line)
    except InvalidInput as exc:
        assert exc.message.startswith("delivery log line")
