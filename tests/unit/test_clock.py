"""One timestamp format, one parser: everything iso() writes, parse_iso() reads back (issue 10 §1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.core.clock import EARLIEST, Instant, check_instant, iso, parse_iso

# Every offset datetime allows (strictly inside +-24h), to the minute, plus odd seconds offsets.
offsets = st.builds(
    lambda minutes, seconds: timezone(timedelta(minutes=minutes, seconds=seconds)),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
    st.sampled_from([0, 0, 0, 30]),
)


@given(st.datetimes(timezones=offsets))
def test_every_representable_instant_round_trips(at: datetime) -> None:
    try:
        at.astimezone(UTC)
    except OverflowError:
        with pytest.raises(ValueError):
            iso(at)
        return
    text = iso(at)
    assert len(text) == len("2026-11-24T15:30:00.000000Z")
    assert parse_iso(text) == at
    assert iso(parse_iso(text)) == text


@given(st.datetimes(timezones=offsets), st.datetimes(timezones=offsets))
def test_iso_sorts_like_the_instants(a: datetime, b: datetime) -> None:
    try:
        left, right = iso(a), iso(b)
    except ValueError:
        return
    assert (left < right) == (a < b)


def test_year_one_is_padded_and_reads_back() -> None:
    # Before the fix strftime wrote "1-01-01T..." and every read of the record failed.
    at = datetime(1, 1, 1, tzinfo=UTC)
    assert iso(at) == "0001-01-01T00:00:00.000000Z"
    assert parse_iso(iso(at)) == at


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+05:00", "not a time", "2026-01-01T00:00:00"]
)
def test_parse_iso_refuses_with_value_error_only(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)


def test_naive_datetime_is_never_written() -> None:
    with pytest.raises(ValueError):
        iso(datetime(2026, 1, 1))


class _Body(BaseModel):
    at: Instant


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00Z",
        "0999-06-01T00:00:00Z",
        "1899-12-31T23:59:59Z",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59Z",
        "2026-01-01T00:00:00",
    ],
)
def test_instant_outside_the_window_is_a_validation_error(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Body.model_validate({"at": value})
    assert caught.value.errors()[0]["loc"] == ("at",)


def test_instant_inside_the_window_is_normalised_to_utc() -> None:
    parsed = _Body.model_validate({"at": "2026-11-23T14:05:00-05:00"}).at
    assert parsed == datetime(2026, 11, 23, 19, 5, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)


def test_window_edges() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert check_instant(EARLIEST, now=now) == EARLIEST
    with pytest.raises(ValueError):
        check_instant(EARLIEST - timedelta(microseconds=1), now=now)
    assert check_instant(now + timedelta(days=36_500), now=now)
    with pytest.raises(ValueError):
        check_instant(now + timedelta(days=36_550), now=now)
