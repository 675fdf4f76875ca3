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
    waitlist. Default: booked. For cancelled, noshow and entered-in-error only ``appointment_id`` is needed;
    other values of such a row are used when valid and left out otherwise, so a cancellation always gets in.
``first_name``
    The patient's first name, as reminders should greet them.
``location_name``
    Name of the place the patient goes to (the clinic or site, not a department).
``location_address``
    Street and city on one line (``1200 Harbor Ave SW, Suite 300, Seattle``).
``time_zone``
    IANA time zone of the location (``America/Los_Angeles``). Used for quiet hours and for reading a ``start``
    or ``end`` given without offset.
``end``
    When the appointment ends; same formats as ``start``.

Any other column (``reason``, ``notes``, ``provider``, ...) is ignored and never stored: leave clinical
details out of the file if you can. Empty cells count as absent. The file is UTF-8 (a byte-order mark is
fine), comma-separated, fields quoted with ``"`` where needed; CRLF or LF line ends; blank lines are skipped.

Each row is reported as accepted or refused with the column that caused it. Row numbers are as a
spreadsheet shows them: the header is row 1. Reports name columns, never the values in them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, TypeVar, cast
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.ingest.models import (
    APPOINTMENT_STATUSES,
    CANCELLATION_STATUSES,
    AppointmentIntake,
    AppointmentStatus,
    is_fhir_id,
    is_iana_time_zone,
    mobile_to_e164,
)

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "CsvRejected",
    "CsvReport",
    "CsvRowResult",
    "parse_csv",
]

REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("appointment_id", "start", "patient_id", "mobile_phone")
OPTIONAL_COLUMNS: Final[tuple[str, ...]] = (
    "status",
    "first_name",
    "location_name",
    "location_address",
    "time_zone",
    "end",
)
_KNOWN_COLUMNS: Final[frozenset[str]] = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DATE_AND_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
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
    """What happened to one data row. ``reason`` names the column, never its value."""

    model_config = ConfigDict(frozen=True)

    row: int
    accepted: bool
    column: str | None = None
    reason: str | None = None


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


def _column_key(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def parse_csv(text: str, default_region: str = "US") -> CsvReport:
    """Read an appointment CSV (layout in the module docstring) into intakes and a per-row report.

    Raises :class:`CsvRejected` when the file has no header row, lacks required columns, repeats a column or
    is not readable as CSV.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    row_number = 0
    try:
        header: list[str] | None = None
        for record in reader:
            row_number += 1
            if any(cell.strip() for cell in record):
                header = record
                break
        if header is None:
            raise CsvRejected("The file is empty: the first row must name the columns.")
        columns = _columns(header)
        intakes: list[tuple[int, AppointmentIntake]] = []
        rows: list[CsvRowResult] = []
        seen: dict[str, int] = {}
        for record in reader:
            row_number += 1
            if not any(cell.strip() for cell in record):
                continue
            try:
                if any(cell.strip() for cell in record[len(header) :]):
                    raise _RowRefused(
                        None,
                        f"the row has values beyond the {len(header)} columns the header names; "
                        "quote values that contain commas",
                    )
                values = {
                    name: record[position].strip()
                    for name, position in columns.items()
                    if position < len(record) and record[position].strip()
                }
                intake = _intake(values, default_region)
                first = seen.setdefault(intake.source_id, row_number)
                if first != row_number:
                    raise _RowRefused("appointment_id", f"appointment_id repeats the one in row {first}")
            except _RowRefused as refused:
                rows.append(
                    CsvRowResult(row=row_number, accepted=False, column=refused.column, reason=refused.reason)
                )
                continue
            intakes.append((row_number, intake))
            rows.append(CsvRowResult(row=row_number, accepted=True))
    except csv.Error as exc:
        raise CsvRejected(f"Row {row_number + 1} could not be read as CSV; check its quotes.") from exc
    # Reported back so the practice sees what was dropped; only names that look like column names, in case
    # a data row was pasted where the header belongs.
    ignored = sorted(
        {key for key in map(_column_key, header) if key not in _KNOWN_COLUMNS and _COLUMN_NAME.fullmatch(key)}
    )
    return CsvReport(intakes=intakes, rows=rows, ignored_columns=ignored)


def _columns(header: list[str]) -> dict[str, int]:
    """Positions of the known columns; refuses the file on missing or repeated ones."""
    positions: dict[str, int] = {}
    for position, name in enumerate(header):
        key = _column_key(name)
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


def _intake(values: dict[str, str], default_region: str) -> AppointmentIntake:
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
    if not lenient:
        for column, value in (("start", start), ("patient_id", patient_id), ("mobile_phone", mobile)):
            if value is None:
                raise _RowRefused(column, f"{column} is empty")
    if start is not None and end is not None and end < start:
        if not lenient:
            raise _RowRefused("end", "end is before start")
        end = None

    try:
        return AppointmentIntake(
            source_id=appointment_id,
            status=cast(AppointmentStatus, status),
            start=start,
            end=end,
            patient_ref=f"Patient/{patient_id}" if patient_id else None,
            first_name=values.get("first_name"),
            mobile_e164=mobile,
            location_name=values.get("location_name"),
            location_address=_one_line(values.get("location_address")),
            time_zone=time_zone,
        )
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        loc = errors[0]["loc"] if errors else ()
        bad = _FIELD_COLUMNS.get(str(loc[0]), str(loc[0])) if loc else None
        raise _RowRefused(bad, f"{bad or 'the row'} cannot be used as given") from exc


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
    """An ISO 8601 date-time with offset, or a local one read in ``time_zone``."""
    if not _DATE_AND_TIME.match(raw):
        raise _RowRefused(column, f"{column} must be a date and time; {_ISO_HINT}")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise _RowRefused(column, f"{column} is not a valid date and time; {_ISO_HINT}") from exc
    if parsed.tzinfo is not None:
        return parsed
    if time_zone is None:
        raise _RowRefused(column, f"{column} has no UTC offset; add one, or fill in the time_zone column")
    zone = ZoneInfo(time_zone)
    local = parsed.replace(tzinfo=zone)
    # A wall-clock time skipped by a daylight-saving change does not survive a round trip through UTC.
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
        raise _RowRefused(
            column, f"{column} is a local time that does not exist in time_zone (daylight-saving change)"
        )
    return local


def _one_line(address: str | None) -> str | None:
    if address is None:
        return None
    single = ", ".join(" ".join(part.split()) for part in address.splitlines() if part.strip())
    return single or None
