"""``clinictext import``: an appointment CSV into the sandbox (or a deployed stack), reported row by row.

Every row is reported with what it planned: the due times of its reminders, or why it plans none
(cancelled, not booked, no number that can take texts, every reminder time already passed). The report
ends with the run that sends the first reminder (``clinictext run-reminders --at ...``), so the next step is
never a guess.

``--dates-from-today`` is for rehearsals with a sample file such as ``events/appointments.csv``, whose dates
lie in the past: every ``start`` and ``end`` moves by the same whole number of days, so that the file's
first appointment day becomes :data:`REHEARSAL_DAYS_AHEAD` days from today, and every time of day stays as
written. It never belongs on a real export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from infra.terminal import printable

REHEARSAL_DAYS_AHEAD = 3
_SHIFTED_COLUMNS = ("start", "end")

Request = Callable[..., tuple[int, str]]


# ---------------------------------------------------------------------------------------------- rehearsal
def _moment(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError:
        return None


def rebase_dates(text: str, today: date, *, days_ahead: int = REHEARSAL_DAYS_AHEAD) -> tuple[str, int]:
    """``text`` with every readable ``start``/``end`` moved by whole days so that the earliest start date (as
    written) falls ``days_ahead`` days after ``today``; and the number of days moved.

    Works line by line with the importer's own reader: a line it cannot read, or one with the wrong number
    of values, is left exactly as it is (the import then refuses it), so a rehearsal never repairs, merges
    or drops a row.
    """
    from shared.appointments.csv_import import column_key, line_values, split_lines

    lines = split_lines(text)
    header_at = next((i for i, line in enumerate(lines) if line.replace(",", "").strip()), None)
    header = line_values(lines[header_at]) if header_at is not None else None
    if header is None or header_at is None:
        return text, 0
    positions = [i for i, name in enumerate(header) if column_key(name) in _SHIFTED_COLUMNS]
    rows: dict[int, list[str]] = {}
    for number in range(header_at + 1, len(lines)):
        values = line_values(lines[number]) if lines[number].strip() else None
        if values is not None and len(values) == len(header):
            rows[number] = values
    starts = [
        moment.date()
        for values in rows.values()
        for i in positions
        if column_key(header[i]) == "start" and (moment := _moment(values[i])) is not None
    ]
    if not starts:
        return text, 0
    shift = (today + timedelta(days=days_ahead)) - min(starts)
    for number, values in rows.items():
        for i in positions:
            moment = _moment(values[i])
            if moment is not None:
                values[i] = (moment + shift).isoformat()
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(values)
        lines[number] = buffer.getvalue()
    return "\n".join(lines), shift.days


# ---------------------------------------------------------------------------------------------- reports
def _when(at: str) -> str:
    """2026-11-24T15:30:00.000000Z -> 2026-11-24T15:30Z (the form run-reminders --at also takes)."""
    return at[:16] + "Z" if len(at) >= 16 else at


def row_line(row: dict[str, Any]) -> str:
    """One report line for a row of the sandbox's import answer. Names columns and codes, never values."""
    number = f"row {row['row']:>4}:"
    if not row["accepted"]:
        return f"{number} refused  {row.get('column') or '-'}: {row.get('reason')}"
    outcome = row.get("outcome") or "stored"
    status = row.get("status") or ""
    if row.get("not_reminded") == "cancelled":
        return f"{number} {status} ({outcome}): its reminders are stopped"
    reminders = row.get("reminders") or []
    if reminders:
        shown = ", ".join(_when(at) for at in reminders)
        plural = "s" if len(reminders) != 1 else ""
        return f"{number} {status} ({outcome}): {len(reminders)} reminder{plural} planned, due {shown}"
    why = row.get("why") or "no reminder is to come"
    return f"{number} {status} ({outcome}): no reminder: {why}"


def next_run_hint(reminders: list[str], now: datetime) -> str | None:
    """The command that sends the first reminder still to come, or None when there is none."""
    upcoming = sorted(at for at in reminders if at >= now.strftime("%Y-%m-%dT%H:%M"))
    if not upcoming:
        return None
    first = datetime.fromisoformat(upcoming[0].replace("Z", "+00:00"))
    at = (first + timedelta(minutes=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"first reminder due {_when(upcoming[0])}; send it with: clinictext run-reminders --at {at}"


def print_sandbox_report(
    report: dict[str, Any], now: datetime, clean: Callable[[str], str] = printable
) -> int:
    """Print the sandbox's import answer; exit code 1 when a row was refused."""
    reminders: list[str] = []
    for row in report["rows"]:
        print(clean(row_line(row)))
        reminders.extend(row.get("reminders") or [])
    if report.get("ignored_columns"):
        print("ignored columns (never stored): " + clean(", ".join(report["ignored_columns"])))
    planned = report.get("reminders_planned", len(reminders))
    print(f"{report['accepted']} accepted, {report['refused']} refused, {planned} reminders planned")
    hint = next_run_hint(reminders, now)
    if hint:
        print(hint)
    elif report["accepted"] and any(row.get("not_reminded") == "passed" for row in report["rows"]):
        print(
            "no reminder is to come: the file's reminder times have passed. To rehearse with a sample "
            "file, add --dates-from-today."
        )
    return 0 if report["refused"] == 0 else 1


# ---------------------------------------------------------------------------------------------- deployed
def import_to_deployed(
    text: str, api_url: str, region: str | None, request: Request, clean: Callable[[str], str] = printable
) -> int:
    """CSV -> FHIR batch Bundles -> ``POST /appointments`` on a deployed stack, signed with the caller's
    own AWS credentials (SigV4), so the import passes the same IAM authorizer and validation as an EHR.

    Rows are sent in Bundles that stay under the route's entry cap; each row is reported with its entry's
    status and, when it will not be reminded, the entry's own explanation.
    """
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from shared.appointments.csv_import import CsvRejected, parse_csv
    from shared.appointments.fhir import MAX_BUNDLE_ENTRIES
    from shared.appointments.to_fhir import ENTRIES_PER_INTAKE, intakes_to_bundle

    try:
        report = parse_csv(text)
    except CsvRejected as exc:
        print(clean(f"import refused: {exc.message}"))
        return 1
    for row in report.rows:
        if not row.accepted:
            print(clean(f"row {row.row:>4}: refused  {row.column or '-'}: {row.reason}"))
    rows_by_id = {intake.source_id: row for row, intake in report.intakes}
    # What the file itself says about a row (a number that cannot take texts is not sent at all, so the
    # API can only say that none was given).
    notes = {row.row: row.note for row in report.rows if row.note}
    session = boto3.session.Session(region_name=region)
    credentials = session.get_credentials()
    if credentials is None:
        print("no AWS credentials found: configure them as for the AWS CLI")
        return 2
    url = api_url.rstrip("/") + "/appointments"
    refused = report.refused_count
    intakes = [intake for _, intake in report.intakes]
    per_bundle = MAX_BUNDLE_ENTRIES // ENTRIES_PER_INTAKE
    for first in range(0, len(intakes), per_bundle):
        body = json.dumps(intakes_to_bundle(intakes[first : first + per_bundle])).encode()
        signed = AWSRequest(
            method="POST", url=url, data=body, headers={"Content-Type": "application/fhir+json"}
        )
        SigV4Auth(credentials, "execute-api", session.region_name or "us-east-1").add_auth(signed)
        status, answer = request("POST", url, body, extra_headers=dict(signed.headers.items()))
        if status >= 400:
            print(clean(f"import refused ({status}): {_message(answer)}"))
            return 1
        for entry in json.loads(answer).get("entry", []):
            response = entry.get("response", {})
            location = str(response.get("location") or "")
            source_id = location.split("/")[1] if location.startswith("Appointment/") else None
            if source_id not in rows_by_id:
                continue
            issues = (response.get("outcome") or {}).get("issue") or []
            details = [str(issue.get("diagnostics", "")) for issue in issues]
            if rows_by_id[source_id] in notes:
                details.insert(0, str(notes[rows_by_id[source_id]]))
            detail = "; ".join(details)
            line = f"row {rows_by_id[source_id]:>4}: {response['status']}" + (f"  {detail}" if detail else "")
            print(clean(line))
            refused += not str(response["status"]).startswith("2")
    print(f"{len(intakes)} sent, {refused} refused")
    return 0 if refused == 0 else 1


def _message(body: str) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if isinstance(answer, dict):
        if answer.get("resourceType") == "OperationOutcome":
            return "; ".join(str(i.get("diagnostics", "")) for i in answer.get("issue") or [])
        return str(answer.get("message", body))
    return body
