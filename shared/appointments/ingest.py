"""Feeding appointments in: a FHIR R4 Bundle (POST /appointments) or a CSV file (``clinictext import``).

Both paths end in :meth:`AppointmentBook.upsert_many` (batched reads and writes), so a CSV row and a FHIR
Appointment with the same id are the same appointment, and sending either twice changes nothing. Both
answer, per appointment, what was planned: a FHIR entry whose appointment will not be reminded carries an
OperationOutcome saying why (a ``warning`` when no text can be sent, ``information`` for a status that is
not reminded), and a CSV row is reported with its reminders' due times or the reason it has none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from shared.appointments import plan
from shared.appointments.csv_import import CsvReport, CsvRowResult, parse_csv
from shared.appointments.fhir import BundleRejected, batch_response, outcome_issue, outcome_of, parse_bundle
from shared.appointments.intake import EntryResult
from shared.appointments.ports import NotReached, Upserter, UpsertResult
from shared.core.clock import iso
from shared.core.errors import Conflict

CREATED = "201 Created"
OK = "200 OK"
UNAVAILABLE = "503 Service Unavailable"
# Lambda refuses a response over 6 MB, counted after API Gateway's envelope escapes the body once more.
# Outcomes are bounded per issue and per entry (the worst 500-entry Bundle answers about 3.2 MB); should an
# answer still pass this, each outcome is cut to its first issues so the answer always gets out.
MAX_RESPONSE_BYTES: Final[int] = 4 * 1024 * 1024
_TRIMMED_ISSUES: Final[int] = 2
# Codes whose appointment cannot be texted at all: a warning the EHR should act on.
_WARNINGS: Final[frozenset[str]] = frozenset({"no_mobile", "patient_not_sent", "other_patient", "passed"})


@dataclass(frozen=True)
class BundleAnswer:
    """HTTP status and body (a batch-response Bundle, or an OperationOutcome for a refused body)."""

    status: int
    body: dict[str, Any]


def not_reminded_issue(result: UpsertResult, offsets: list[int]) -> dict[str, Any] | None:
    """The OperationOutcome issue saying why ``result``'s appointment will get no reminder, if it will not."""
    code = result.not_reminded
    if code is None or code == "cancelled":
        return None
    text = plan.not_reminded_text(code, status=result.status, offsets=offsets)
    if code in _WARNINGS:
        return outcome_issue("business-rule", f"No reminder will be sent: {text}.", severity="warning")
    return outcome_issue("informational", f"No reminder will be sent: {text}.", severity="information")


def ingest_bundle(
    body: bytes | str | dict[str, Any],
    book: Upserter,
    *,
    default_region: str = "US",
    offsets: list[int] | None = None,
    time_left: Callable[[], float] | None = None,
) -> BundleAnswer:
    """Parse, store and answer one Bundle. ``offsets`` (the reminder offsets) word the "passed" warning.

    ``time_left`` (seconds) is the request's remaining budget, checked by the book before each request. A
    Bundle at the entry cap is stored well inside it; should storage ever be slow enough to exhaust it, the
    entries not stored are answered ``503`` ("send this entry again"), so the answer still arrives before
    the HTTP API gives up on the request and every entry's fate is known.
    """
    try:
        parsed = parse_bundle(body, default_region=default_region)
    except BundleRejected as rejected:
        return BundleAnswer(rejected.status, rejected.outcome)
    results: list[EntryResult] = []
    answers = book.upsert_many([intake for _index, intake in parsed.intakes], time_left=time_left)
    for (index, intake), result in zip(parsed.intakes, answers, strict=True):
        location = f"Appointment/{intake.source_id}"
        issues = list(parsed.warnings.get(index, []))
        if isinstance(result, NotReached):
            issues.insert(0, _not_reached())
            results.append(
                EntryResult(index=index, status=UNAVAILABLE, location=location, outcome=outcome_of(issues))
            )
            continue
        if isinstance(result, Conflict):
            issues.insert(0, outcome_issue("conflict", str(result), "Appointment"))
            results.append(
                EntryResult(index=index, status="409 Conflict", location=location, outcome=outcome_of(issues))
            )
            continue
        gap = not_reminded_issue(result, offsets or [])
        if gap is not None:
            issues.append(gap)
        results.append(
            EntryResult(
                index=index,
                status=CREATED if result.outcome == "created" else OK,
                location=f"{location}/_history/{result.version}",
                outcome=outcome_of(issues) if issues else None,
            )
        )
    answer = batch_response(parsed.results_with(results), response_type=parsed.response_type)
    return BundleAnswer(200, fit_response(answer))


def _not_reached() -> dict[str, Any]:
    return outcome_issue(
        "timeout",
        "Not processed: storing this Bundle took longer than one request may, so this entry was not reached "
        "and nothing was stored for it. Send it again (entries answered 200 or 201 need not be resent).",
        "Appointment",
    )


def fit_response(bundle: dict[str, Any], limit: int = MAX_RESPONSE_BYTES) -> dict[str, Any]:
    """``bundle`` unchanged when its JSON fits in ``limit`` bytes, else with every outcome cut short."""
    if len(json.dumps(bundle, separators=(",", ":")).encode()) <= limit:
        return bundle
    for entry in bundle.get("entry", []):
        outcome = entry.get("response", {}).get("outcome")
        if outcome and len(outcome.get("issue", [])) > _TRIMMED_ISSUES:
            more = len(outcome["issue"]) - _TRIMMED_ISSUES
            outcome["issue"] = [
                *outcome["issue"][:_TRIMMED_ISSUES],
                outcome_issue("too-costly", f"{more} further issue(s) not listed.", severity="information"),
            ]
    return bundle


@dataclass(frozen=True)
class RowPlan:
    """What one accepted row planned: its outcome (created / updated / unchanged), status, due times, or why
    it has no reminder (a :data:`plan.NotReminded` code and its explanation)."""

    outcome: str
    status: str
    planned: tuple[datetime, ...]
    not_reminded: str | None
    why: str | None


@dataclass(frozen=True)
class CsvImportReport:
    """Per-row outcome of a CSV import: refused rows name the column and why, never the value."""

    rows: list[CsvRowResult]
    plans: dict[int, RowPlan]  # row number -> what it planned
    ignored_columns: list[str]

    @property
    def outcomes(self) -> dict[int, str]:
        """Row number -> created / updated / unchanged."""
        return {row: row_plan.outcome for row, row_plan in self.plans.items()}

    @property
    def accepted(self) -> int:
        return sum(1 for row in self.rows if row.accepted)

    @property
    def refused(self) -> int:
        return sum(1 for row in self.rows if not row.accepted)

    @property
    def reminders_planned(self) -> int:
        return sum(len(row_plan.planned) for row_plan in self.plans.values())

    def as_json(self) -> dict[str, Any]:
        """The report as the sandbox's ``/_sandbox/import-csv`` answers it (ids, codes and times; no PHI)."""
        rows: list[dict[str, Any]] = []
        for row in self.rows:
            row_plan = self.plans.get(row.row)
            rows.append(
                {
                    "row": row.row,
                    "accepted": row.accepted,
                    "outcome": row_plan.outcome if row_plan else None,
                    "status": row_plan.status if row_plan else None,
                    "reminders": [iso(at) for at in row_plan.planned] if row_plan else [],
                    "not_reminded": row_plan.not_reminded if row_plan else None,
                    "why": row_plan.why if row_plan else None,
                    "column": row.column,
                    "reason": row.reason,
                }
            )
        return {
            "accepted": self.accepted,
            "refused": self.refused,
            "reminders_planned": self.reminders_planned,
            "ignored_columns": self.ignored_columns,
            "rows": rows,
        }


def import_csv(
    text: str, book: Upserter, *, default_region: str = "US", offsets: list[int] | None = None
) -> CsvImportReport:
    """Import an appointment CSV (layout: :mod:`shared.appointments.csv_import`). Raises ``CsvRejected``.

    A refused row stores nothing, and never stops the rows after it.
    """
    report: CsvReport = parse_csv(text, default_region)
    plans: dict[int, RowPlan] = {}
    rows = {row.row: row for row in report.rows}
    answers = book.upsert_many([intake for _row, intake in report.intakes])
    for (row_number, _intake), result in zip(report.intakes, answers, strict=True):
        if not isinstance(result, UpsertResult):  # no time budget here: a Conflict
            rows[row_number] = CsvRowResult(
                row=row_number,
                accepted=False,
                column="appointment_id",
                reason="the appointment changed concurrently; import the row again",
            )
            continue
        code = result.not_reminded
        why = plan.not_reminded_text(code, status=result.status, offsets=offsets or []) if code else None
        if code == "no_mobile" and rows[row_number].note:
            why = rows[row_number].note
        plans[row_number] = RowPlan(result.outcome, result.status, result.planned, code, why)
    return CsvImportReport(
        rows=[rows[number] for number in sorted(rows)],
        plans=plans,
        ignored_columns=report.ignored_columns,
    )
