"""Pure reminder logic: planning, buckets, run windows, the reminder text and reply understanding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.appointments.fanout import window_from_event
from shared.appointments.plan import due_bucket, hour_buckets, plan_reminders
from shared.appointments.reply_parsing import classify_reply
from shared.appointments.wording import ReminderTemplate, render_when
from shared.core.errors import InvalidInput
from shared.core.models import InboundKind
from shared.core.segments import analyze

START = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # 3:30 PM in Los Angeles


def test_plan_skips_reminders_already_due_or_not_before_start():
    now = START - timedelta(hours=3)
    planned = {p.offset_minutes: p.due_at for p in plan_reminders(START, [2880, 120, 0], now)}
    assert planned == {2880: None, 120: START - timedelta(hours=2), 0: None}


def test_hour_buckets_cover_the_window():
    start = datetime(2026, 11, 24, 13, 59, tzinfo=UTC)
    end = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert hour_buckets(start, end) == ["2026-11-24T13", "2026-11-24T14", "2026-11-24T15"]
    assert due_bucket(end) == "2026-11-24T15"


def test_window_from_scheduler_event_and_explicit_window():
    window = window_from_event({"time": "2026-11-24T15:00:00Z", "source": "aws.scheduler"}, lookback_hours=26)
    assert window.end == datetime(2026, 11, 24, 15, tzinfo=UTC)
    assert window.start == window.end - timedelta(hours=26) and window.trigger == "schedule"
    explicit = window_from_event(
        {"window": {"start": "2026-11-24T10:00:00-08:00", "end": "2026-11-24T11:00:00-08:00"}},
        lookback_hours=26,
    )
    assert explicit.start == datetime(2026, 11, 24, 18, tzinfo=UTC) and explicit.trigger == "on-demand"


@pytest.mark.parametrize(
    "event",
    [
        {},
        [],
        {"time": "yesterday"},
        {"window": {"start": "2026-11-24T10:00:00Z"}},
        {"window": {"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T09:00:00Z"}},
        {"window": {"start": "2026-01-01T00:00:00Z", "end": "2026-11-24T09:00:00Z"}},
        {"window": {"start": "2026-11-24T08:00:00", "end": "2026-11-24T09:00:00Z"}},
        # Outside the accepted window: year 1 minus the lookback overflowed (a 500, not a clear refusal).
        {"time": "0001-01-01T00:00:00Z"},
        {"window": {"end": "0001-01-01T05:00:00Z"}},
        {"window": {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:59:59Z"}},
    ],
)
def test_bad_fanout_events_are_refused_clearly(event):
    with pytest.raises(InvalidInput):
        window_from_event(event, lookback_hours=26)


def test_when_is_rendered_in_the_appointment_zone():
    assert render_when(START, "America/Los_Angeles") == "Tue Nov 24 at 3:30 PM"
    assert render_when(START, "America/New_York") == "Tue Nov 24 at 6:30 PM"


def test_reminder_fits_one_gsm_segment_dropping_place_then_name():
    template = ReminderTemplate("Riverside Family Clinic", "America/New_York")
    short = template.render(start=START, time_zone="America/Los_Angeles", first_name="Ann", location="Harbor")
    assert short == (
        "Riverside Family Clinic: Hi Ann, reminder of your appointment Tue Nov 24 at 3:30 PM at Harbor. "
        "Reply C to confirm or R to reschedule. Reply STOP to opt out."
    )
    long_place = template.render(
        start=START, time_zone=None, first_name="Maggie", location="Harbor Family Clinic, 1200 Harbor Ave SW"
    )
    assert "Harbor" not in long_place and "Hi Maggie" in long_place and "6:30 PM" in long_place
    no_name = template.render(
        start=START, time_zone=None, first_name="Bartholomew-Alexander" * 2, location=None
    )
    assert "Bartholomew" not in no_name
    curly = template.render(start=START, time_zone=None, first_name="Zoë\u2019s", location=None)
    for text in (short, long_place, no_name, curly):
        report = analyze(text)
        assert report.encoding == "GSM-7" and report.segments == 1
        assert "CANCEL" not in text.upper() and "STOP" in text and text.startswith("Riverside")


def test_long_clinic_name_falls_back_to_compact_wording():
    template = ReminderTemplate("Northwestern Regional Family Health Ctr", "America/Chicago")
    text = template.render(start=START, time_zone=None, first_name="Maggie", location="Harbor")
    assert analyze(text).segments == 1 and "R to reschedule" in text


@pytest.mark.parametrize(
    "body",
    [
        "C",
        "c",
        "CONFIRM",
        "Confirmed.",
        "Y",
        "yes",
        "Yes!",
        "👍",
        "👍🏽",
        "👍🏿",
        "yes I'll be there",
        "Yes, I will be there",
        "see you then",
        "See you then!",
        "I\u2019ll be there",
    ],
)
def test_confirmations(body):
    assert classify_reply(body) is InboundKind.CONFIRM


@pytest.mark.parametrize(
    "body",
    [
        "R",
        "r",
        "RESCHEDULE",
        "Reschedule please",
        "can I move it?",
        "Can I move it to Friday",
        "need to reschedule",
        "I need to change my appointment",
        "can we do another time",
    ],
)
def test_reschedule_requests(body):
    assert classify_reply(body) is InboundKind.RESCHEDULE


@pytest.mark.parametrize(
    "body",
    [
        "",
        "no",
        "I won't be there",
        "can't make it",
        "what's the address?",
        "👍👎",
        "Is there parking?",
        "Cancel my appointment",
    ],
)
def test_not_understood_is_left_to_staff(body):
    assert classify_reply(body) is None


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,  # RecursionError from json.loads escaped the sender's malformed-message path
        '{"reminder_pk": "r", "appointment_pk": "a", "appointment_version": ' + "9" * 4301 + "}",
        '{"reminder_pk": "r", "reminder_pk": "s", "appointment_pk": "a", "appointment_version": 1}',
        "not json",
        "[]",
    ],
)
def test_malformed_queued_reminders_are_value_errors(body):
    from shared.appointments.fanout import QueuedReminder

    with pytest.raises(ValueError):
        QueuedReminder.from_body(body)
