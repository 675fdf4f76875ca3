"""TCPA quiet hours: when a non-urgent text may be sent, in the recipient's local time.

No non-urgent text may go out before 08:00 or after 21:00 in the recipient's local time (some states are
stricter, e.g. 20:00, so the window is configurable). A message outside the window is deferred to the
next moment the window opens, never dropped. Everything here is pure: no clock, no AWS.

The window is half-open, ``[start, end)``: with the default 08:00-21:00, 08:00:00 is allowed and
21:00:00 is not. Daylight-saving transitions are handled on real instants, not wall-clock arithmetic: on
a spring-forward day whose gap swallows ``start`` the window opens at the end of the gap; on a fall-back
day whose repeated hour contains ``start`` it opens at the first occurrence (and, for a moment inside
the repeated hour that is before ``start`` again, at the second occurrence).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers.timezone import time_zones_for_number

__all__ = ["DEFAULT_QUIET_HOURS", "QuietHours", "next_allowed", "recipient_zone", "zone_or_none"]

# Offsets are sampled this far apart to find the exact instant of a UTC-offset change; no time zone has
# ever had two transitions less than this apart.
_SCAN_STEP = timedelta(minutes=30)
_RESOLUTION = timedelta(microseconds=1)
_MAX_INTERVALS = 16


@dataclass(frozen=True, slots=True)
class QuietHours:
    """The allowed sending window ``[start, end)`` in the recipient's local wall-clock time."""

    start: time = time(8, 0)
    end: time = time(21, 0)

    def __post_init__(self) -> None:
        if not isinstance(self.start, time) or not isinstance(self.end, time):
            raise TypeError("QuietHours start and end must be datetime.time values")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("QuietHours start and end are local wall-clock times: pass naive times")
        if not self.start < self.end:
            raise ValueError(f"QuietHours start {self.start} must be before end {self.end}")

    def allows_local(self, local: time) -> bool:
        """Whether a local wall-clock time is inside the window."""
        return self.start <= local.replace(tzinfo=None, fold=0) < self.end

    def is_allowed(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether the aware instant ``at`` is inside the window in ``zone``."""
        _require_aware(at)
        return self.allows_local(at.astimezone(zone).time())

    def next_allowed(self, at: datetime, zone: ZoneInfo) -> datetime:
        """``at`` itself if it is inside the window in ``zone``; otherwise the next instant the window
        opens there, as an aware datetime in ``zone``.

        Raises ``ValueError`` for a naive ``at``.
        """
        _require_aware(at)
        if self.is_allowed(at, zone):
            return at
        cursor = at.astimezone(UTC)
        for _ in range(_MAX_INTERVALS):
            offset = _offset(cursor, zone)
            wall = (cursor + offset).replace(tzinfo=None)
            if self.allows_local(wall.time()):
                # Only reached at a UTC-offset change that jumped the wall clock into the window.
                return cursor.astimezone(zone)
            opening_day: date = wall.date() if wall.time() < self.start else wall.date() + timedelta(days=1)
            # When the window opens if the current offset holds until then...
            candidate = datetime.combine(opening_day, self.start, tzinfo=UTC) - offset
            change = _first_offset_change(cursor, candidate, zone, offset)
            if change is None:
                return candidate.astimezone(zone)
            # ...but it does not: start again from the instant the offset changes.
            cursor = change
        # Unreachable: each pass either returns or moves to the next offset change, and no zone has
        # _MAX_INTERVALS changes within two days.
        raise RuntimeError(f"no sending window found after {at.isoformat()} in {zone.key}")


DEFAULT_QUIET_HOURS = QuietHours()
"""08:00-21:00, the TCPA default."""


def next_allowed(at: datetime, zone: ZoneInfo, hours: QuietHours = DEFAULT_QUIET_HOURS) -> datetime:
    """Module-level shortcut for :meth:`QuietHours.next_allowed` (default window 08:00-21:00)."""
    return hours.next_allowed(at, zone)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")


def _offset(instant_utc: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant_utc.astimezone(zone).utcoffset()
    if offset is None:  # a ZoneInfo always has an offset for an aware instant
        raise ValueError(f"time zone {zone.key} gives no UTC offset")
    return offset


def _first_offset_change(
    after: datetime, until: datetime, zone: ZoneInfo, offset: timedelta
) -> datetime | None:
    """The earliest instant in ``(after, until]`` whose UTC offset in ``zone`` differs from ``offset``."""
    low = after
    while low < until:
        high = min(low + _SCAN_STEP, until)
        if _offset(high, zone) != offset:
            # Offset is `offset` at low and something else at high: bisect to the exact instant.
            while high - low > _RESOLUTION:
                middle = low + (high - low) / 2
                if _offset(middle, zone) == offset:
                    low = middle
                else:
                    high = middle
            return high
        low = high
    return None


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """``ZoneInfo(name)``, or None for an empty, malformed or unknown zone name."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def recipient_zone(appointment_zone: str | None, e164: str | None, clinic_default: str) -> ZoneInfo:
    """The time zone whose quiet hours apply to a recipient.

    1. The appointment location's zone, when given and valid.
    2. The phone number's zone, when ``phonenumbers`` maps the number to exactly one known zone.
       A number that maps to several zones (toll-free, non-geographic, some countries) gives no answer
       of its own: the clinic default is used.
    3. The clinic default. It must be a valid zone name (``ValueError`` otherwise): it is configuration.
    """
    default = zone_or_none(clinic_default)
    if default is None:
        raise ValueError(f"clinic default time zone {clinic_default!r} is not a known IANA zone")
    appointment = zone_or_none(appointment_zone)
    if appointment is not None:
        return appointment
    if e164:
        candidates = _number_zones(e164)
        if len(candidates) == 1:
            number_zone = zone_or_none(candidates[0])
            if number_zone is not None:
                return number_zone
        # Several zones: the clinic default is the answer whether or not it is among them.
    return default


def _number_zones(e164: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = tuple(time_zones_for_number(number))
    return tuple(zone for zone in zones if zone != "Etc/Unknown")
