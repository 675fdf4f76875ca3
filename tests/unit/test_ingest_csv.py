"""CSV appointment import: documented columns in, intakes and a row-by-row report out, extras never kept."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.ingest.csv_import import REQUIRED_COLUMNS, CsvRejected, CsvReport, parse_csv
from shared.ingest.models import AppointmentIntake

EVENTS = Path(__file__).resolve().parents[2] / "events"
HEADER = ",".join(
    [*REQUIRED_COLUMNS, "status", "first_name", "location_name", "location_address", "time_zone", "end"]
)
GOOD_ROW = (
    "A-1,2025-03-04T09:30:00-08:00,P-1,+1 206 555 0110,booked,Rosa,Harbor Family Clinic,"
    '"1200 Harbor Ave SW, Suite 300, Seattle",America/Los_Angeles,2025-03-04T10:00:00-08:00'
)


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def only_row(report: CsvReport) -> tuple[bool, str | None, str | None]:
    assert len(report.rows) == 1
    row = report.rows[0]
    return row.accepted, row.column, row.reason


def report_json(report: CsvReport) -> str:
    return json.dumps(
        {
            "intakes": [intake.model_dump(mode="json") for _, intake in report.intakes],
            "rows": [row.model_dump() for row in report.rows],
        }
    ).lower()


# --------------------------------------------------------------------------- accepted rows


def test_a_complete_row_becomes_an_intake() -> None:
    report = parse_csv(csv_of(GOOD_ROW))

    assert report.rows[0].model_dump() == {"row": 2, "accepted": True, "column": None, "reason": None}
    assert report.intakes == [
        (
            2,
            AppointmentIntake(
                source_id="A-1",
                status="booked",
                start=datetime(2025, 3, 4, 17, 30, tzinfo=UTC),
                end=datetime(2025, 3, 4, 18, 0, tzinfo=UTC),
                patient_ref="Patient/P-1",
                first_name="Rosa",
                mobile_e164="+12065550110",
                location_name="Harbor Family Clinic",
                location_address="1200 Harbor Ave SW, Suite 300, Seattle",
                time_zone="America/Los_Angeles",
            ),
        )
    ]


def test_only_required_columns_and_default_status() -> None:
    report = parse_csv(
        "appointment_id,start,patient_id,mobile_phone\nA-2,2025-03-04T17:30:00Z,P-2,2065550131\n"
    )

    (_, intake) = report.intakes[0]
    assert intake.status == "booked"
    assert intake.mobile_e164 == "+12065550131"
    assert intake.first_name is None
    assert intake.time_zone is None
    assert report.ignored_columns == []


def test_sample_event_file_imports_every_row_and_drops_clinical_columns() -> None:
    report = parse_csv((EVENTS / "appointments.csv").read_text(encoding="utf-8"))

    assert report.refused_count == 0
    assert report.accepted_count == len(report.intakes) == 5
    assert report.ignored_columns == ["notes", "reason"]
    text = report_json(report)
    for value in ("physical", "spanish", "diabetes", "a1c", "glucose", "prenatal", "interpreter", "hiv"):
        assert value not in text
    for value in ("viral", "moved out of state", "colonoscopy", "anxious"):
        assert value not in text


def test_extra_columns_are_ignored_and_never_copied() -> None:
    text = csv_of(
        GOOD_ROW + ',"Chemotherapy, cycle 3",Oncology,Dr. Evelyn Ramirez',
        header=HEADER + ",reason,specialty,Provider Name",
    )

    report = parse_csv(text)

    assert report.accepted_count == 1
    assert report.ignored_columns == ["provider_name", "reason", "specialty"]
    for value in ("chemotherapy", "oncology", "ramirez", "evelyn"):
        assert value not in report_json(report)


def test_ignored_columns_are_reported_only_when_they_look_like_column_names() -> None:
    header = HEADER + ",Visit Reason,Rosa Diaz +1 206 555 0110"

    report = parse_csv(csv_of(GOOD_ROW + ",Flu shot,x", header=header))

    assert report.ignored_columns == ["visit_reason"]


def test_bom_crlf_and_blank_lines_are_tolerated() -> None:
    text = (
        "\ufeff" + HEADER + "\r\n" + GOOD_ROW + "\r\n\r\n" + GOOD_ROW.replace("A-1", "A-2") + "\r\n\r\n\r\n"
    )

    report = parse_csv(text)

    assert [(row.row, row.accepted) for row in report.rows] == [(2, True), (4, True)]
    assert [intake.source_id for _, intake in report.intakes] == ["A-1", "A-2"]


def test_header_names_are_matched_loosely_and_in_any_order() -> None:
    text = " Mobile-Phone ,Start,APPOINTMENT ID,patient_id\n(206) 555-0143,2025-03-05T16:45:00Z,A-3,P-3\n"

    (_, intake) = parse_csv(text).intakes[0]

    assert (intake.source_id, intake.mobile_e164, intake.patient_ref) == (
        "A-3",
        "+12065550143",
        "Patient/P-3",
    )


def test_quoted_multi_line_address_counts_as_one_row_and_one_line() -> None:
    row = GOOD_ROW.replace(
        '"1200 Harbor Ave SW, Suite 300, Seattle"', '"1200 Harbor Ave SW\nSuite 300\n Seattle"'
    )

    report = parse_csv(csv_of(row, GOOD_ROW.replace("A-1", "A-2")))

    assert [row.row for row in report.rows] == [2, 3]
    assert report.intakes[0][1].location_address == "1200 Harbor Ave SW, Suite 300, Seattle"


def test_local_start_is_read_in_the_time_zone_column() -> None:
    row = "A-4,2025-03-04T09:30,P-4,+12065550110,,,,,America/Los_Angeles,2025-03-04 10:00"

    (_, intake) = parse_csv(csv_of(row)).intakes[0]

    assert intake.start == datetime(2025, 3, 4, 17, 30, tzinfo=UTC)
    assert intake.end == datetime(2025, 3, 4, 18, 0, tzinfo=UTC)


def test_offset_wins_over_the_time_zone_column() -> None:
    row = "A-5,2025-07-01T09:00:00-04:00,P-5,+12065550110,,,,,America/Los_Angeles,"

    (_, intake) = parse_csv(csv_of(row)).intakes[0]

    assert intake.start == datetime(2025, 7, 1, 13, 0, tzinfo=UTC)
    assert intake.time_zone == "America/Los_Angeles"


def test_ambiguous_local_time_is_read_as_the_first_occurrence() -> None:
    # 01:30 happens twice on 2025-11-02 in Los Angeles: first in PDT (-07:00), then in PST (-08:00).
    row = "A-6,2025-11-02T01:30,P-6,+12065550110,,,,,America/Los_Angeles,"

    (_, intake) = parse_csv(csv_of(row)).intakes[0]

    assert intake.start == datetime(2025, 11, 2, 8, 30, tzinfo=UTC)


def test_cancelled_row_needs_only_its_id() -> None:
    report = parse_csv(csv_of("A-7,,,,cancelled,,,,,", "A-8,,P-8,not a phone,noshow,,,,,"))

    assert report.refused_count == 0
    (_, first), (_, second) = report.intakes
    assert (first.status, first.start, first.patient_ref) == ("cancelled", None, None)
    assert (second.status, second.patient_ref, second.mobile_e164) == ("noshow", "Patient/P-8", None)


def test_status_is_case_insensitive() -> None:
    (_, intake) = parse_csv(csv_of(GOOD_ROW.replace(",booked,", ",Checked-In,"))).intakes[0]

    assert intake.status == "checked-in"


def test_default_region_reads_national_numbers() -> None:
    row = "A-9,2025-03-04T09:30:00+00:00,P-9,07400 123456"
    text = "appointment_id,start,patient_id,mobile_phone\n" + row + "\n"

    assert parse_csv(text, default_region="GB").intakes[0][1].mobile_e164 == "+447400123456"
    assert parse_csv(text).refused_count == 1  # not a valid US number


def test_header_only_gives_an_empty_report() -> None:
    report = parse_csv(HEADER + "\n")

    assert (report.intakes, report.rows) == ([], [])


# --------------------------------------------------------------------------- refused rows


@pytest.mark.parametrize(
    ("replace", "by", "column", "secret"),
    [
        pytest.param("+1 206 555 0110", "+1 206 555 01100", "mobile_phone", "01100", id="mobile-too-long"),
        pytest.param("+1 206 555 0110", "call me", "mobile_phone", "call me", id="mobile-not-a-number"),
        pytest.param("+1 206 555 0110", "", "mobile_phone", None, id="mobile-empty"),
        pytest.param(",P-1,", ",,", "patient_id", None, id="patient-empty"),
        pytest.param(",P-1,", ",P 1,", "patient_id", "P 1", id="patient-id-with-space"),
        pytest.param("A-1,", "A_1,", "appointment_id", "A_1", id="appointment-id-underscore"),
        pytest.param("A-1,", ",", "appointment_id", None, id="appointment-id-empty"),
        pytest.param("2025-03-04T09:30:00-08:00,P", ",P", "start", None, id="start-empty"),
        pytest.param(
            "2025-03-04T09:30:00-08:00", "3/4/2025 9:30 AM", "start", "3/4/2025", id="us-date-format"
        ),
        pytest.param("2025-03-04T09:30:00-08:00", "2025-03-07", "start", "2025-03-07", id="date-only"),
        pytest.param(
            "2025-03-04T09:30:00-08:00", "2025-02-30T09:30:00-08:00", "start", "02-30", id="no-such-day"
        ),
        pytest.param("America/Los_Angeles", "Pacific Time", "time_zone", "Pacific", id="unknown-zone"),
        pytest.param(",booked,", ",confirmed,", "status", "confirmed", id="unknown-status"),
        pytest.param(
            "2025-03-04T10:00:00-08:00", "2025-03-04T09:00:00-08:00", "end", None, id="end-before-start"
        ),
        pytest.param("2025-03-04T10:00:00-08:00", "soon", "end", "soon", id="end-not-a-date"),
    ],
)
def test_invalid_value_refuses_the_row_naming_the_column(
    replace: str, by: str, column: str, secret: str | None
) -> None:
    row = GOOD_ROW.replace(replace, by, 1)
    assert row != GOOD_ROW

    report = parse_csv(csv_of(row, GOOD_ROW.replace("A-1", "A-2")))

    first, second = report.rows
    assert (first.row, first.accepted, first.column) == (2, False, column)
    assert first.reason is not None
    assert column in first.reason
    if secret:
        assert secret.lower() not in first.reason.lower()
    assert "rosa" not in first.reason.lower()
    assert (second.row, second.accepted) == (3, True)
    assert [intake.source_id for _, intake in report.intakes] == ["A-2"]


def test_naive_start_without_time_zone_is_refused() -> None:
    row = "A-1,2025-03-04T09:30,P-1,+12065550110,,,,,,"

    accepted, column, reason = only_row(parse_csv(csv_of(row)))

    assert (accepted, column) == (False, "start")
    assert reason is not None
    assert "time_zone" in reason


def test_local_time_skipped_by_daylight_saving_is_refused() -> None:
    row = "A-1,2025-03-09T02:30,P-1,+12065550110,,,,,America/Los_Angeles,"

    accepted, column, reason = only_row(parse_csv(csv_of(row)))

    assert (accepted, column) == (False, "start")
    assert reason is not None
    assert "daylight" in reason


def test_repeated_appointment_id_refuses_the_later_row() -> None:
    report = parse_csv(csv_of(GOOD_ROW, GOOD_ROW))

    assert [(row.row, row.accepted, row.column) for row in report.rows] == [
        (2, True, None),
        (3, False, "appointment_id"),
    ]
    assert report.rows[1].reason == "appointment_id repeats the one in row 2"


def test_row_with_more_cells_than_the_header_is_refused() -> None:
    report = parse_csv(
        csv_of(GOOD_ROW.replace('"1200 Harbor Ave SW, Suite 300, Seattle"', "1200 Harbor, Seattle"))
    )

    accepted, column, reason = only_row(report)
    assert (accepted, column) == (False, None)
    assert reason is not None
    assert "quote" in reason


def test_trailing_empty_cells_beyond_the_header_are_harmless() -> None:
    report = parse_csv(csv_of(GOOD_ROW + ",,, "))

    assert report.accepted_count == 1


def test_row_with_fewer_cells_reads_the_missing_ones_as_empty() -> None:
    report = parse_csv(csv_of("A-1,2025-03-04T17:30:00Z,P-1,+12065550110"))

    assert report.accepted_count == 1
    assert report.intakes[0][1].status == "booked"


# --------------------------------------------------------------------------- refused files


def test_missing_required_columns_refuse_the_whole_file() -> None:
    with pytest.raises(CsvRejected) as caught:
        parse_csv("appointment_id,start,first_name\nA-1,2025-03-04T17:30:00Z,Rosa\n")

    assert caught.value.missing_columns == ("patient_id", "mobile_phone")
    assert "patient_id, mobile_phone" in caught.value.message
    assert "Rosa" not in caught.value.message


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n", " , ,\r\n"])
def test_empty_file_is_refused(text: str) -> None:
    with pytest.raises(CsvRejected, match="empty"):
        parse_csv(text)


def test_repeated_column_is_refused() -> None:
    with pytest.raises(CsvRejected, match="start appears more than once"):
        parse_csv("appointment_id,start,patient_id,mobile_phone,Start\n")


def test_semicolon_file_gets_a_hint() -> None:
    with pytest.raises(CsvRejected) as caught:
        parse_csv("appointment_id;start;patient_id;mobile_phone\nA-1;2025-03-04T17:30:00Z;P-1;+12065550110\n")

    assert caught.value.missing_columns == REQUIRED_COLUMNS
    assert "comma-separated" in caught.value.message


def test_unreadable_csv_is_refused_with_its_row() -> None:
    huge = "x" * 200_000
    with pytest.raises(CsvRejected, match="Row 2"):
        parse_csv(csv_of(f'A-1,2025-03-04T17:30:00Z,P-1,+12065550110,,"{huge}"'))


# --------------------------------------------------------------------------- properties

CELLS = st.sampled_from(
    [
        "",
        "A-1",
        "P-1",
        "+12065550110",
        "2025-03-04T09:30",
        "2025-03-04T09:30:00Z",
        "cancelled",
        "America/New_York",
    ]
) | st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*REQUIRED_COLUMNS, "status", "end", "time_zone", "notes", "x"]), min_size=1),
    st.lists(st.lists(CELLS, max_size=8), max_size=6),
)
def test_any_table_is_refused_whole_or_reported_row_by_row(header: list[str], rows: list[list[str]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        report = parse_csv(buffer.getvalue())
    except CsvRejected as rejected:
        assert rejected.message
        return
    assert len({row.row for row in report.rows}) == len(report.rows)
    assert {row for row, _ in report.intakes} == {row.row for row in report.rows if row.accepted}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_refused_whole_or_reported(text: str) -> None:
    with contextlib.suppress(CsvRejected):
        parse_csv(text)
