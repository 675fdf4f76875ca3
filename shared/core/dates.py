"""Dates of birth: how a clinic system sends one and how a patient types one, read into one ``date``.

A date of birth is PHI: it is kept only encrypted (in the appointment's contact payload) and only to check
that the person opening a secure message is the patient (:mod:`shared.secure`). Nothing here logs or
repeats a value; problems name what is wrong, never the value.

Accepted: ``YYYY-MM-DD`` (ISO 8601, FHIR ``date``, HTML ``<input type=date>``), ``MM/DD/YYYY`` and
``M/D/YYYY`` (with ``/``, ``-`` or ``.``; US order, as the clinics served write it), ``YYYYMMDD``, and
three separate fields (month, day, year). Surrounding spaces are ignored. A date must exist (1980-02-29
does, 1981-02-29 does not), lie after 1900-01-01 and not after ``today``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

EARLIEST: Final = date(1900, 1, 1)
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_US = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
MAX_INPUT = 32


class InvalidDate(ValueError):
    """Not a date of birth (the message says why, never the value)."""


def _checked(year: int, month: int, day: int, today: date | None) -> date:
    try:
        value = date(year, month, day)
    except ValueError as exc:
        raise InvalidDate("is not a date that exists") from exc
    if value < EARLIEST:
        raise InvalidDate("is before 1900")
    if today is not None and value > today:
        raise InvalidDate("is in the future")
    return value


def parse_birth_date(text: str, *, today: date | None = None) -> date:
    """One typed or sent date of birth, in any accepted form; :class:`InvalidDate` otherwise."""
    if not isinstance(text, str) or len(text) > MAX_INPUT:
        raise InvalidDate("is not a date such as 1980-02-29 or 02/29/1980")
    value = text.strip()
    for pattern, order in ((_ISO, (0, 1, 2)), (_COMPACT, (0, 1, 2)), (_US, (2, 0, 1))):
        found = pattern.fullmatch(value)
        if found:
            parts = found.groups()
            year, month, day = (int(parts[i]) for i in order)
            return _checked(year, month, day, today)
    raise InvalidDate("is not a date such as 1980-02-29 or 02/29/1980")


def birth_date_from_fields(month: str, day: str, year: str, *, today: date | None = None) -> date:
    """The three fields of a form (month, day, year), each digits only."""
    parts = [(p or "").strip() for p in (month, day, year)]
    if not all(p.isascii() and p.isdigit() and len(p) <= 4 for p in parts) or len(parts[2]) != 4:
        raise InvalidDate("must be a month, a day and a four-digit year, in digits")
    month_n, day_n, year_n = (int(p) for p in parts)
    return _checked(year_n, month_n, day_n, today)


def birth_date_problem(value: str) -> str | None:
    """Why a stored date of birth (``YYYY-MM-DD`` exactly) cannot be used, else None."""
    if not isinstance(value, str) or not _ISO.fullmatch(value):
        return "must be a date YYYY-MM-DD"
    try:
        _checked(int(value[:4]), int(value[5:7]), int(value[8:]), None)
    except InvalidDate as exc:
        return str(exc)
    return None
