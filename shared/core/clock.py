"""Time is a port: domain code asks a Clock, so tests and scheduled runs control "now".

Every instant ClinicText stores goes through :func:`iso` and is read back through :func:`parse_iso`:
one format, one parser. Instants that come from outside (API bodies, FHIR, CSV, webhooks) are checked
with :func:`check_instant` (or the pydantic type :data:`Instant`) before anything is stored, so a year
like 0001 or 9999 with a negative offset is a 400 naming the field, never a record that cannot be read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol

from pydantic import AfterValidator


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told; used by tests and by replayed scheduled runs."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, **kwargs: float) -> None:
        self._at = self._at + timedelta(**kwargs)


# The window of instants ClinicText accepts from outside: nothing a clinic does happens before 1900,
# and nothing is planned more than a century ahead.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
HORIZON = timedelta(days=100 * 365 + 24)  # 100 years, leap days included


_OUTSIDE = "is outside the accepted range (1900 to 100 years from now)"


def _utc(at: datetime, naive: str, overflow: str) -> datetime:
    """``at`` in UTC; ``ValueError(naive)`` when it has no offset, ``ValueError(overflow)`` (never an
    ``OverflowError``) when UTC falls outside year 1 to 9999."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(naive)
    try:
        return at.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(overflow) from exc


def iso(at: datetime) -> str:
    """Canonical sortable UTC timestamp used in keys and attributes: 2026-11-24T15:30:00.000000Z.

    The year is always four digits (``strftime("%Y")`` writes year 1 as ``1`` on glibc, which no ISO
    parser reads back). A naive datetime is refused rather than guessed.
    """
    utc = _utc(at, "timestamp has no UTC offset", "timestamp is outside the representable range")
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 instant with an offset (``Z`` allowed) into an aware UTC datetime.

    Raises ``ValueError`` (never ``OverflowError``) for text that is not such an instant.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return _utc(parsed, "timestamp has no UTC offset", "timestamp is outside the representable range")


def check_instant(at: datetime, *, now: datetime | None = None) -> datetime:
    """``at`` in UTC when it is aware and inside the accepted window, else ``ValueError`` saying why.

    The window is :data:`EARLIEST` to 100 years after ``now`` (the system clock when not given).
    """
    utc = _utc(at, "must carry a UTC offset, e.g. 2026-11-23T14:05:00-05:00", _OUTSIDE)
    latest = (now or datetime.now(UTC)) + HORIZON
    if utc < EARLIEST or utc > latest:
        raise ValueError(_OUTSIDE)
    return utc


def _check_instant(at: datetime) -> datetime:
    return check_instant(at)


# A pydantic field type for instants from outside: aware, inside the window, normalised to UTC.
Instant = Annotated[datetime, AfterValidator(_check_instant)]


# Clocks of the systems that stamp events (SNS, API Gateway, the function) may disagree this much.
CLOCK_SKEW = timedelta(minutes=5)
