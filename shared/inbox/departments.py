"""Department settings (``PUT /inbox/departments/{department}``): hours, holidays, routing, response target.

:class:`DepartmentSettings` is the request and stored shape of issue 12's contract. It is strict: a bad
``"HH:MM"``, an unknown weekday, a span that opens and closes at once, overlapping spans, an unknown time
zone, a duplicate holiday, keyword or number, or too many entries is refused with a message naming the
field (pydantic's ``loc``), never the value. Until a department is set it has :func:`default_settings`:
Monday to Friday 08:00-17:00 in the clinic's ``DefaultTimeZone`` and a 60-minute first-response target.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared.core.errors import InvalidPhoneNumber
from shared.core.phone import to_e164
from shared.inbox.hours import DEFAULT_HOURS, BusinessHours, Weekday, parse_hhmm, week_of

_T = TypeVar("_T", date, str)
MAX_HOLIDAYS: Final = 400
MAX_KEYWORDS: Final = 100
MAX_NUMBERS: Final = 20
MAX_FIRST_RESPONSE_MINUTES: Final = 7 * 24 * 60
# A department is a Cognito group name: lower case, digits and single inner hyphens ("front-desk"), at
# most 64 characters, the rule shared.inbox.access applies to the groups in a token; "admin" is a role.
_DEPARTMENT: Final = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MAX_DEPARTMENT_LENGTH: Final = 64
# A keyword is one to three words of letters or digits (a hyphen or apostrophe inside a word is allowed).
_KEYWORD: Final = re.compile(r"^[^\W_]+(?:['-][^\W_]+)*(?: [^\W_]+(?:['-][^\W_]+)*){0,2}$")


def check_department(name: str) -> str:
    """A department name: a Cognito group such as ``nursing`` or ``front-desk``; ``admin`` is not one."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_DEPARTMENT_LENGTH
        or not _DEPARTMENT.fullmatch(name)
        or name == "admin"
    ):
        raise ValueError(
            "a department is up to 64 lower-case letters and digits, starting with a letter, words joined "
            "by single hyphens (the staff group's name, e.g. nursing or front-desk); admin is a role"
        )
    return name


DepartmentName = Annotated[str, AfterValidator(check_department)]


def _hhmm(value: str) -> str:
    parse_hhmm(value, end=True)
    return value


Time = Annotated[str, AfterValidator(_hhmm)]


def _keyword(value: str) -> str:
    words = " ".join(value.split()).casefold()
    if not words or len(words) > 40 or not _KEYWORD.fullmatch(words):
        raise ValueError("a keyword is one to three words of letters or digits, at most 40 characters")
    return words


def _number(value: str) -> str:
    try:
        return to_e164(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(f"a clinic number: {exc.message}") from exc


class DepartmentSettings(BaseModel):
    """One department's settings as sent to and returned by ``/inbox/departments/{department}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    time_zone: str = Field(min_length=1, max_length=64)
    hours: dict[Weekday, list[Annotated[list[Time], Field(min_length=2, max_length=2)]]] = Field(
        default_factory=lambda: {day: [list(span) for span in spans] for day, spans in DEFAULT_HOURS.items()}
    )
    holidays: list[date] = Field(default_factory=list, max_length=MAX_HOLIDAYS)
    keywords: list[Annotated[str, AfterValidator(_keyword)]] = Field(
        default_factory=list, max_length=MAX_KEYWORDS
    )
    numbers: list[Annotated[str, AfterValidator(_number)]] = Field(
        default_factory=list, max_length=MAX_NUMBERS
    )
    first_response_minutes: int = Field(default=60, ge=1, le=MAX_FIRST_RESPONSE_MINUTES)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError("unknown time zone; use an IANA name such as America/New_York") from exc
        return value

    @field_validator("hours")
    @classmethod
    def _week(cls, value: dict[Weekday, list[list[str]]]) -> dict[Weekday, list[list[str]]]:
        week_of(value)  # spans that open and close at once, too many a day, overlaps
        return value

    @field_validator("holidays")
    @classmethod
    def _unique_dates(cls, value: list[date]) -> list[date]:
        return sorted(_unique(value))

    @field_validator("keywords", "numbers")
    @classmethod
    def _unique_words(cls, value: list[str]) -> list[str]:
        return sorted(_unique(value))

    def business_hours(self) -> BusinessHours:
        """The :class:`BusinessHours` these settings describe."""
        return BusinessHours.weekly(ZoneInfo(self.time_zone), self.hours, frozenset(self.holidays))


def _unique(value: list[_T]) -> list[_T]:
    if len(set(value)) != len(value):
        raise ValueError("lists an entry twice")
    return value


def default_settings(default_time_zone: str) -> DepartmentSettings:
    """A department's settings until an admin sets them: Monday to Friday 08:00-17:00, 60 minutes."""
    return DepartmentSettings(time_zone=default_time_zone)
