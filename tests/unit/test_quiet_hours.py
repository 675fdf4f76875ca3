"""TCPA quiet hours: window arithmetic across DST transitions, recipient zone choice, properties."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.outbound.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours, next_allowed, recipient_zone

NEW_YORK = ZoneInfo("America/New_York")
HONOLULU = ZoneInfo("Pacific/Honolulu")
PHOENIX = ZoneInfo("America/Phoenix")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC)


# --- the window -------------------------------------------------------------------------------------


def test_defaults_are_8_to_21() -> None:
    assert QuietHours() == DEFAULT_QUIET_HOURS
    assert (DEFAULT_QUIET_HOURS.start, DEFAULT_QUIET_HOURS.end) == (time(8), time(21))


@pytest.mark.parametrize(("start", "end"), [(time(21), time(8)), (time(9), time(9))])
def test_start_must_be_before_end(start: time, end: time) -> None:
    with pytest.raises(ValueError, match="before"):
        QuietHours(start, end)


def test_window_times_must_be_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        QuietHours(time(8, tzinfo=UTC), time(21))
    with pytest.raises(TypeError):
        QuietHours("08:00", time(21))  # type: ignore[arg-type]


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_allowed(datetime(2024, 6, 1, 12), NEW_YORK)


def test_inside_window_returns_at_itself() -> None:
    moment = at("2024-06-03T12:00:00-04:00")
    assert next_allowed(moment, NEW_YORK) is moment
    morning = at("2024-06-03T08:00:00-04:00")
    assert next_allowed(morning, NEW_YORK) is morning
    last = at("2024-06-03T20:59:59.999999-04:00")
    assert next_allowed(last, NEW_YORK) is last


def test_window_is_judged_in_the_recipient_zone_not_the_input_offset() -> None:
    # 11:00 UTC is 07:00 in New York (EDT): too early there, though the input says UTC.
    result = next_allowed(utc("2024-06-03T11:00:00"), NEW_YORK)
    assert result == at("2024-06-03T08:00:00-04:00")
    assert result.tzinfo is NEW_YORK
    assert result.isoformat() == "2024-06-03T08:00:00-04:00"


def test_before_the_window_waits_until_start_same_day() -> None:
    assert next_allowed(at("2024-06-03T07:59:59-04:00"), NEW_YORK) == at("2024-06-03T08:00:00-04:00")
    assert next_allowed(at("2024-06-03T00:00:00-04:00"), NEW_YORK) == at("2024-06-03T08:00:00-04:00")


def test_at_or_after_end_waits_until_next_morning() -> None:
    assert next_allowed(at("2024-06-03T21:00:00-04:00"), NEW_YORK) == at("2024-06-04T08:00:00-04:00")
    assert next_allowed(at("2024-06-03T23:59:59-04:00"), NEW_YORK) == at("2024-06-04T08:00:00-04:00")
    assert next_allowed(at("2024-12-31T22:00:00-05:00"), NEW_YORK) == at("2025-01-01T08:00:00-05:00")


def test_stricter_state_window() -> None:
    hours = QuietHours(time(8), time(20))
    assert hours.next_allowed(at("2024-06-03T20:30:00-04:00"), NEW_YORK) == at("2024-06-04T08:00:00-04:00")
    assert not hours.is_allowed(at("2024-06-03T20:00:00-04:00"), NEW_YORK)
    assert hours.is_allowed(at("2024-06-03T19:59:00-04:00"), NEW_YORK)


# --- DST: America/New_York ----------------------------------------------------------------------------


def test_new_york_spring_forward_default_window() -> None:
    # 2024-03-10 02:00 EST -> 03:00 EDT. 08:00 that morning is EDT (12:00 UTC), not EST (13:00 UTC).
    result = next_allowed(at("2024-03-09T22:00:00-05:00"), NEW_YORK)
    assert result.astimezone(UTC) == utc("2024-03-10T12:00:00")
    assert result.utcoffset() == timedelta(hours=-4)
    assert next_allowed(at("2024-03-10T01:59:59-05:00"), NEW_YORK).astimezone(UTC) == utc(
        "2024-03-10T12:00:00"
    )
    assert next_allowed(at("2024-03-10T03:00:00-04:00"), NEW_YORK).astimezone(UTC) == utc(
        "2024-03-10T12:00:00"
    )


def test_new_york_fall_back_default_window() -> None:
    # 2024-11-03 02:00 EDT -> 01:00 EST. 08:00 that morning is EST (13:00 UTC).
    expected = utc("2024-11-03T13:00:00")
    assert next_allowed(at("2024-11-02T21:00:00-04:00"), NEW_YORK).astimezone(UTC) == expected
    assert next_allowed(at("2024-11-03T01:30:00-04:00"), NEW_YORK).astimezone(UTC) == expected
    assert next_allowed(at("2024-11-03T01:30:00-05:00"), NEW_YORK).astimezone(UTC) == expected
    # The day is 25 hours long: 21:00 EST on the 3rd is 02:00 UTC on the 4th.
    assert next_allowed(at("2024-11-03T21:00:00-05:00"), NEW_YORK).astimezone(UTC) == utc(
        "2024-11-04T13:00:00"
    )


def test_start_inside_spring_forward_gap_opens_at_end_of_gap() -> None:
    # 02:30 does not exist on 2024-03-10: the clock reads 03:00 EDT at 07:00 UTC, already past 02:30.
    hours = QuietHours(time(2, 30), time(21))
    result = hours.next_allowed(at("2024-03-10T01:00:00-05:00"), NEW_YORK)
    assert result.astimezone(UTC) == utc("2024-03-10T07:00:00")
    assert result.isoformat() == "2024-03-10T03:00:00-04:00"


def test_start_inside_fall_back_repeated_hour() -> None:
    hours = QuietHours(time(1, 30), time(21))
    # Before the first 01:30 (EDT): opens at the first occurrence.
    first = hours.next_allowed(at("2024-11-03T00:10:00-04:00"), NEW_YORK)
    assert first.astimezone(UTC) == utc("2024-11-03T05:30:00")
    assert (first.hour, first.minute, first.fold) == (1, 30, 0)
    # Inside the window during the first pass.
    moment = at("2024-11-03T01:45:00-04:00")
    assert hours.next_allowed(moment, NEW_YORK) is moment
    # After the clock falls back to 01:00 EST, 01:10 is before 01:30 again: opens at the second 01:30.
    second = hours.next_allowed(at("2024-11-03T01:10:00-05:00"), NEW_YORK)
    assert second.astimezone(UTC) == utc("2024-11-03T06:30:00")
    assert (second.hour, second.minute, second.fold) == (1, 30, 1)


# --- other zones --------------------------------------------------------------------------------------


def test_honolulu_has_no_dst() -> None:
    # On New York's spring-forward day Honolulu stays at -10:00.
    result = next_allowed(at("2024-03-10T05:00:00-10:00"), HONOLULU)
    assert result == at("2024-03-10T08:00:00-10:00")
    assert next_allowed(utc("2024-07-01T07:00:00"), HONOLULU) == at("2024-07-01T08:00:00-10:00")


def test_phoenix_has_no_dst_while_new_york_does() -> None:
    # 14:30 UTC on 2024-03-10 is 07:30 MST in Phoenix (10:30 EDT in New York).
    moment = utc("2024-03-10T14:30:00")
    assert next_allowed(moment, NEW_YORK) is moment
    assert next_allowed(moment, PHOENIX).astimezone(UTC) == utc("2024-03-10T15:00:00")
    assert next_allowed(utc("2024-07-01T04:30:00"), PHOENIX) == at("2024-07-01T08:00:00-07:00")


def test_lord_howe_half_hour_dst_start() -> None:
    # 2024-10-06 02:00 +10:30 -> 02:30 +11:00 (30-minute shift).
    result = next_allowed(at("2024-10-05T22:00:00+10:30"), LORD_HOWE)
    assert result.isoformat() == "2024-10-06T08:00:00+11:00"
    assert result.astimezone(UTC) == utc("2024-10-05T21:00:00")
    # A window starting in the 30-minute gap opens when the gap ends.
    gap = QuietHours(time(2, 15), time(21)).next_allowed(at("2024-10-06T01:50:00+10:30"), LORD_HOWE)
    assert gap.isoformat() == "2024-10-06T02:30:00+11:00"


def test_lord_howe_half_hour_dst_end() -> None:
    # 2024-04-07 02:00 +11:00 -> 01:30 +10:30: 01:30-02:00 happens twice.
    result = next_allowed(at("2024-04-06T21:00:00+11:00"), LORD_HOWE)
    assert result.isoformat() == "2024-04-07T08:00:00+10:30"
    hours = QuietHours(time(1, 45), time(21))
    first = hours.next_allowed(at("2024-04-07T01:35:00+11:00"), LORD_HOWE)
    assert first.astimezone(UTC) == utc("2024-04-06T14:45:00")
    second = hours.next_allowed(at("2024-04-07T01:35:00+10:30"), LORD_HOWE)
    assert second.astimezone(UTC) == utc("2024-04-06T15:15:00")


def test_skipped_calendar_day_samoa_2011() -> None:
    # Samoa skipped 2011-12-30 entirely (-10:00 -> +14:00 at midnight).
    result = next_allowed(at("2011-12-29T22:00:00-10:00"), ZoneInfo("Pacific/Apia"))
    assert result.isoformat() == "2011-12-31T08:00:00+14:00"


def test_midnight_transition_havana() -> None:
    # Havana springs forward at 00:00 -> 01:00; a window starting at 00:30 opens at 01:00 CDT.
    hours = QuietHours(time(0, 30), time(21))
    result = hours.next_allowed(at("2024-03-09T23:00:00-05:00"), ZoneInfo("America/Havana"))
    assert result.isoformat() == "2024-03-10T01:00:00-04:00"


def test_fall_back_can_reopen_the_window() -> None:
    # Santiago falls back at 2024-04-07 00:00 -03 -> 2024-04-06 23:00 -04. With a window of
    # 22:30-23:30, 23:50 -03 is outside, and the very next instant (the transition) reads 23:00: inside.
    santiago = ZoneInfo("America/Santiago")
    hours = QuietHours(time(22, 30), time(23, 30))
    result = hours.next_allowed(at("2024-04-06T23:50:00-03:00"), santiago)
    assert result.astimezone(UTC) == utc("2024-04-07T03:00:00")
    assert result.isoformat() == "2024-04-06T23:00:00-04:00"


# --- properties -------------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Adak",
    "Pacific/Honolulu",
    "America/St_Johns",
    "America/Havana",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Asia/Kathmandu",
    "Asia/Tehran",
    "Europe/London",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Antarctica/Troll",
    "UTC",
]

zones = st.sampled_from(ZONES).map(ZoneInfo)
instants = st.datetimes(
    min_value=datetime(1995, 1, 1),
    max_value=datetime(2045, 12, 31),
    timezones=st.sampled_from([UTC, *(ZoneInfo(name) for name in ZONES)]),
    allow_imaginary=False,
)
times = st.times()


@st.composite
def windows(draw: st.DrawFn) -> QuietHours:
    if draw(st.booleans()):
        return DEFAULT_QUIET_HOURS
    start, end = draw(times), draw(times)
    assume(start != end)
    return QuietHours(min(start, end), max(start, end))


def _local_time(moment: datetime, zone: ZoneInfo) -> time:
    return moment.astimezone(zone).time().replace(fold=0)


@settings(max_examples=400, deadline=None)
@given(instants, zones, windows())
def test_next_allowed_properties(moment: datetime, zone: ZoneInfo, hours: QuietHours) -> None:
    result = hours.next_allowed(moment, zone)
    # Never earlier than asked.
    assert result >= moment
    # Inside the window in the recipient's local time.
    assert hours.start <= _local_time(result, zone) < hours.end
    # Idempotent.
    assert hours.next_allowed(result, zone) == result
    # Never more than two local days (plus a transition) away.
    assert result - moment <= timedelta(days=2, hours=2)
    if result != moment:
        assert result.tzinfo is zone
        # The earliest such moment: just before it, and at sample points in between, sending is not allowed.
        # Instant arithmetic in UTC: adding a timedelta to an aware datetime is wall-clock arithmetic in its
        # own zone, which lands on the wrong instant across a DST change (Havana's midnight fall-back).
        assert not hours.is_allowed(result.astimezone(UTC) - timedelta(microseconds=1), zone)
        for step in range(1, 24):
            between = moment.astimezone(UTC) + (result - moment) * step / 24
            if between < result:
                assert not hours.is_allowed(between, zone), between


@settings(max_examples=200, deadline=None)
@given(instants, zones)
def test_allowed_moments_are_returned_unchanged(moment: datetime, zone: ZoneInfo) -> None:
    if DEFAULT_QUIET_HOURS.is_allowed(moment, zone):
        assert next_allowed(moment, zone) is moment
    else:
        assert next_allowed(moment, zone) > moment


# --- recipient_zone ---------------------------------------------------------------------------------


def test_appointment_zone_wins() -> None:
    assert recipient_zone("America/Denver", "+18085551234", "America/Chicago") == ZoneInfo("America/Denver")


def test_number_zone_when_unambiguous() -> None:
    assert recipient_zone(None, "+18085551234", "America/Chicago") == HONOLULU
    assert recipient_zone(None, "+16025551234", "America/Chicago") == PHOENIX
    assert recipient_zone(None, "+12125551234", "America/Chicago") == NEW_YORK
    assert recipient_zone(None, "+442071234567", "America/Chicago") == ZoneInfo("Europe/London")
    assert recipient_zone("", "+18085551234", "America/Chicago") == HONOLULU


def test_invalid_appointment_zone_falls_through() -> None:
    assert recipient_zone("Mars/Olympus_Mons", "+18085551234", "America/Chicago") == HONOLULU
    assert recipient_zone("../etc/passwd", None, "America/Chicago") == ZoneInfo("America/Chicago")


def test_number_with_several_zones_uses_clinic_default() -> None:
    # US toll-free numbers map to every North American zone.
    assert recipient_zone(None, "+18005551234", "America/Chicago") == ZoneInfo("America/Chicago")
    # The default is used even when it is not among the number's zones.
    assert recipient_zone(None, "+18005551234", "Europe/Berlin") == ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("e164", [None, "", "not a number", "8085551234", "+1", "+15555555555"])
def test_unusable_number_uses_clinic_default(e164: str | None) -> None:
    assert recipient_zone(None, e164, "America/Chicago") == ZoneInfo("America/Chicago")


def test_invalid_clinic_default_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="clinic default"):
        recipient_zone("America/Denver", None, "Not/A_Zone")


@settings(max_examples=200)
@given(st.one_of(st.none(), st.text(max_size=40)), st.one_of(st.none(), st.text(max_size=25)))
def test_recipient_zone_never_raises_on_junk(appointment_zone: str | None, e164: str | None) -> None:
    assert isinstance(recipient_zone(appointment_zone, e164, "America/Chicago"), ZoneInfo)
