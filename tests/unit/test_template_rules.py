"""Issue 10 §6: templates refuse control characters by name and position, and a reminder must say when.

Before: ESC was reported as a square-bracket problem (``\\x1b[31m`` holds a ``[``), BEL, tabs and a
right-to-left override were stored and texted, and a reminder without ``{when}`` (or with only ``{time}``,
or with the time inside an optional part that is dropped when the text is long) was accepted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.core.controls import controls_in, describe, is_control
from shared.core.errors import InvalidInput
from shared.templates.domain import report, validate

GOOD = "{clinic_name}: Hi {first_name}, see you {when}[ at {location}]. Reply C to confirm, STOP to opt out."
REPO = Path(__file__).resolve().parents[2]


def refusal(body: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        validate(body)
    assert caught.value.field == "body"
    return caught.value.message


@pytest.mark.parametrize(
    ("control", "named"),
    [
        ("\x1b", "U+001B (ESC)"),
        ("\x07", "U+0007 (BEL)"),
        ("\x00", "U+0000 (NUL)"),
        ("\t", "U+0009 (HT)"),
        ("\r", "U+000D (CR)"),
        ("\x7f", "U+007F (DEL)"),
        ("\x9b", "U+009B (CSI)"),
        ("\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("\u2066", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
        ("\u2028", "U+2028 (LINE SEPARATOR)"),
    ],
)
def test_a_control_character_is_refused_by_name_and_position(control, named):
    body = GOOD[:11] + control + "[31m" + GOOD[11:]
    message = refusal(body)
    assert f"control character {named} at position 12" in message, message
    assert "bracket" not in message


def test_several_control_characters_name_the_first_and_count_the_rest():
    message = refusal("\x07" + GOOD + "\x1b\x1b")
    assert "U+0007 (BEL) at position 1 (and 2 more)" in message


def test_a_plain_line_break_is_text():
    assert validate(GOOD.replace(". Reply", ".\nReply")).body.count("\n") == 1


@pytest.mark.parametrize(
    "body",
    [
        "{clinic_name}: Hi {first_name}, see you soon. Reply STOP to opt out.",
        "{clinic_name}: Hi {first_name}, see you at {time}. Reply STOP to opt out.",
        "{clinic_name}: Hi {first_name}, see you on {date}. Reply STOP to opt out.",
    ],
)
def test_a_reminder_without_the_appointment_time_is_refused(body):
    message = refusal(body)
    assert "must say when the appointment is" in message and "{when}" in message


def test_a_time_only_inside_an_optional_part_is_refused_saying_why():
    message = refusal("{clinic_name}: Hi {first_name}, your visit[ is {when}]. Reply STOP to opt out.")
    assert "outside [optional] parts" in message


@pytest.mark.parametrize(
    "body",
    [
        GOOD,
        "{clinic_name}: see you {date} at {time}. Reply STOP to opt out.",
        "{clinic_name}: {when}[ at {location}]. Reply STOP to opt out.",
    ],
)
def test_a_reminder_with_the_time_is_accepted(body):
    assert validate(body)


def test_the_time_rule_is_for_reminders():
    assert validate("{clinic_name}: we have moved. Reply STOP to opt out.", kind="notice")


def _readme_templates() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r'clinictext template (?:check|save reminder) "([^"]*\{[^"]*)"', readme)


def test_the_readme_and_demo_templates_pass_the_rules():
    from infra.demo import CLINIC_TEMPLATE

    examples = [CLINIC_TEMPLATE, *_readme_templates()]
    assert len(examples) >= 3, examples
    for body in examples:
        assert report(body, clinic_name="Riverside Family Clinic").placeholders


def test_stored_templates_that_break_the_rules_fall_back_to_the_built_in_wording():
    from shared.appointments.wording import BUILTIN, ReminderTemplate
    from shared.templates.ports import StoredTemplate

    def stored(body: str) -> StoredTemplate:
        return StoredTemplate("reminder", 3, body, ("clinic_name",), "2026-01-01", "x", 1, "GSM-7", False)

    class Store:
        def __init__(self, body: str) -> None:
            self.body = body

        def current(self, name: str) -> StoredTemplate:
            return stored(self.body)

    start = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    for old in ("{clinic_name}: see you soon. Reply STOP to opt out.", "{clinic_name}: \x1b[2J{when} STOP"):
        template = ReminderTemplate("Clinic", "America/Los_Angeles", store=Store(old))
        text, used = template.compose(start=start, time_zone=None, first_name="Ann", location=None)
        assert used == BUILTIN and "Tue Nov 24 at 3:30 PM" in text and "\x1b" not in text
    template = ReminderTemplate("Clinic", "America/Los_Angeles", store=Store(validate(GOOD).body))
    text, used = template.compose(start=start, time_zone=None, first_name="Ann", location=None)
    assert used == "reminder@v3" and "Tue Nov 24 at 3:30 PM" in text


def test_controls_helpers():
    assert describe("\x1b") == "U+001B (ESC)" and describe("\x85") == "U+0085 (NEL)"
    assert controls_in("a\nb\x1bc", allowed="\n") == [(4, "\x1b")]
    assert not any(is_control(ch) for ch in "Hi Ann, see you Tue at 3:30 PM. ¡Hola! 😀 é")
    assert all(is_control(chr(code)) for code in [*range(0x20), *range(0x7F, 0xA0)])
