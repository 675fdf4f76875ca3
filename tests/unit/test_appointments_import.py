"""infra.appointments_import: the rehearsal date shift and the report lines, without a sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime

from infra.appointments_import import next_run_hint, rebase_dates, row_line
from infra.terminal import printable
from shared.appointments.csv_import import parse_csv

HEADER = "appointment_id,start,patient_id,mobile_phone,first_name,time_zone,end"


def test_rebase_moves_every_date_by_whole_days_and_leaves_unreadable_lines_alone() -> None:
    broken = 'A-2,2025-03-05T08:00,P-2,+12065550111,"Bob,America/Los_Angeles,'
    text = "\n".join(
        [
            HEADER,
            "A-1,2025-03-04T09:30,P-1,+12065550110,Ann,America/Los_Angeles,2025-03-04T10:00",
            broken,
            "A-3,2025-03-06T16:00:00Z,P-3,+12065550112,Cy,,",
            "A-4,,P-4,,,,",
        ]
    )

    moved, days = rebase_dates(text, date(2026, 7, 10))

    assert days == (date(2026, 7, 13) - date(2025, 3, 4)).days
    lines = moved.split("\n")
    assert lines[0] == HEADER
    assert lines[1] == "A-1,2026-07-13T09:30:00,P-1,+12065550110,Ann,America/Los_Angeles,2026-07-13T10:00:00"
    assert lines[2] == broken  # never repaired: the import still refuses it
    assert lines[3] == "A-3,2026-07-15T16:00:00+00:00,P-3,+12065550112,Cy,,"
    assert lines[4] == "A-4,,P-4,,,,"
    report = parse_csv(moved)
    assert [(row.row, row.accepted) for row in report.rows][:3] == [(2, True), (3, False), (4, True)]


def test_rebase_of_a_file_without_dates_changes_nothing() -> None:
    assert rebase_dates(HEADER + "\n", date(2026, 7, 10)) == (HEADER + "\n", 0)
    assert rebase_dates("", date(2026, 7, 10)) == ("", 0)


def test_report_lines_say_what_each_row_planned() -> None:
    planned = {
        "row": 2,
        "accepted": True,
        "outcome": "created",
        "status": "booked",
        "reminders": ["2026-12-02T17:30:00.000000Z"],
    }
    cancelled = {
        "row": 3,
        "accepted": True,
        "outcome": "updated",
        "status": "cancelled",
        "not_reminded": "cancelled",
    }
    refused = {"row": 4, "accepted": False, "column": "start", "reason": "start is empty"}

    assert row_line(planned) == "row    2: booked (created): 1 reminder planned, due 2026-12-02T17:30Z"
    assert row_line(cancelled) == "row    3: cancelled (updated): its reminders are stopped"
    assert row_line(refused) == "row    4: refused  start: start is empty"


def test_the_next_run_is_the_first_reminder_still_to_come() -> None:
    now = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    reminders = ["2026-12-02T17:30:00.000000Z", "2026-12-04T15:30:00.000000Z", "2026-12-03T09:00:00.000000Z"]

    hint = next_run_hint(reminders, now)

    assert hint == (
        "first reminder due 2026-12-03T09:00Z; "
        "send it with: clinictext run-reminders --at 2026-12-03T09:01:00Z"
    )
    assert next_run_hint(reminders[:1], now) is None


def test_report_text_cannot_drive_the_terminal() -> None:
    assert printable("ok\x1b[2J\u202e\\") == "ok\\x1b[2J\\u202e\\\\"
