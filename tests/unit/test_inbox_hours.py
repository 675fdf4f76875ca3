"""Business hours (shared.inbox.hours): split shifts, overnight spans, holidays and DST, on real instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.inbox.hours import BusinessHours, week_of

NY = ZoneInfo("America/New_York")  # 2026: spring forward Sun Mar 8 02:00, fall back Sun Nov 1 02:00
SPLIT = {"mon": [["08:30", "12:00"], ["13:00", "17:00"]], "tue": [["08:30", "12:00"], ["13:00", "17:00"]]}


def at(*parts: int, zone: ZoneInfo = NY, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=zone).replace(fold=fold)  # type: ignore[misc]


def test_defaults_are_monday_to_friday_eight_to_five() -> None:
    hours = BusinessHours.weekly(NY)
    assert hours.is_open(at(2026, 11, 30, 8, 0))  # Monday
    assert not hours.is_open(at(2026, 11, 30, 7, 59))
    assert not hours.is_open(at(2026, 11, 30, 17, 0))  # the end is excluded
    assert hours.is_open(at(2026, 12, 4, 16, 59))  # Friday
    assert not hours.is_open(at(2026, 12, 5, 12, 0))  # Saturday
    assert hours.next_opening(at(2026, 12, 4, 17, 0)) == at(2026, 12, 7, 8, 0)


def test_split_shift_closes_for_lunch() -> None:
    hours = BusinessHours.weekly(NY, SPLIT)
    assert hours.is_open(at(2026, 11, 30, 11, 59))
    assert not hours.is_open(at(2026, 11, 30, 12, 30))
    assert hours.next_opening(at(2026, 11, 30, 12, 30)) == at(2026, 11, 30, 13, 0)
    assert hours.business_minutes(at(2026, 11, 30, 0, 0), at(2026, 12, 1, 0, 0)) == 450
    lunch = hours.closed_period(at(2026, 11, 30, 12, 30))
    assert lunch is not None
    assert (lunch.start, lunch.end) == (at(2026, 11, 30, 12, 0), at(2026, 11, 30, 13, 0))


def test_next_opening_is_the_instant_itself_when_open_and_in_the_clinic_zone() -> None:
    hours = BusinessHours.weekly(NY)
    noon_utc = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 12:00 in New York
    assert hours.next_opening(noon_utc) == noon_utc
    assert hours.next_opening(noon_utc).tzinfo is UTC  # type: ignore[union-attr]
    assert hours.closed_period(noon_utc) is None


def test_overnight_span_runs_into_the_next_day_and_sunday_night_into_monday() -> None:
    hours = BusinessHours.weekly(NY, {"fri": [["22:00", "06:00"]], "sun": [["20:00", "02:00"]]})
    assert hours.is_open(at(2026, 12, 4, 23, 0))  # Friday night
    assert hours.is_open(at(2026, 12, 5, 5, 59))  # Saturday morning
    assert not hours.is_open(at(2026, 12, 5, 6, 0))
    assert hours.is_open(at(2026, 12, 7, 1, 0))  # Monday 01:00, Sunday's shift
    assert hours.business_minutes(at(2026, 12, 4, 0, 0), at(2026, 12, 8, 0, 0)) == 8 * 60 + 6 * 60


def test_a_whole_day_and_a_span_ending_at_midnight() -> None:
    hours = BusinessHours.weekly(NY, {"sat": [["00:00", "24:00"]], "sun": [["18:00", "00:00"]]})
    assert hours.business_minutes(at(2026, 12, 5, 0, 0), at(2026, 12, 7, 0, 0)) == 24 * 60 + 6 * 60
    # Saturday 00:00-24:00 and nothing before: one opening, so one closed period before it.
    period = hours.closed_period(at(2026, 12, 4, 12, 0))
    assert period is not None and period.end == at(2026, 12, 5, 0, 0)


def test_touching_spans_are_one_opening() -> None:
    hours = BusinessHours.weekly(NY, {"mon": [["08:00", "12:00"], ["12:00", "17:00"]]})
    assert hours.is_open(at(2026, 11, 30, 12, 0))
    period = hours.closed_period(at(2026, 11, 30, 18, 0))
    assert period is not None and period.start == at(2026, 11, 30, 17, 0)


def test_a_holiday_is_closed_all_day_and_cuts_overnight_spans_at_its_midnights() -> None:
    christmas = date(2026, 12, 25)  # a Friday
    hours = BusinessHours.weekly(
        NY,
        {"thu": [["20:00", "02:00"]], "fri": [["08:00", "17:00"], ["20:00", "02:00"]]},
        frozenset({christmas}),
    )
    assert hours.is_open(at(2026, 12, 24, 23, 0))
    assert not hours.is_open(at(2026, 12, 25, 1, 0))  # Thursday's spill lands on the holiday
    assert not hours.is_open(at(2026, 12, 25, 9, 0))
    assert not hours.is_open(at(2026, 12, 25, 21, 0))
    assert hours.is_open(at(2026, 12, 26, 1, 0))  # Friday's spill is on Saturday
    assert hours.next_opening(at(2026, 12, 25, 9, 0)) == at(2026, 12, 26, 0, 0)
    period = hours.closed_period(at(2026, 12, 25, 12, 0))
    assert period is not None
    assert (period.start, period.end) == (at(2026, 12, 25, 0, 0), at(2026, 12, 26, 0, 0))


def test_after_hours_reply_key_is_one_per_closed_period() -> None:
    hours = BusinessHours.weekly(NY)
    friday_evening = hours.closed_period(at(2026, 12, 4, 18, 0))
    sunday = hours.closed_period(at(2026, 12, 6, 12, 0))
    monday_evening = hours.closed_period(at(2026, 12, 7, 18, 0))
    assert friday_evening is not None and sunday is not None and monday_evening is not None
    assert friday_evening.key == sunday.key
    assert friday_evening.key != monday_evening.key
    assert friday_evening.key == "2026-12-04T22:00:00.000000Z/2026-12-07T13:00:00.000000Z"


def test_spring_forward_overnight_shift_is_an_hour_shorter() -> None:
    hours = BusinessHours.weekly(NY, {"sat": [["22:00", "06:00"]]})
    assert hours.business_minutes(at(2026, 3, 7, 12, 0), at(2026, 3, 8, 12, 0)) == 7 * 60
    assert hours.business_minutes(at(2026, 2, 28, 12, 0), at(2026, 3, 1, 12, 0)) == 8 * 60


def test_fall_back_overnight_shift_is_an_hour_longer() -> None:
    hours = BusinessHours.weekly(NY, {"sat": [["22:00", "06:00"]]})
    assert hours.business_minutes(at(2026, 10, 31, 12, 0), at(2026, 11, 1, 12, 0)) == 9 * 60
    # 01:30 happens twice: open both times.
    assert hours.is_open(at(2026, 11, 1, 1, 30, fold=0))
    assert hours.is_open(at(2026, 11, 1, 1, 30, fold=1))


def test_a_start_the_clock_skips_opens_when_the_gap_ends() -> None:
    hours = BusinessHours.weekly(NY, {"sun": [["02:30", "05:00"]]})
    assert hours.next_opening(at(2026, 3, 7, 12, 0)) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert hours.business_minutes(at(2026, 3, 8, 0, 0), at(2026, 3, 9, 0, 0)) == 120
    # A span entirely inside the gap never opens that day.
    gap = BusinessHours.weekly(NY, {"sun": [["02:10", "02:50"]]})
    assert gap.business_minutes(at(2026, 3, 8, 0, 0), at(2026, 3, 9, 0, 0)) == 0
    assert gap.business_minutes(at(2026, 3, 15, 0, 0), at(2026, 3, 16, 0, 0)) == 40


def test_a_time_the_clock_shows_twice_is_its_first_showing() -> None:
    hours = BusinessHours.weekly(NY, {"sun": [["01:30", "03:00"]]})
    assert hours.next_opening(at(2026, 10, 31, 12, 0)) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # EDT
    assert hours.business_minutes(at(2026, 11, 1, 0, 0), at(2026, 11, 2, 0, 0)) == 150


def test_southern_hemisphere_and_half_hour_zones() -> None:
    sydney = ZoneInfo("Australia/Sydney")  # DST ends Sun Apr 5 2026 03:00 -> 02:00
    hours = BusinessHours.weekly(sydney, {"sat": [["22:00", "06:00"]]})
    assert (
        hours.business_minutes(at(2026, 4, 4, 12, 0, zone=sydney), at(2026, 4, 5, 12, 0, zone=sydney)) == 540
    )
    kolkata = ZoneInfo("Asia/Kolkata")
    assert BusinessHours.weekly(kolkata).is_open(datetime(2026, 11, 30, 3, 0, tzinfo=UTC))  # 08:30 IST


def test_never_open_has_no_next_opening_but_one_closed_period() -> None:
    hours = BusinessHours.weekly(NY, {})
    assert not hours.is_open(at(2026, 11, 30, 12, 0))
    assert hours.next_opening(at(2026, 11, 30, 12, 0)) is None
    first = hours.closed_period(at(2026, 11, 30, 12, 0))
    later = hours.closed_period(at(2026, 12, 30, 12, 0))
    assert first is not None and later is not None and first.key == later.key == "-/-"


def test_add_business_time_skips_closed_time() -> None:
    hours = BusinessHours.weekly(NY, SPLIT)
    assert hours.add_business_time(at(2026, 11, 30, 11, 30), timedelta(minutes=60)) == at(
        2026, 11, 30, 13, 30
    )
    assert hours.add_business_time(at(2026, 11, 30, 16, 30), timedelta(minutes=60)) == at(2026, 12, 1, 9, 0)
    assert hours.add_business_time(at(2026, 11, 28, 12, 0), timedelta(0)) == at(2026, 11, 30, 8, 30)


def test_naive_datetimes_are_refused() -> None:
    hours = BusinessHours.weekly(NY)
    with pytest.raises(ValueError, match="timezone-aware"):
        hours.is_open(datetime(2026, 11, 30, 12, 0))


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}, "mon span 1 and mon span 2 overlap"),
        ({"mon": [["22:00", "06:00"]], "tue": [["05:00", "09:00"]]}, "mon span 1 and tue span 1 overlap"),
        ({"sun": [["22:00", "06:00"]], "mon": [["05:00", "09:00"]]}, "sun span 1 and mon span 1 overlap"),
        ({"mon": [["08:00", "08:00"]]}, "same time"),
        ({"mon": [["24:00", "08:00"]]}, "allowed as an end"),
        ({"mon": [["8:00", "12:00"]]}, "HH:MM"),
        ({"mon": [["08:00", "12:60"]]}, "00:00"),
        ({"mon": [["08:00"]]}, "a pair"),
        ({"mon": [["0８:00", "12:00"]]}, "HH:MM"),  # a full-width digit
        ({"monday": [["08:00", "12:00"]]}, "unknown weekday"),
        ({"mon": [[f"0{n}:00", f"0{n}:30"] for n in range(7)]}, "more than 6"),
    ],
)
def test_bad_weeks_are_refused(hours: dict[str, list[list[str]]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        week_of(hours)


# -- properties ------------------------------------------------------------------------------------------

ZONES = st.sampled_from([NY, ZoneInfo("Europe/London"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")])
MINUTE = st.integers(0, 23 * 60 + 59)
SPAN_STARTS = st.lists(st.integers(0, 47), min_size=0, max_size=6, unique=True)


@st.composite
def weeks(draw: st.DrawFn) -> dict[str, list[list[str]]]:
    """Random valid weeks: per day up to three non-overlapping spans on a half-hour grid, one may run
    overnight (then it is the day's last and ends before the next day's first)."""
    week: dict[str, list[list[str]]] = {}
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        marks = sorted(draw(st.lists(st.integers(3, 44), min_size=0, max_size=6, unique=True)))
        marks = marks[: len(marks) // 2 * 2]
        spans = [[_hhmm(a * 30), _hhmm(b * 30)] for a, b in zip(marks[::2], marks[1::2], strict=True)]
        if spans and draw(st.booleans()):
            spans[-1][1] = "01:00"  # overnight into the next day, which starts no earlier than 01:30
        week[day] = spans
    return week


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(ZONES, weeks(), INSTANTS, st.integers(0, 14 * 24 * 60), st.integers(0, 14 * 24 * 60))
def test_business_time_is_additive_over_a_split_point_and_never_negative(
    zone: ZoneInfo, week: dict[str, list[list[str]]], start: datetime, first: int, second: int
) -> None:
    hours = BusinessHours.weekly(zone, week)
    middle = start + timedelta(minutes=first)
    end = middle + timedelta(minutes=second)
    whole = hours.business_time(start, end)
    assert whole == hours.business_time(start, middle) + hours.business_time(middle, end)
    assert timedelta(0) <= whole <= end - start
    assert hours.business_time(end, start) == timedelta(0)


@given(ZONES, weeks(), INSTANTS)
def test_the_four_answers_agree(zone: ZoneInfo, week: dict[str, list[list[str]]], instant: datetime) -> None:
    hours = BusinessHours.weekly(zone, week)
    opening = hours.next_opening(instant)
    period = hours.closed_period(instant)
    if hours.is_open(instant):
        assert opening == instant and period is None
        return
    assert period is not None and period.end == opening
    if opening is not None:
        assert opening > instant and hours.is_open(opening)
        # Nothing open between now and the opening, and all of it closed time.
        assert hours.business_time(instant, opening) == timedelta(0)
        assert hours.closed_period(opening - timedelta(microseconds=1)) == period
    if period.start is not None:
        assert period.start <= instant
        assert hours.is_open(period.start - timedelta(seconds=1))
        assert hours.business_time(period.start, instant) == timedelta(0)


@given(ZONES, INSTANTS, st.integers(0, 30 * 24 * 60))
def test_zero_when_fully_closed(zone: ZoneInfo, start: datetime, minutes: int) -> None:
    hours = BusinessHours.weekly(zone, {"mon": [["09:00", "10:00"]]}, frozenset())
    closed = BusinessHours.weekly(zone, {})
    end = start + timedelta(minutes=minutes)
    assert closed.business_time(start, end) == timedelta(0)
    assert hours.business_time(start, end) <= timedelta(hours=5)  # at most 5 Mondays in 30 days


@given(ZONES, weeks(), INSTANTS, st.integers(0, 5 * 24 * 60))
def test_add_business_time_inverts_business_time(
    zone: ZoneInfo, week: dict[str, list[list[str]]], start: datetime, minutes: int
) -> None:
    hours = BusinessHours.weekly(zone, week)
    due = hours.add_business_time(start, timedelta(minutes=minutes))
    if due is not None:
        assert hours.business_time(start, due) == timedelta(minutes=minutes)
