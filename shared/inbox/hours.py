"""A department's business hours in the clinic's zone: split shifts, overnight spans, holidays, DST.

A week is a list of spans per weekday (``"mon"`` ... ``"sun"``), each ``[start, end]`` in local
wall-clock ``"HH:MM"``. An end before its start runs past midnight into the next day (``["22:00",
"06:00"]`` is a night shift); ``"24:00"`` is allowed as an end (``["00:00", "24:00"]`` is a whole day). A
holiday is a date in the clinic's zone, closed from its midnight to the next (an overnight span that
starts the evening before is open until midnight; one that starts on the holiday opens at the next
midnight). A weekday with no spans is closed.

Daylight saving: a span lasts from the first instant the local clock shows its start to the first instant
it shows its end. A time the clock skips (02:30 on a spring-forward night) therefore falls at the end of
the gap (03:00), and a time the clock shows twice (01:30 on a fall-back night) at its first showing. A
22:00-06:00 shift lasts 7 hours across spring-forward and 9 across fall-back: the real time it is staffed.
Everything below (:meth:`BusinessHours.is_open`, :meth:`~BusinessHours.next_opening`,
:meth:`~BusinessHours.closed_period`, :meth:`~BusinessHours.business_minutes`) is computed on those
instants, so the four always agree.

Pure domain code: no clock, no AWS. Instants in must be timezone-aware; instants out are UTC (a datetime
in the clinic's zone inside a fall-back hour compares unequal to every other zone's, PEP 495; convert for
display only).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from shared.core.clock import iso

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[Weekday, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_A_DAY: Final = 24 * 60
MAX_SPANS_A_DAY: Final = 6
# next_opening and closed_period look this far ahead and back; a department closed longer has no answer.
HORIZON_DAYS: Final = 400
DEFAULT_HOURS: Final[dict[Weekday, list[list[str]]]] = {
    day: [["08:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}

Interval = tuple[datetime, datetime]  # [start, end) in UTC
_CACHED_DAYS: Final = 4000
# A week as written: weekday -> [[start, end], ...] (keys checked by week_of).
WeekInput = Mapping[Any, Sequence[Sequence[str]]]


def parse_hhmm(value: str, *, end: bool = False) -> int:
    """``"08:30"`` -> 510 minutes after midnight; ``"24:00"`` -> 1440, allowed only as an end."""
    if (
        not isinstance(value, str)
        or len(value) != 5
        or value[2] != ":"
        or not (value[:2] + value[3:]).isdigit()
        or not value.isascii()
    ):
        raise ValueError('a time is written "HH:MM" on a 24-hour clock, e.g. "08:30" or "17:00"')
    hours, minutes = int(value[:2]), int(value[3:])
    if end and hours == 24 and minutes == 0:
        return MINUTES_A_DAY
    if hours > 23 or minutes > 59:
        raise ValueError('a time is "00:00" to "23:59" ("24:00" is allowed as an end)')
    return hours * 60 + minutes


@dataclass(frozen=True, slots=True)
class Span:
    """One opening that starts on a weekday: minutes after that day's midnight, ``end`` may pass 1440."""

    start: int
    end: int

    @classmethod
    def parse(cls, pair: Sequence[str]) -> Span:
        if len(pair) != 2:
            raise ValueError('a span is a pair ["HH:MM", "HH:MM"]: when it opens and when it closes')
        start, end = parse_hhmm(pair[0]), parse_hhmm(pair[1], end=True)
        if start == end:
            raise ValueError(
                'a span opens and closes at the same time; write ["00:00", "24:00"] for a whole day'
            )
        if end < start:  # runs past midnight into the next day
            end += MINUTES_A_DAY
        return cls(start, end)


def week_of(hours: WeekInput) -> tuple[tuple[Span, ...], ...]:
    """Validated spans per weekday (Monday first), sorted; ``ValueError`` naming the day and spans for
    an unknown weekday, too many spans or two that overlap (counting overnight spills and Sunday night
    into Monday). Spans that only touch (12:00 end, 12:00 start) are one opening."""
    unknown = [day for day in hours if day not in WEEKDAYS]
    if unknown:
        raise ValueError(f"unknown weekday; use {', '.join(WEEKDAYS)}")
    week: list[tuple[Span, ...]] = []
    flat: list[tuple[int, int, str]] = []  # week minutes [start, end) and a label for the message
    for index, day in enumerate(WEEKDAYS):
        pairs = hours.get(day, ())
        if len(pairs) > MAX_SPANS_A_DAY:
            raise ValueError(f"{day} has more than {MAX_SPANS_A_DAY} spans")
        spans = [Span.parse(pair) for pair in pairs]
        for number, span in enumerate(spans, start=1):
            base = index * MINUTES_A_DAY
            flat.append((base + span.start, base + span.end, f"{day} span {number}"))
        week.append(tuple(sorted(spans, key=lambda span: span.start)))
    week_minutes = 7 * MINUTES_A_DAY
    # Sunday's overnight spill wraps into Monday: compare it there too.
    flat += [(s - week_minutes, e - week_minutes, label) for s, e, label in flat if e > week_minutes]
    flat.sort()
    for (_s1, e1, first), (s2, _e2, second) in itertools.pairwise(flat):
        if s2 < e1:
            raise ValueError(f"{first} and {second} overlap")
    return tuple(week)


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    """A stretch of closed time: from the last closing (None: none within the horizon) to the next
    opening (None: none within the horizon)."""

    start: datetime | None
    end: datetime | None

    @property
    def key(self) -> str:
        """A stable identifier: the same for every instant of this closed period, different for the next.
        It is made of the period's bounds, so changing the hours or holidays during a closed period may
        change it (and let one more after-hours reply go out)."""
        start = iso(self.start) if self.start else "-"
        end = iso(self.end) if self.end else "-"
        return f"{start}/{end}"


class BusinessHours:
    """When a department is open. Built by :meth:`weekly` or by
    :meth:`shared.inbox.departments.DepartmentSettings.business_hours`."""

    def __init__(
        self,
        zone: ZoneInfo,
        week: Sequence[Sequence[Span]],
        holidays: frozenset[date] = frozenset(),
    ) -> None:
        if len(week) != 7:
            raise ValueError("a week has 7 days of spans, Monday first")
        self.zone = zone
        self._week = tuple(tuple(day) for day in week)
        self._holidays = holidays
        # Intervals per local date, computed once: metrics ask the same days thousands of times.
        self._days: dict[date, list[Interval]] = {}

    @classmethod
    def weekly(
        cls,
        zone: ZoneInfo,
        hours: WeekInput = DEFAULT_HOURS,
        holidays: frozenset[date] = frozenset(),
    ) -> BusinessHours:
        return cls(zone, week_of(hours), holidays)

    # -- the four questions ----------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        at = _utc(at)
        for start, end in self._forward(self._local_day(at) - timedelta(days=1)):
            if start > at:
                return False
            if at < end:
                return True
        return False

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` (in UTC) when open; else the next instant it opens, or None when it does
        not open within :data:`HORIZON_DAYS`."""
        at = _utc(at)
        for start, end in self._forward(self._local_day(at) - timedelta(days=1)):
            if at < end:
                return max(start, at)
        return None

    def closed_period(self, at: datetime) -> ClosedPeriod | None:
        """The closed period containing ``at``, or None when open at ``at``. Its :attr:`~ClosedPeriod.key`
        lets an after-hours reply go out at most once per closed period."""
        at = _utc(at)
        opening = self.next_opening(at)
        if opening is not None and opening <= at:
            return None
        last_close = None
        for _start, end in self._backward(self._local_day(at) + timedelta(days=1)):
            if end <= at:
                last_close = end
                break
        return ClosedPeriod(last_close, opening)

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """Open time in ``[start, end)``; zero when ``end`` is not after ``start``."""
        start, end = _utc(start), _utc(end)
        total = timedelta()
        if end <= start:
            return total
        for open_at, close_at in self._forward(self._local_day(start) - timedelta(days=1), until=end):
            if open_at >= end:
                break
            overlap = min(close_at, end) - max(open_at, start)
            if overlap > timedelta():
                total += overlap
        return total

    def business_minutes(self, start: datetime, end: datetime) -> float:
        """:meth:`business_time` in minutes."""
        return self.business_time(start, end) / timedelta(minutes=1)

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime | None:
        """The instant ``amount`` of open time after ``start`` (a first-response deadline), or None when
        that is beyond the horizon."""
        start = _utc(start)
        left = amount
        for open_at, close_at in self._forward(self._local_day(start) - timedelta(days=1)):
            if close_at <= start:
                continue
            begin = max(open_at, start)
            if close_at - begin >= left:
                return begin + left
            left -= close_at - begin
        return None

    # -- intervals -----------------------------------------------------------------------------------

    def _local_day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def _forward(self, first_day: date, until: datetime | None = None) -> Iterator[Interval]:
        """Open intervals of spans starting on ``first_day`` and later, in order, touching ones merged."""
        last_day = first_day + timedelta(days=HORIZON_DAYS)
        if until is not None:
            last_day = self._local_day(until) + timedelta(days=1)
        current: Interval | None = None
        day = first_day
        while day <= last_day:
            for start, end in self._day(day):
                if current is not None and start <= current[1]:
                    current = (current[0], max(current[1], end))
                    continue
                if current is not None:
                    yield current
                current = (start, end)
            day += timedelta(days=1)
        if current is not None:
            yield current

    def _backward(self, last_day: date) -> Iterator[Interval]:
        """Open intervals of spans starting on ``last_day`` and earlier, latest first, touching ones
        merged."""
        current: Interval | None = None
        for back in range(HORIZON_DAYS + 1):
            for start, end in reversed(self._day(last_day - timedelta(days=back))):
                if current is not None and end >= current[0]:
                    current = (min(current[0], start), current[1])
                    continue
                if current is not None:
                    yield current
                current = (start, end)
        if current is not None:
            yield current

    def _day(self, day: date) -> list[Interval]:
        """The spans that start on local ``day``, as UTC intervals, cut where they cross a holiday."""
        cached = self._days.get(day)
        if cached is None:
            if len(self._days) >= _CACHED_DAYS:
                self._days.clear()
            cached = self._days[day] = self._compute_day(day)
        return cached

    def _compute_day(self, day: date) -> list[Interval]:
        spans = self._week[day.weekday()]
        if not spans:
            return []
        midnight = self._instant(day, MINUTES_A_DAY)
        out: list[Interval] = []
        for span in spans:
            start, end = self._instant(day, span.start), self._instant(day, span.end)
            pieces = [(start, min(end, midnight)), (max(start, midnight), end)]
            on = (day, day + timedelta(days=1))
            out += [
                (s, e)
                for (s, e), piece_day in zip(pieces, on, strict=True)
                if s < e and piece_day not in self._holidays
            ]
        return out

    def _instant(self, day: date, minute: int) -> datetime:
        return local_instant(self.zone, day, minute)


def local_instant(zone: ZoneInfo, day: date, minute: int = 0) -> datetime:
    """The first instant (UTC) the clock in ``zone`` reads ``day`` + ``minute`` minutes or later: a time
    the clock skips gives the end of the gap, a time it shows twice its first showing."""
    extra, minute = divmod(minute, MINUTES_A_DAY)
    wall = datetime.combine(day + timedelta(days=extra), time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # The clock skips this time: the answer is the transition that skips it, between the instant the
    # new offset would give and the one the old offset gives (offsets are whole seconds).
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return at.astimezone(UTC)
