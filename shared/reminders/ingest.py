"""Feeding appointments in: a FHIR R4 Bundle (POST /appointments) or a CSV file (``clinictext import``).

Both paths end in :meth:`AppointmentBook.upsert`, so a CSV row and a FHIR Appointment with the same id are
the same appointment, and sending either twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from shared.errors import Conflict
from shared.ingest.csv_import import CsvReport, CsvRowResult, parse_csv
from shared.ingest.fhir import BundleRejected, batch_response, operation_outcome, parse_bundle
from shared.ingest.models import AppointmentIntake, EntryResult
from shared.reminders.book import UpsertResult

CREATED = "201 Created"
OK = "200 OK"


class Upserter(Protocol):
    def upsert(self, intake: AppointmentIntake) -> UpsertResult: ...


@dataclass(frozen=True)
class BundleAnswer:
    """HTTP status and body (a batch-response Bundle, or an OperationOutcome for a refused body)."""

    status: int
    body: dict[str, Any]


def ingest_bundle(body: bytes | str, book: Upserter, *, default_region: str = "US") -> BundleAnswer:
    try:
        parsed = parse_bundle(body, default_region=default_region)
    except BundleRejected as rejected:
        return BundleAnswer(400, rejected.outcome)
    results: list[EntryResult] = []
    for index, intake in parsed.intakes:
        location = f"Appointment/{intake.source_id}"
        try:
            result = book.upsert(intake)
        except Conflict as exc:
            results.append(
                EntryResult(
                    index=index,
                    status="409 Conflict",
                    location=location,
                    outcome=operation_outcome("conflict", str(exc), "Appointment"),
                )
            )
            continue
        status = CREATED if result.outcome == "created" else OK
        results.append(
            EntryResult(index=index, status=status, location=f"{location}/_history/{result.version}")
        )
    return BundleAnswer(200, batch_response(parsed.results_with(results), response_type=parsed.response_type))


@dataclass(frozen=True)
class CsvImportReport:
    """Per-row outcome of a CSV import: refused rows name the column and why, never the value."""

    rows: list[CsvRowResult]
    outcomes: dict[int, str]  # row number -> created / updated / unchanged
    ignored_columns: list[str]

    @property
    def accepted(self) -> int:
        return sum(1 for row in self.rows if row.accepted)

    @property
    def refused(self) -> int:
        return sum(1 for row in self.rows if not row.accepted)


def import_csv(text: str, book: Upserter, *, default_region: str = "US") -> CsvImportReport:
    """Import an appointment CSV (layout: :mod:`shared.ingest.csv_import`). Raises ``CsvRejected``."""
    report: CsvReport = parse_csv(text, default_region)
    outcomes: dict[int, str] = {}
    rows = {row.row: row for row in report.rows}
    for row_number, intake in report.intakes:
        try:
            outcomes[row_number] = book.upsert(intake).outcome
        except Conflict:
            rows[row_number] = CsvRowResult(
                row=row_number,
                accepted=False,
                column="appointment_id",
                reason="the appointment changed concurrently; import the row again",
            )
    return CsvImportReport(
        rows=[rows[number] for number in sorted(rows)],
        outcomes=outcomes,
        ignored_columns=report.ignored_columns,
    )
