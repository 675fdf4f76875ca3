"""Response times in business minutes: first response, time to close, overdue, and the metrics figures.

* **First response** (patient-started conversations only): business minutes from the patient's first
  text to the first staff reply after it (automated texts - the after-hours and urgent replies - are not
  responses). A conversation a staff member started (``POST /inbox/conversations``) has no first
  response: its first text is the staff member's.
* **Time to close**: business minutes from the conversation's start to the close: the patient's first
  text, or for a staff-started conversation the staff member's first text (its creation).
* **Overdue**: a conversation waiting for a staff reply whose first-response target (the department's
  ``first_response_minutes``, business minutes) has passed. :func:`due_at` gives the instant it becomes
  overdue, so a schedule can list and flag without recomputing the week.

Business minutes are the department's open time (:class:`~shared.inbox.hours.BusinessHours`), so a text
at 16:50 on a Friday answered at 08:10 on Monday took 20 minutes, not 63 hours.

``GET /inbox/metrics`` figures come from :func:`metrics`, a pure function over
:class:`ConversationSummary` values: per department and period, the count, the median and the 90th
percentile of first response and of time to close, and how many of the period's conversations staff
started (``staff_started``; ``conversations`` counts both kinds). The percentile method is linear
interpolation between closest ranks, the "inclusive" method
(``statistics.quantiles(method="inclusive")``, Excel's ``PERCENTILE.INC``, numpy's default): with values
sorted ``v[0..n-1]`` the p-th percentile sits at rank ``(n - 1) * p``, interpolated between its
neighbours. It is defined for one value (that value), the median is the 50th percentile, and the figure
never leaves the observed range. A period holds the conversations that started in it (``[start, end)``:
the patient's first text, or the staff member's); figures are rounded to 0.1 minute; a figure with no
values is None. Patient-started conversations still waiting are counted (``awaiting``, ``overdue``), not
averaged in; a staff-started one never awaits a first response.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from shared.inbox.departments import DepartmentSettings
from shared.inbox.hours import BusinessHours, local_instant

Granularity = Literal["day", "week", "month"]
MAX_PERIODS: Final = 400


@dataclass(frozen=True)
class ConversationSummary:
    """What the metrics need of one conversation (no PHI): its department and its instants.

    ``started_at``: the patient's first text, or for a conversation staff started (``staff_started``)
    the staff member's first text. ``first_response_at`` is ignored for a staff-started one."""

    department: str
    started_at: datetime
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    staff_started: bool = False


@dataclass(frozen=True)
class Figures:
    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class DepartmentMetrics:
    department: str
    period_start: datetime
    period_end: datetime
    conversations: int
    first_response: Figures
    time_to_close: Figures
    awaiting: int  # patient-started, open, no staff reply yet
    overdue: int  # awaiting, and past the first-response target at ``now``
    staff_started: int = 0  # of ``conversations``, those a staff member started


def first_response_minutes(summary: ConversationSummary, hours: BusinessHours) -> float | None:
    """None when not answered yet, and always for a staff-started conversation (no patient text began it)."""
    if summary.first_response_at is None or summary.staff_started:
        return None
    return hours.business_minutes(summary.started_at, summary.first_response_at)


def time_to_close_minutes(summary: ConversationSummary, hours: BusinessHours) -> float | None:
    if summary.closed_at is None:
        return None
    return hours.business_minutes(summary.started_at, summary.closed_at)


def due_at(waiting_since: datetime, settings: DepartmentSettings, hours: BusinessHours) -> datetime | None:
    """When a text that arrived at ``waiting_since`` becomes overdue without a reply (UTC), or None when
    the department does not open long enough within the horizon."""
    return hours.add_business_time(waiting_since, timedelta(minutes=settings.first_response_minutes))


def is_overdue(
    waiting_since: datetime,
    replied_at: datetime | None,
    now: datetime,
    settings: DepartmentSettings,
    hours: BusinessHours,
) -> bool:
    """True when no staff reply came and the first-response target passed by ``now``."""
    if replied_at is not None:
        return False
    return hours.business_minutes(waiting_since, now) >= settings.first_response_minutes


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The ``fraction`` (0..1) percentile by linear interpolation between closest ranks; None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("a percentile is between 0 and 1")
    rank = (len(ordered) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def figures(values: list[float]) -> Figures:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return Figures(len(values), rounded(percentile(values, 0.5)), rounded(percentile(values, 0.9)))


def periods(
    first: date, last: date, granularity: Granularity, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` instants (UTC) of the days, weeks (Monday first) or months that cover the local
    dates ``first`` to ``last`` in ``zone``, each from its local midnight; at most :data:`MAX_PERIODS`."""
    if last < first:
        raise ValueError("the period ends before it starts")
    if granularity == "week":
        first -= timedelta(days=first.weekday())
    elif granularity == "month":
        first = first.replace(day=1)
    starts: list[date] = []
    day = first
    while day <= last:
        if len(starts) == MAX_PERIODS:
            raise ValueError(f"more than {MAX_PERIODS} periods: choose a longer granularity")
        starts.append(day)
        if granularity == "day":
            day += timedelta(days=1)
        elif granularity == "week":
            day += timedelta(days=7)
        else:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    bounds = [local_instant(zone, start) for start in starts]
    return list(zip(bounds, [*bounds[1:], local_instant(zone, day)], strict=True))


def metrics(
    summaries: Iterable[ConversationSummary],
    settings_of: Callable[[str], DepartmentSettings],
    *,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
    departments: Iterable[str] = (),
) -> list[DepartmentMetrics]:
    """Figures per department for conversations started in ``[period_start, period_end)`` (by a
    patient's first text or a staff member's), sorted by department. ``departments`` are listed even
    with no conversation."""
    grouped: dict[str, list[ConversationSummary]] = {name: [] for name in departments}
    for summary in summaries:
        if period_start <= summary.started_at < period_end:
            grouped.setdefault(summary.department, []).append(summary)
    hours_of: Mapping[str, tuple[DepartmentSettings, BusinessHours]] = {
        name: (settings, settings.business_hours()) for name in grouped for settings in (settings_of(name),)
    }
    out: list[DepartmentMetrics] = []
    for name in sorted(grouped):
        settings, hours = hours_of[name]
        items = grouped[name]
        responses = [m for s in items if (m := first_response_minutes(s, hours)) is not None]
        closes = [m for s in items if (m := time_to_close_minutes(s, hours)) is not None]
        waiting = [
            s for s in items if not s.staff_started and s.first_response_at is None and s.closed_at is None
        ]
        overdue = sum(is_overdue(s.started_at, None, now, settings, hours) for s in waiting)
        out.append(
            DepartmentMetrics(
                department=name,
                period_start=period_start,
                period_end=period_end,
                conversations=len(items),
                first_response=figures(responses),
                time_to_close=figures(closes),
                awaiting=len(waiting),
                overdue=overdue,
                staff_started=sum(s.staff_started for s in items),
            )
        )
    return out
