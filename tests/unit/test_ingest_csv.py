"""CSV appointment import: documented columns in, intakes and a row-by-row report out, extras never kept."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.appointments.csv_import import REQUIRED_COLUMNS, CsvRejected, CsvReport, parse_csv
from shared.appointments.intake import AppointmentIntake

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

    assert report.rows[0].model_dump() == {
        "row": 2,
        "accepted": True,
        "column": None,
        "reason": None,
        "note": None,
    }
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
    assert report.accepted_count == len(report.intakes) == 7
    assert report.ignored_columns == ["notes", "reason"]
    statuses = [intake.status for _, intake in report.intakes]
    assert statuses == ["booked", "booked", "booked", "cancelled", "booked", "booked", "proposed"]
    # The toll-free number is kept out, and the row says why no reminder can be sent.
    assert report.intakes[5][1].mobile_e164 is None
    assert report.rows[5].note is not None and "toll-free" in report.rows[5].note
    text = report_json(report)
    for value in ("physical", "spanish", "diabetes", "a1c", "glucose", "prenatal", "interpreter", "hiv"):
        assert value not in text
    for value in ("viral", "moved out of state", "colonoscopy", "anxious", "therapy", "office line", "sleep"):
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


def test_a_quoted_value_that_spans_lines_is_refused_and_never_merges_rows() -> None:
    row = GOOD_ROW.replace(
        '"1200 Harbor Ave SW, Suite 300, Seattle"', '"1200 Harbor Ave SW\nSuite 300\n Seattle"'
    )

    report = parse_csv(csv_of(row, GOOD_ROW.replace("A-1", "A-2")))

    # One line is one row: the three lines of the broken row are refused one by one, the next row is
    # read as itself.
    assert [(r.row, r.accepted, r.column) for r in report.rows] == [
        (2, False, "location_address"),
        (3, False, None),
        (4, False, "appointment_id"),
        (5, True, None),
    ]
    assert report.rows[0].reason is not None and "span" in report.rows[0].reason
    assert [intake.source_id for _, intake in report.intakes] == ["A-2"]


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


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(GOOD_ROW + ",,, ", id="empty-cells-beyond-the-header"),
        pytest.param("A-1,2025-03-04T17:30:00Z,P-1,+12065550110", id="fewer-cells"),
        pytest.param(GOOD_ROW.replace(",Rosa,", ",Rosa,Maria,"), id="a-stray-comma-shifts-the-columns"),
    ],
)
def test_a_row_with_the_wrong_number_of_values_is_refused(row: str) -> None:
    # A missing or extra comma shifts every later value into the wrong column (a status read as a phone,
    # an address read as a zone): the row is refused rather than guessed.
    report = parse_csv(csv_of(row, GOOD_ROW.replace("A-1", "A-2")))

    first, second = report.rows
    assert (first.accepted, first.column) == (False, None)
    assert first.reason is not None and "the header names 10 columns" in first.reason
    assert (second.row, second.accepted) == (3, True)


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


def test_a_row_the_csv_module_cannot_read_is_refused_alone() -> None:
    huge = "x" * 200_000
    row = f'A-1,2025-03-04T17:30:00Z,P-1,+12065550110,,"{huge}",,,,'

    report = parse_csv(csv_of(row, GOOD_ROW.replace("A-1", "A-2")))

    assert [(r.row, r.accepted) for r in report.rows] == [(2, False), (3, True)]


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


# --------------------------------------------------------------------------- issue 10 §2: rows never merge

ANN = "A-10,2030-01-07T09:00:00Z,P-10,+12065550110,booked,Ann,Harbor,,America/Los_Angeles,"
BOB = "A-11,2030-01-08T10:00:00Z,P-11,+12065550111,booked,Bob,Eastside,,America/Los_Angeles,"


def test_an_unclosed_quote_never_gives_one_patient_the_next_patients_row() -> None:
    # The issue's case: a row ending in `,"Ann` swallowed the next row, and Ann was texted Bob's
    # appointment, time, patient id, number and name. Now Ann's row is refused naming the column, and
    # Bob's row is Bob's.
    broken = ANN.replace(",Ann,Harbor,,America/Los_Angeles,", ',"Ann')

    report = parse_csv(csv_of(broken, BOB))

    first, second = report.rows
    assert (first.row, first.accepted, first.column) == (2, False, "first_name")
    assert first.reason is not None and "does not close on this line" in first.reason
    assert (second.row, second.accepted) == (3, True)
    [(row, bob)] = report.intakes
    assert (row, bob.source_id, bob.patient_ref, bob.mobile_e164, bob.first_name) == (
        3,
        "A-11",
        "Patient/P-11",
        "+12065550111",
        "Bob",
    )


@pytest.mark.parametrize(
    ("line", "column", "words"),
    [
        pytest.param(ANN.replace(",Ann,", ',Ann"s,'), "first_name", "not itself quoted", id="stray-quote"),
        pytest.param(
            ANN.replace(",Ann,", ',"Ann" x,'), "first_name", "followed by more text", id="after-quote"
        ),
        pytest.param(ANN.replace(",Harbor,", ',"Harbor'), "location_name", "does not close", id="unclosed"),
    ],
)
def test_broken_quoting_refuses_its_row_naming_the_column(line: str, column: str, words: str) -> None:
    report = parse_csv(csv_of(line, BOB))

    first, second = report.rows
    assert (first.accepted, first.column) == (False, column)
    assert first.reason is not None and words in first.reason
    assert second.accepted
    assert "Ann" not in first.reason


ROW_IDS = st.lists(st.integers(min_value=10, max_value=99), min_size=2, max_size=8, unique=True)


@settings(max_examples=200, deadline=None)
@given(ROW_IDS, st.data())
def test_whatever_rows_break_every_intact_row_keeps_its_own_patient(
    ids: list[int], data: st.DataObject
) -> None:
    import csv
    import io

    broken = set(data.draw(st.lists(st.sampled_from(ids), unique=True)))
    lines = []
    for n in ids:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(
            [
                f"A-{n}",
                "2030-01-07T09:00:00Z",
                f"P-{n}",
                f"+120655501{n}",
                "booked",
                f"Name {n}",
                "",
                "",
                "",
                "",
            ]
        )
        line = buffer.getvalue()
        if n in broken:  # cut inside a quoted value: an unclosed quote, as a spreadsheet export can end
            cut = data.draw(st.sampled_from([',"Name', ',"', ',"Name x"y']))
            line = line.split(",Name ", 1)[0] + cut
        lines.append(line)

    report = parse_csv(csv_of(*lines))

    by_row = {row.row: row for row in report.rows}
    for position, n in enumerate(ids):
        assert by_row[position + 2].accepted is (n not in broken)
    for _, intake in report.intakes:
        n = int(intake.source_id[2:])
        assert (intake.patient_ref, intake.mobile_e164, intake.first_name) == (
            f"Patient/P-{n}",
            f"+120655501{n}",
            f"Name {n}",
        )


# ------------------------------------------------------------------ issue 10 §2: text that reaches a text


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        pytest.param("first_name", "Ro\x1b[2Jsa", "ESC", id="esc"),
        pytest.param("first_name", "Ro\x07sa", "BEL", id="bel"),
        pytest.param("first_name", "Ro\tsa", "tab", id="tab"),
        pytest.param("first_name", "R" * 65, "longer than 64", id="long-name"),
        pytest.param("first_name", "Ro\u2028sa", "line break", id="line-separator"),
        pytest.param("first_name", "Ro\u202esa", "invisible", id="bidi-override"),
        pytest.param("location_name", "Harbor\x00Clinic", "NUL", id="nul"),
        pytest.param("location_name", "H" * 121, "longer than 120", id="long-location"),
        pytest.param("location_address", "1200 Harbor Ave SW\x0bSeattle", "line break", id="vertical-tab"),
        pytest.param("location_address", "1" * 201, "longer than 200", id="long-address"),
    ],
)
def test_names_and_places_must_be_one_line_of_printable_text(column: str, value: str, words: str) -> None:
    header = "appointment_id,start,patient_id,mobile_phone,first_name,location_name,location_address"
    cells = {"first_name": "Rosa", "location_name": "Harbor", "location_address": "1 Main St Seattle"}
    cells[column] = value
    row = "A-1,2030-01-07T09:00:00Z,P-1,+12065550110," + ",".join(cells[c] for c in header.split(",")[4:])

    report = parse_csv(
        csv_of(row, "A-2,2030-01-07T09:00:00Z,P-2,+12065550111,Bob,Harbor,1 Main St", header=header)
    )

    first, second = report.rows
    assert (first.accepted, first.column) == (False, column)
    assert first.reason is not None and column in first.reason and words in first.reason
    assert value not in first.reason
    assert second.accepted


def test_a_cancellation_drops_an_unusable_name_instead_of_refusing() -> None:
    report = parse_csv(csv_of("A-7,,,,cancelled,Ro\x1bsa,,,,"))

    [(_, intake)] = report.intakes
    assert (intake.status, intake.first_name) == ("cancelled", None)


# --------------------------------------------------------------------------- issue 10 §1: dates in the window


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param("start", "0999-12-31T23:59:59Z", id="year-999"),
        pytest.param("start", "9999-12-31T23:59:59-12:00", id="overflows-in-utc"),
        pytest.param("start", "0001-01-01T00:00:00+14:00", id="before-year-1-in-utc"),
        pytest.param("start", "0001-01-01T00:30", id="local-overflows"),
        pytest.param("start", "1899-12-31T23:59:59Z", id="before-1900"),
        pytest.param("start", f"{datetime.now(UTC).year + 101}-01-01T09:00:00Z", id="a-century-ahead"),
        pytest.param("end", "9999-12-31T23:59:59-12:00", id="end-overflows"),
    ],
)
def test_a_date_outside_the_window_refuses_its_row_only(column: str, value: str) -> None:
    # Before the fix these raised OverflowError (the whole import failed after earlier rows were stored) or
    # were stored as timestamps that could not be read back.
    row = GOOD_ROW.replace(
        "2025-03-04T09:30:00-08:00" if column == "start" else "2025-03-04T10:00:00-08:00", value, 1
    )
    assert row != GOOD_ROW

    report = parse_csv(csv_of(GOOD_ROW.replace("A-1", "A-0"), row, GOOD_ROW.replace("A-1", "A-2")))

    assert [(r.row, r.accepted, r.column) for r in report.rows] == [
        (2, True, None),
        (3, False, column),
        (4, True, None),
    ]
    assert report.rows[1].reason is not None and "accepted range" in report.rows[1].reason
    assert [intake.source_id for _, intake in report.intakes] == ["A-0", "A-2"]


# ------------------------------------------------------------ issue 10 §4: numbers that cannot take texts


@pytest.mark.parametrize(
    ("number", "words"),
    [
        pytest.param("+1 800 555 0199", "toll-free", id="toll-free"),
        pytest.param("+44 7400 123456", "country calling code", id="abroad"),
        pytest.param("+44 20 7946 0958", "country calling code", id="landline-abroad"),
    ],
)
def test_a_number_that_cannot_take_texts_keeps_the_row_and_says_why(number: str, words: str) -> None:
    report = parse_csv(csv_of(GOOD_ROW.replace("+1 206 555 0110", number)))

    [row] = report.rows
    assert row.accepted
    assert row.note is not None and words in row.note and "mobile_phone" in row.note
    assert number not in row.note
    assert report.intakes[0][1].mobile_e164 is None


def test_location_cells_left_empty_mean_not_sent() -> None:
    text = (
        "appointment_id,start,patient_id,mobile_phone,location_name\n"
        "A-1,2030-01-07T09:00:00Z,P-1,+12065550110,\n"
    )

    [(_, intake)] = parse_csv(text).intakes

    assert intake.location_sent is False
    assert parse_csv(csv_of(GOOD_ROW)).intakes[0][1].location_sent is True


@pytest.mark.parametrize(
    ("dob", "kept"), [("1980-02-29", "1980-02-29"), ("02/29/1980", "1980-02-29"), ("", None)]
)
def test_a_dob_column_is_kept_as_an_iso_date(dob: str, kept: str | None) -> None:
    header = "appointment_id,start,patient_id,mobile_phone,dob"
    report = parse_csv(f"{header}\nA-1,2030-03-04T09:30:00-08:00,P-1,+12065550123,{dob}\n")
    [(_, intake)] = report.intakes
    assert intake.birth_date == kept


def test_a_dob_that_is_no_date_refuses_the_row_and_names_only_the_column() -> None:
    header = "appointment_id,start,patient_id,mobile_phone,dob"
    report = parse_csv(f"{header}\nA-1,2030-03-04T09:30:00-08:00,P-1,+12065550123,1981-02-29\n")
    [row] = report.rows
    assert not row.accepted and row.column == "dob" and "1981" not in (row.reason or "")
