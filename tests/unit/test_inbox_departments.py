"""Department settings (shared.inbox.departments): the PUT /inbox/departments contract, strict and clear."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.inbox.departments import DepartmentSettings, check_department, default_settings
from shared.runtime.http import validation_message


def parse(body: dict[str, Any]) -> DepartmentSettings:
    """As the handler will: pydantic's strict JSON mode (shared.runtime.http.model_body)."""
    return DepartmentSettings.model_validate_json(json.dumps(body), strict=True)


def refusal(body: dict[str, Any]) -> tuple[str, str | None]:
    with pytest.raises(ValidationError) as caught:
        parse({"time_zone": "America/New_York", **body})
    return validation_message(caught.value)


def test_defaults_until_set() -> None:
    settings = default_settings("America/Chicago")
    assert settings.time_zone == "America/Chicago"
    assert settings.first_response_minutes == 60
    assert settings.hours == {day: [["08:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    assert settings.holidays == settings.keywords == settings.numbers == []
    hours = settings.business_hours()
    assert hours.is_open(datetime(2026, 11, 30, 14, 0, tzinfo=UTC))  # Monday 08:00 in Chicago
    assert not hours.is_open(datetime(2026, 11, 30, 13, 59, tzinfo=UTC))


def test_the_contract_example_round_trips() -> None:
    body = {
        "time_zone": "America/New_York",
        "hours": {"mon": [["08:30", "12:00"], ["13:00", "17:00"]], "sat": [["22:00", "06:00"]]},
        "holidays": ["2026-12-25", "2026-11-26"],
        "keywords": ["Refill", "prescription", "  prior   authorization "],
        "numbers": ["+12065550100"],
        "first_response_minutes": 30,
    }
    settings = parse(body)
    assert settings.holidays == [date(2026, 11, 26), date(2026, 12, 25)]  # sorted
    assert settings.keywords == ["prescription", "prior authorization", "refill"]
    again = parse(json.loads(settings.model_dump_json()))
    assert again == settings
    assert not settings.business_hours().is_open(datetime(2026, 12, 25, 15, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"hours": {"mon": [["8:30", "12:00"]]}}, "hours.mon.0.0", "HH:MM"),
        ({"hours": {"mon": [["08:30", "25:00"]]}}, "hours.mon.0.1", "23:59"),
        ({"hours": {"mon": [["08:30"]]}}, "hours.mon.0", "at least 2 items"),
        ({"hours": {"funday": [["08:30", "12:00"]]}}, "hours.funday.(unknown key)", "'mon'"),
        ({"hours": {"mon": [["08:00", "08:00"]]}}, "hours", "same time"),
        ({"hours": {"mon": [["08:00", "12:00"], ["11:30", "14:00"]]}}, "hours", "overlap"),
        ({"hours": {"sun": [["20:00", "09:00"]], "mon": [["08:00", "12:00"]]}}, "hours", "overlap"),
        ({"hours": {"mon": [[f"0{n}:00", f"0{n}:30"] for n in range(7)]}}, "hours", "more than 6"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "unknown time zone"),
        ({"time_zone": ""}, "time_zone", "at least 1"),
        ({"holidays": ["2026-12-25", "2026-12-25"]}, "holidays", "twice"),
        ({"holidays": ["2026-02-30"]}, "holidays.0", "date"),
        ({"holidays": ["2026-01-01"] * 401}, "holidays", "at most 400"),
        ({"keywords": ["Bill", "bill"]}, "keywords", "twice"),
        ({"keywords": ["bill!"]}, "keywords.0", "keyword"),
        ({"keywords": ["one two three four"]}, "keywords.0", "one to three words"),
        ({"keywords": [f"word{n}" for n in range(101)]}, "keywords", "at most 100"),
        ({"numbers": ["+1206555"]}, "numbers.0", "valid"),
        ({"numbers": ["+12065550100", "(206) 555-0100"]}, "numbers", "twice"),
        ({"first_response_minutes": 0}, "first_response_minutes", "greater than or equal to 1"),
        ({"first_response_minutes": 10081}, "first_response_minutes", "less than or equal"),
        ({"first_response_minutes": "60"}, "first_response_minutes", "integer"),
        ({"first_response_minutes": 60.5}, "first_response_minutes", "integer"),
        ({"extra": True}, "extra", "Extra inputs"),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], field: str, words: str) -> None:
    message, named = refusal(body)
    assert named == field
    assert words in message


def test_a_refusal_never_echoes_the_rejected_value() -> None:
    message, _field = refusal({"numbers": ["+1206555"]})
    assert "1206555" not in message
    message, _field = refusal({"time_zone": "Secret/Zone"})
    assert "Secret" not in message


def test_a_number_is_stored_in_e164() -> None:
    assert parse({"time_zone": "UTC", "numbers": ["(206) 555-0100"]}).numbers == ["+12065550100"]


@pytest.mark.parametrize("name", ["nursing", "front-desk", "billing2", "a" * 64])
def test_department_names(name: str) -> None:
    assert check_department(name) == name


@pytest.mark.parametrize(
    "name", ["", "admin", "Nursing", "front desk", "-x", "x-", "front--desk", "a" * 65, "nursing\n", "2nd"]
)
def test_bad_department_names(name: str) -> None:
    with pytest.raises(ValueError, match="department"):
        check_department(name)
