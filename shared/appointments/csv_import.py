"""Appointment import from a CSV file, for practices whose system cannot send FHIR.

Column layout
-------------
The first row is the header. Column names are matched case-insensitively; surrounding spaces are ignored and
inner spaces or hyphens count as underscores (``Appointment ID`` = ``appointment_id``). Column order is free.

Required columns (a file without any of them is refused as a whole, naming the missing ones):

``appointment_id``
    Your system's id for the appointment: 1-64 letters, digits, ``-`` or ``.``. Sending the same id again
    updates the appointment.
``start``
    When the appointment starts. Either ISO 8601 with a UTC offset (``2025-03-04T09:30:00-08:00``,
    ``2025-03-04 17:30Z``), or a local date and time without offset (``2025-03-04T09:30``) together with the
    ``time_zone`` column, in which case it is read as local time in that zone. A local time that does not
    exist (skipped by a daylight-saving change) is refused; one that occurs twice is read as the first.
``patient_id``
    Your system's id for the patient: 1-64 letters, digits, ``-`` or ``.``.
``mobile_phone``
    The patient's mobile number for texts. E.164 (``+12065550123``) or a national number of the default region
    (``(206) 555-0123`` for a US practice).

Optional columns:

``status``
    One of proposed, pending, booked, arrived, fulfilled, cancelled, noshow, entered-in-error, checked-in,
    waitlist. Default: booked. Only booked appointments are reminded. For cancelled, noshow and
    entered-in-error only ``appointment_id`` is needed; other values of such a row are used when valid and
    left out otherwise, so a cancellation always gets in.
``first_name``
    The patient's first name, as reminders should greet them (one line, at most 64 characters).
``location_name``
    Name of the place the patient goes to (the clinic or site, not a department; at most 120 characters).
``location_address``
    Street and city on one line (``1200 Harbor Ave SW, Suite 300, Seattle``; at most 200 characters).
``time_zone``
    IANA time zone of the location (``America/Los_Angeles``). Used for quiet hours and for reading a ``start``
    or ``end`` given without offset.
``end``
    When the appointment ends; same formats as ``start``.
``dob``
    The patient's date of birth (``1980-02-29`` or ``02/29/1980``). Kept encrypted, only to check who opens
    a secure message; a row whose dob is not a date is refused.

Dates must lie between 1900 and 100 years from now. Names and places are one line of printable text:
control characters (tab, ESC, ...) and line breaks are refused. A mobile number that cannot receive texts
(a landline, a toll-free number, a number outside the clinic's country code) is not refused: the row is
stored, and reported as planning no reminder and why.

Any other column (``reason``, ``notes``, ``provider``, ...) is ignored and never stored: leave clinical
details out of the file if you can. Empty cells count as absent; an update whose three location cells are
empty keeps the place stored for the appointment. The file is UTF-8 (a byte-order mark is fine),
comma-separated, fields quoted with ``"`` where needed; CRLF or LF line ends; blank lines are skipped.

One line is one row, always: a quoted value may not span lines. This is what keeps one patient's row from
ever swallowing the next patient's: a row whose quote does not close on its own line is refused (naming the
column where the quote opens), and the next line is read as the next row. A row with more or fewer values
than the header names, or with a quote inside a value that is not itself quoted, is refused the same way.

Each row is reported as accepted or refused with the column that caused it. Row numbers are line numbers,
as a spreadsheet shows them when no cell spans lines: the header is row 1. Reports name columns, never the
values in them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Final, TypeVar, cast
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.appointments.intake import (
    APPOINTMENT_STATUSES,
    CANCELLATION_STATUSES,
    FIRST_NAME_MAX,
    LOCATION_ADDRESS_MAX,
    LOCATION_NAME_MAX,
    AppointmentIntake,
    AppointmentStatus,
    is_fhir_id,
    is_iana_time_zone,
    mobile_to_e164,
    sms_problem,
    text_problem,
)
from shared.core.clock import check_instant
from shared.core.dates import InvalidDate, parse_birth_date

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "CsvRejected",
    "CsvReport",
    "CsvRowResult",
    "column_key",
    "line_values",
    "parse_csv",
    "split_lines",
]

REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("appointment_id", "start", "patient_id", "mobile_phone")
OPTIONAL_COLUMNS: Final[tuple[str, ...]] = (
    "status",
    "first_name",
    "location_name",
    "location_address",
    "time_zone",
    "end",
    "dob",
)
LOCATION_COLUMNS: Final[tuple[str, ...]] = ("location_name", "location_address", "time_zone")
_KNOWN_COLUMNS: Final[frozenset[str]] = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
_TEXT_LIMITS: Final[dict[str, int]] = {
    "first_name": FIRST_NAME_MAX,
    "location_name": LOCATION_NAME_MAX,
    "location_address": LOCATION_ADDRESS_MAX,
}
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DATE_AND_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_LINE_END = re.compile(r"\r\n|\n|\r")
_ISO_HINT: Final[str] = "use ISO 8601 such as 2025-03-04T09:30:00-08:00"

_T = TypeVar("_T")
# AppointmentIntake field -> the CSV column it comes from, for error reports.
_FIELD_COLUMNS: Final[dict[str, str]] = {
    "source_id": "appointment_id",
    "patient_ref": "patient_id",
    "mobile_e164": "mobile_phone",
}


class CsvRejected(Exception):
    """The file as a whole cannot be imported (no header, missing required columns, not CSV)."""

    def __init__(self, message: str, *, missing_columns: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.missing_columns = missing_columns


class CsvRowResult(BaseModel):
    """What happened to one data row. ``reason`` names the column, never its value.

    ``note`` is set on an accepted row whose patient cannot be texted (why no reminder will go out).
    """

    model_config = ConfigDict(frozen=True)

    row: int
    accepted: bool
    column: str | None = None
    reason: str | None = None
    note: str | None = None


class CsvReport(BaseModel):
    """Intakes from the accepted rows (with their row numbers) and a result for every data row."""

    model_config = ConfigDict(frozen=True)

    intakes: list[tuple[int, AppointmentIntake]]
    rows: list[CsvRowResult]
    ignored_columns: list[str]

    @property
    def accepted_count(self) -> int:
        return sum(1 for row in self.rows if row.accepted)

    @property
    def refused_count(self) -> int:
        return sum(1 for row in self.rows if not row.accepted)


class _RowRefused(Exception):
    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def column_key(header: str) -> str:
    """The column a header cell names: case-insensitive, spaces and hyphens as underscores."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def split_lines(text: str) -> list[str]:
    """The file's physical lines (CRLF, LF or CR), a byte-order mark dropped. One line is one row."""
    return _LINE_END.split(text.removeprefix("\ufeff"))


def _blank(line: str) -> bool:
    return not line.replace(",", "").strip()


def _quote_problem(line: str) -> tuple[int, str] | None:
    """(column index, what is wrong) for the first misplaced quote of one line, ``None`` when it is sound.

    RFC 4180 on one line: a value is either quoted entirely (``"..."``, with ``""`` for a quote inside) or
    holds no quote at all. The ``csv`` module reads the values; this only finds where a quote goes wrong,
    so the report can name the column.
    """
    position, column, length = 0, 0, len(line)
    while True:
        if position < length and line[position] == '"':
            position += 1
            while True:
                close = line.find('"', position)
                if close < 0:
                    return column, "a quoted value does not close on this line (a value may not span lines)"
                if line.startswith('""', close):
                    position = close + 2
                    continue
                position = close + 1
                break
            if position < length and line[position] != ",":
                return column, "a quoted value is followed by more text before the next comma"
        else:
            comma = line.find(",", position)
            end = length if comma < 0 else comma
            if '"' in line[position:end]:
                return column, 'a value holds a quote but is not itself quoted (write it as "...")'
            position = end
        if position >= length:
            return None
        position += 1  # the comma
        column += 1


def line_values(line: str) -> list[str] | None:
    """The values of one physical line when it is sound CSV (RFC 4180, on one line), else ``None``."""
    try:
        return _record(line, None)
    except _RowRefused:
        return None


def _record(line: str, header: list[str] | None) -> list[str]:
    """The values of one line, or ``_RowRefused`` naming the column where its quoting goes wrong."""
    problem = _quote_problem(line)
    if problem is not None:
        position, reason = problem
        raise _RowRefused(_column_label(header, position), reason)
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as exc:  # e.g. a value longer than the csv module's field limit
        raise _RowRefused(None, "the row could not be read as CSV (a value may be far too long)") from exc


def _column_label(header: list[str] | None, position: int) -> str:
    if header is not None and position < len(header):
        key = column_key(header[position])
        if key in _KNOWN_COLUMNS or _COLUMN_NAME.fullmatch(key):
            return key
    return f"column {position + 1}"


def parse_csv(text: str, default_region: str = "US") -> CsvReport:
    """Read an appointment CSV (layout in the module docstring) into intakes and a per-row report.

    Raises :class:`CsvRejected` when the file has no header row, lacks required columns, repeats a column or
    its header cannot be read as CSV. Every other problem refuses only its own row.
    """
    lines = split_lines(text)
    header: list[str] | None = None
    header_row = 0
    for number, line in enumerate(lines, start=1):
        if _blank(line):
            continue
        try:
            header = _record(line, None)
        except _RowRefused as refused:
            raise CsvRejected(
                f"The header row (row {number}) cannot be read as CSV: {refused.reason}."
            ) from None
        header_row = number
        break
    if header is None:
        raise CsvRejected("The file is empty: the first row must name the columns.")
    columns = _columns(header)
    intakes: list[tuple[int, AppointmentIntake]] = []
    rows: list[CsvRowResult] = []
    seen: dict[str, int] = {}
    for row_number, line in enumerate(lines[header_row:], start=header_row + 1):
        if _blank(line):
            continue
        try:
            record = _record(line, header)
            if len(record) != len(header):
                raise _RowRefused(
                    None,
                    f"the row has {len(record)} values but the header names {len(header)} columns; "
                    "quote values that contain commas, and keep every row to the header's columns",
                )
            values = {
                name: record[position].strip()
                for name, position in columns.items()
                if record[position].strip()
            }
            intake, note = _intake(values, default_region)
            first = seen.setdefault(intake.source_id, row_number)
            if first != row_number:
                raise _RowRefused("appointment_id", f"appointment_id repeats the one in row {first}")
        except _RowRefused as refused:
            rows.append(
                CsvRowResult(row=row_number, accepted=False, column=refused.column, reason=refused.reason)
            )
            continue
        intakes.append((row_number, intake))
        rows.append(CsvRowResult(row=row_number, accepted=True, note=note))
    # Reported back so the practice sees what was dropped; only names that look like column names, in case
    # a data row was pasted where the header belongs.
    ignored = sorted(
        {key for key in map(column_key, header) if key not in _KNOWN_COLUMNS and _COLUMN_NAME.fullmatch(key)}
    )
    return CsvReport(intakes=intakes, rows=rows, ignored_columns=ignored)


def _columns(header: list[str]) -> dict[str, int]:
    """Positions of the known columns; refuses the file on missing or repeated ones."""
    positions: dict[str, int] = {}
    for position, name in enumerate(header):
        key = column_key(name)
        if key not in _KNOWN_COLUMNS:
            continue
        if key in positions:
            raise CsvRejected(f"The column {key} appears more than once in the header row.")
        positions[key] = position
    missing = tuple(name for name in REQUIRED_COLUMNS if name not in positions)
    if missing:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in (";", "\t")):
            hint = " The file seems to use ';' or tabs between values; save it as comma-separated (CSV)."
        raise CsvRejected(
            f"The header row lacks required column(s): {', '.join(missing)}. Required: "
            f"{', '.join(REQUIRED_COLUMNS)}.{hint}",
            missing_columns=missing,
        )
    return positions


def _optional(values: dict[str, str], column: str, read: Callable[[str], _T], *, lenient: bool) -> _T | None:
    """The parsed cell, ``None`` when empty; a bad value refuses the row unless ``lenient``."""
    if column not in values:
        return None
    try:
        return read(values[column])
    except _RowRefused:
        if lenient:
            return None
        raise


def _birth_date(raw: str) -> str:
    try:
        return parse_birth_date(raw, today=datetime.now(UTC).date()).isoformat()
    except InvalidDate as exc:
        raise _RowRefused("dob", f"dob {exc} (write it as 1980-02-29 or 02/29/1980)") from exc


def _intake(values: dict[str, str], default_region: str) -> tuple[AppointmentIntake, str | None]:
    """The row's intake, and a note when its patient cannot be texted (the row is still accepted)."""
    appointment_id = values.get("appointment_id")
    if appointment_id is None:
        raise _RowRefused("appointment_id", "appointment_id is empty")
    if not is_fhir_id(appointment_id):
        raise _RowRefused("appointment_id", "appointment_id must be 1-64 letters, digits, '-' or '.'")

    status = values.get("status", "booked").lower()
    if status not in APPOINTMENT_STATUSES:
        raise _RowRefused("status", "status must be one of " + ", ".join(sorted(APPOINTMENT_STATUSES)))
    # A cancellation needs only its id: any other value that does not parse is left out instead of refusing.
    lenient = status in CANCELLATION_STATUSES

    time_zone = _optional(values, "time_zone", _time_zone, lenient=lenient)
    start = _optional(values, "start", lambda raw: _instant("start", raw, time_zone), lenient=lenient)
    end = _optional(values, "end", lambda raw: _instant("end", raw, time_zone), lenient=lenient)
    mobile = _optional(values, "mobile_phone", lambda raw: _mobile(raw, default_region), lenient=lenient)
    patient_id = _optional(values, "patient_id", _patient_id, lenient=lenient)
    birth_date = _optional(values, "dob", _birth_date, lenient=lenient)
    text: dict[str, str | None] = {
        column: _optional(values, column, partial(_text, column), lenient=lenient) for column in _TEXT_LIMITS
    }
    if not lenient:
        for column, value in (("start", start), ("patient_id", patient_id), ("mobile_phone", mobile)):
            if value is None:
                raise _RowRefused(column, f"{column} is empty")
    if start is not None and end is not None and end < start:
        if not lenient:
            raise _RowRefused("end", "end is before start")
        end = None

    note = None
    problem = sms_problem(mobile, default_region) if mobile else None
    if problem and not lenient:
        note = f"mobile_phone {problem}"
    try:
        intake = AppointmentIntake(
            source_id=appointment_id,
            status=cast(AppointmentStatus, status),
            start=start,
            end=end,
            patient_ref=f"Patient/{patient_id}" if patient_id else None,
            first_name=text["first_name"],
            mobile_e164=None if problem else mobile,
            location_sent=any(column in values for column in LOCATION_COLUMNS),
            location_name=text["location_name"],
            location_address=text["location_address"],
            time_zone=time_zone,
            birth_date=birth_date,
        )
    except ValidationError as exc:  # a safety net: the checks above refuse what the model would
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        loc = errors[0]["loc"] if errors else ()
        bad = _FIELD_COLUMNS.get(str(loc[0]), str(loc[0])) if loc else None
        raise _RowRefused(bad, f"{bad or 'the row'} cannot be used as given") from exc
    return intake, note


def _text(column: str, raw: str) -> str:
    problem = text_problem(raw, max_length=_TEXT_LIMITS[column])
    if problem:
        raise _RowRefused(column, f"{column} {problem}")
    return " ".join(raw.split())


def _time_zone(raw: str) -> str:
    if not is_iana_time_zone(raw):
        raise _RowRefused("time_zone", "time_zone must be an IANA time zone such as America/Los_Angeles")
    return raw


def _patient_id(raw: str) -> str:
    if not is_fhir_id(raw):
        raise _RowRefused("patient_id", "patient_id must be 1-64 letters, digits, '-' or '.'")
    return raw


def _mobile(raw: str, default_region: str) -> str:
    mobile = mobile_to_e164(raw, default_region)
    if mobile is None:
        raise _RowRefused(
            "mobile_phone",
            f"mobile_phone is not a valid phone number (numbers without a country code are read as "
            f"{default_region} numbers)",
        )
    return mobile


def _instant(column: str, raw: str, time_zone: str | None) -> datetime:
    """An ISO 8601 date-time with offset, or a local one read in ``time_zone``; inside the accepted window."""
    if not _DATE_AND_TIME.match(raw):
        raise _RowRefused(column, f"{column} must be a date and time; {_ISO_HINT}")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise _RowRefused(column, f"{column} is not a valid date and time; {_ISO_HINT}") from exc
    if parsed.tzinfo is None:
        if time_zone is None:
            raise _RowRefused(column, f"{column} has no UTC offset; add one, or fill in the time_zone column")
        zone = ZoneInfo(time_zone)
        local = parsed.replace(tzinfo=zone)
        try:
            # A wall-clock time skipped by a daylight-saving change does not survive a round trip through UTC.
            skipped = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed
        except OverflowError:
            skipped = False  # outside the window anyway: check_instant below says so
        if skipped:
            raise _RowRefused(
                column, f"{column} is a local time that does not exist in time_zone (daylight-saving change)"
            )
        parsed = local
    try:
        check_instant(parsed)
    except ValueError as exc:
        raise _RowRefused(column, f"{column} {exc}") from exc
    return parsed
