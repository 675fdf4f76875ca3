"""The inbox's automated replies (shared.inbox.replies): content, language, GSM-7 and at most 2 segments."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.segments import analyze
from shared.inbox.hours import BusinessHours
from shared.inbox.replies import after_hours_reply, describe_opening, urgent_reply
from shared.inbox.triage import Category, triage

NY = ZoneInfo("America/New_York")
LONGEST_CLINIC = "Northeast Family Medicine Bellevue Annex"  # 40 characters, ClinicName's limit
FRIDAY_EVENING = datetime(2026, 12, 4, 18, 0, tzinfo=NY)


def test_after_hours_reply_says_when_we_open_and_what_to_do_in_an_emergency() -> None:
    hours = BusinessHours.weekly(NY, {"tue": [["08:30", "17:00"]]})
    opening = hours.next_opening(FRIDAY_EVENING)
    text = after_hours_reply("Cedar Clinic", opening, FRIDAY_EVENING, NY)
    assert text == (
        "Cedar Clinic: Thanks for your message. We are closed now. We open again Tuesday at 8:30 AM and "
        "will reply then. If this is an emergency, call 911."
    )
    spanish = after_hours_reply("Cedar Clinic", opening, FRIDAY_EVENING, NY, "es")
    assert "Abrimos de nuevo el martes a las 8:30 a.m." in spanish
    assert "Si es una emergencia, llame al 911." in spanish


@pytest.mark.parametrize(
    ("opening", "english", "spanish"),
    [
        (datetime(2026, 12, 4, 13, 0, tzinfo=NY), "today at 1:00 PM", "hoy a la 1:00 p.m."),
        (datetime(2026, 12, 5, 8, 30, tzinfo=NY), "tomorrow at 8:30 AM", "manana a las 8:30 a.m."),
        (datetime(2026, 12, 7, 0, 15, tzinfo=NY), "Monday at 12:15 AM", "el lunes a las 12:15 a.m."),
        (datetime(2026, 12, 10, 12, 0, tzinfo=NY), "Thursday at 12:00 PM", "el jueves a las 12:00 p.m."),
        (datetime(2026, 12, 29, 8, 30, tzinfo=NY), "Tue Dec 29 at 8:30 AM", "el mar 29 dic a las 8:30 a.m."),
    ],
)
def test_describe_opening(opening: datetime, english: str, spanish: str) -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=NY)  # a Friday
    assert describe_opening(opening.astimezone(UTC), now, NY) == english
    assert describe_opening(opening.astimezone(UTC), now, NY, "es") == spanish


def test_no_known_opening() -> None:
    assert "We will reply as soon as we can." in after_hours_reply("Cedar", None, FRIDAY_EVENING, NY)
    assert "Le responderemos pronto." in after_hours_reply("Cedar", None, FRIDAY_EVENING, NY, "es")


def test_urgent_reply_and_the_crisis_line_for_self_harm() -> None:
    text = urgent_reply("Cedar Clinic")
    assert text.startswith("Cedar Clinic: If this is an emergency, call 911 now")
    assert "988" not in text
    assert "call or text 988" in urgent_reply("Cedar Clinic", "en", Category.SELF_HARM)
    spanish = urgent_reply("Cedar Clinic", "es", Category.SELF_HARM)
    assert spanish.startswith("Cedar Clinic: Si es una emergencia, llame al 911 ahora")
    assert "988" in spanish


def test_the_reply_language_follows_the_classifier() -> None:
    found = triage("me duele el pecho")
    assert urgent_reply("Cedar", found.language, found.category).startswith("Cedar: Si es una emergencia")


ALL_REPLIES = [
    *(urgent_reply(LONGEST_CLINIC, language, category) for language in ("en", "es") for category in Category),
    *(
        after_hours_reply(LONGEST_CLINIC, opening, FRIDAY_EVENING, NY, language)
        for language in ("en", "es")
        for opening in (
            None,
            datetime(2026, 12, 30, 12, 45, tzinfo=NY),
            datetime(2026, 12, 9, 10, 0, tzinfo=NY),
        )
    ),
]


@pytest.mark.parametrize("text", ALL_REPLIES)
def test_every_reply_is_gsm7_and_at_most_two_segments(text: str) -> None:
    report = analyze(text)
    assert report.encoding == "GSM-7", report.ucs2_culprits
    assert report.segments <= 2
    assert text.startswith(LONGEST_CLINIC + ": ")
    assert "911" in text


def test_a_typographic_clinic_name_does_not_switch_to_ucs2() -> None:
    assert analyze(urgent_reply("Dr. O\u2019Neil\u2019s Clinic")).encoding == "GSM-7"


def test_an_accented_clinic_name_stays_gsm7() -> None:
    from shared.inbox.replies import clinic_label

    assert clinic_label("Clínica  San José") == "Clinica San José"  # é is GSM-7, í is not
    text = urgent_reply("Clínica Niños Sonrisa Feliz de la Montaña", "es", Category.SELF_HARM)
    assert analyze(text).encoding == "GSM-7" and analyze(text).segments <= 2


GSM_NAME_CHARACTERS = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 &'-.,éèñüöäÑÜÖÄáíóúçâêôÁÍÓÚ€[]{}|~^"
)


@given(st.text(GSM_NAME_CHARACTERS, min_size=1, max_size=40), st.sampled_from(["en", "es"]))
def test_any_latin_clinic_name_up_to_40_characters_fits_two_gsm7_segments(name: str, language: str) -> None:
    opening = datetime(2026, 12, 30, 12, 45, tzinfo=NY)
    for text in (
        urgent_reply(name, language, Category.SELF_HARM),
        after_hours_reply(name, opening, FRIDAY_EVENING, NY, language),
    ):
        report = analyze(text)
        assert report.encoding == "GSM-7", report.ucs2_culprits
        assert report.segments <= 2


def test_one_after_hours_reply_per_closed_period() -> None:
    from shared.inbox.replies import after_hours_period

    hours = BusinessHours.weekly(NY)
    first = after_hours_period(hours, FRIDAY_EVENING, None)
    assert first is not None
    assert after_hours_period(hours, datetime(2026, 12, 6, 9, 0, tzinfo=NY), first.key) is None  # Sunday
    assert after_hours_period(hours, datetime(2026, 12, 7, 9, 0, tzinfo=NY), first.key) is None  # open
    monday_night = after_hours_period(hours, datetime(2026, 12, 7, 19, 0, tzinfo=NY), first.key)
    assert monday_night is not None and monday_night.key != first.key
