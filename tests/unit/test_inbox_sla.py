"""Response times (shared.inbox.sla): business minutes, overdue, and the metrics figures."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.inbox.departments import DepartmentSettings, default_settings
from shared.inbox.sla import (
    ConversationSummary,
    due_at,
    first_response_minutes,
    is_overdue,
    metrics,
    percentile,
)

NY = ZoneInfo("America/New_York")
SETTINGS = default_settings("America/New_York")
HOURS = SETTINGS.business_hours()


def ny(*parts: int) -> datetime:
    year, month, day, hour, minute = parts
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def test_a_friday_evening_text_answered_monday_morning_took_business_minutes() -> None:
    summary = ConversationSummary(
        "nursing", ny(2026, 12, 4, 16, 50), first_response_at=ny(2026, 12, 7, 8, 10)
    )
    assert first_response_minutes(summary, HOURS) == 20


def test_overdue_counts_business_minutes_only() -> None:
    arrived = ny(2026, 12, 4, 16, 30)  # Friday: 30 business minutes left that day
    assert not is_overdue(arrived, None, ny(2026, 12, 6, 12, 0), SETTINGS, HOURS)  # Sunday
    assert not is_overdue(arrived, None, ny(2026, 12, 7, 8, 29), SETTINGS, HOURS)
    assert is_overdue(arrived, None, ny(2026, 12, 7, 8, 30), SETTINGS, HOURS)
    assert not is_overdue(arrived, ny(2026, 12, 7, 8, 0), ny(2026, 12, 8, 8, 0), SETTINGS, HOURS)
    assert due_at(arrived, SETTINGS, HOURS) == ny(2026, 12, 7, 8, 30)


def test_a_department_target_is_its_own() -> None:
    quick = DepartmentSettings(time_zone="America/New_York", first_response_minutes=15)
    arrived = ny(2026, 12, 7, 9, 0)
    assert is_overdue(arrived, None, ny(2026, 12, 7, 9, 15), quick, quick.business_hours())
    assert not is_overdue(arrived, None, ny(2026, 12, 7, 9, 15), SETTINGS, HOURS)


def test_percentile_is_linear_interpolation_between_closest_ranks() -> None:
    assert percentile([], 0.9) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(range(1, 11), 0.9) == pytest.approx(9.1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        percentile([1.0], 90)


@given(st.lists(st.floats(0, 10_000, allow_nan=False), min_size=2, max_size=50))
def test_percentile_agrees_with_the_standard_library_inclusive_method(values: list[float]) -> None:
    expected = statistics.quantiles(values, n=10, method="inclusive")
    assert percentile(values, 0.9) == pytest.approx(expected[8], abs=1e-6)
    assert percentile(values, 0.5) == pytest.approx(statistics.median(values), abs=1e-6)
    assert min(values) <= percentile(values, 0.9) <= max(values)  # type: ignore[operator]


def test_metrics_per_department_for_a_period() -> None:
    monday = ny(2026, 12, 7, 9, 0)
    summaries = [
        # nursing: first responses 10, 20, 30, 40 business minutes; two closed after 60 and 120.
        ConversationSummary(
            "nursing", monday, monday + timedelta(minutes=10), monday + timedelta(minutes=60)
        ),
        ConversationSummary(
            "nursing", monday, monday + timedelta(minutes=20), monday + timedelta(minutes=120)
        ),
        ConversationSummary("nursing", monday, monday + timedelta(minutes=30)),
        ConversationSummary("nursing", monday, monday + timedelta(minutes=40)),
        # billing: one waiting past its target, one waiting within it, one closed unanswered.
        ConversationSummary("billing", monday),
        ConversationSummary("billing", ny(2026, 12, 7, 10, 30)),
        ConversationSummary("billing", monday, closed_at=monday + timedelta(minutes=5)),
        # outside the period
        ConversationSummary("nursing", ny(2026, 12, 14, 9, 0), ny(2026, 12, 14, 9, 1)),
    ]
    found = metrics(
        summaries,
        lambda _name: SETTINGS,
        period_start=ny(2026, 12, 7, 0, 0),
        period_end=ny(2026, 12, 14, 0, 0),
        now=ny(2026, 12, 7, 11, 0),
        departments=["front-desk"],
    )
    assert [item.department for item in found] == ["billing", "front-desk", "nursing"]
    billing, front_desk, nursing = found
    assert nursing.conversations == 4
    assert (nursing.first_response.count, nursing.first_response.median, nursing.first_response.p90) == (
        4,
        25.0,
        37.0,
    )
    assert (nursing.time_to_close.median, nursing.time_to_close.p90) == (90.0, 114.0)
    assert (nursing.awaiting, nursing.overdue) == (0, 0)
    assert billing.first_response.count == 0 and billing.first_response.median is None
    assert (billing.awaiting, billing.overdue) == (2, 1)
    assert front_desk.conversations == 0 and front_desk.time_to_close.p90 is None


def test_metrics_use_each_department_hours() -> None:
    night = DepartmentSettings(time_zone="America/New_York", hours={"mon": [["20:00", "08:00"]]})
    arrived = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # Monday 19:00 in New York
    summary = ConversationSummary("night", arrived, arrived + timedelta(hours=3))
    [found] = metrics(
        [summary],
        lambda _name: night,
        period_start=arrived - timedelta(days=1),
        period_end=arrived + timedelta(days=1),
        now=arrived + timedelta(hours=4),
    )
    assert found.first_response.median == 120.0  # 19:00-22:00, open from 20:00


def test_periods_start_at_local_midnights_across_dst() -> None:
    from datetime import date

    from shared.inbox.sla import periods

    days = periods(date(2026, 3, 7), date(2026, 3, 9), "day", NY)
    assert [end - start for start, end in days] == [
        timedelta(hours=24),
        timedelta(hours=23),
        timedelta(hours=24),
    ]
    assert days[0][0] == ny(2026, 3, 7, 0, 0)
    weeks = periods(date(2026, 12, 2), date(2026, 12, 8), "week", NY)
    assert [start for start, _end in weeks] == [ny(2026, 11, 30, 0, 0), ny(2026, 12, 7, 0, 0)]
    months = periods(date(2026, 11, 15), date(2027, 1, 3), "month", NY)
    assert [(start, end) for start, end in months][-1] == (ny(2027, 1, 1, 0, 0), ny(2027, 2, 1, 0, 0))
    assert len(months) == 3
    with pytest.raises(ValueError, match="ends before"):
        periods(date(2026, 1, 2), date(2026, 1, 1), "day", NY)
    with pytest.raises(ValueError, match="more than 400"):
        periods(date(2026, 1, 1), date(2027, 12, 31), "day", NY)


def test_staff_started_conversations_count_in_time_to_close_not_in_first_response() -> None:
    """A conversation staff started: the clock starts at the staff member's first text; it is counted on
    its own, closes count in time to close, and it never has (or awaits) a first response."""
    monday = ny(2026, 12, 7, 9, 0)
    summaries = [
        ConversationSummary(
            "nursing", monday, monday + timedelta(minutes=10), monday + timedelta(minutes=30)
        ),
        # staff-started: closed 50 minutes after the first text; a later staff reply is no first response
        ConversationSummary(
            "nursing",
            monday,
            monday + timedelta(minutes=20),
            monday + timedelta(minutes=50),
            staff_started=True,
        ),
        # staff-started, still open, no patient answer: neither awaiting nor overdue
        ConversationSummary("nursing", monday, staff_started=True),
        # staff-started in another period: not in this one
        ConversationSummary(
            "nursing", ny(2026, 12, 14, 9, 0), closed_at=ny(2026, 12, 14, 9, 5), staff_started=True
        ),
    ]
    [nursing] = metrics(
        summaries,
        lambda _name: SETTINGS,
        period_start=ny(2026, 12, 7, 0, 0),
        period_end=ny(2026, 12, 14, 0, 0),
        now=ny(2026, 12, 8, 11, 0),
    )
    assert (nursing.conversations, nursing.staff_started) == (3, 2)
    assert (nursing.first_response.count, nursing.first_response.median) == (1, 10.0)
    assert (nursing.time_to_close.count, nursing.time_to_close.median, nursing.time_to_close.p90) == (
        2,
        40.0,
        48.0,
    )
    assert (nursing.awaiting, nursing.overdue) == (0, 0)
    assert first_response_minutes(summaries[1], HOURS) is None
