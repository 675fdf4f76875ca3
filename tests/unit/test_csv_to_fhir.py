from __future__ import annotations

from pathlib import Path

from shared.appointments.csv_import import parse_csv
from shared.appointments.fhir import parse_bundle
from shared.appointments.to_fhir import intakes_to_bundle

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "appointments.csv"


def test_csv_rows_round_trip_through_the_fhir_ingest_unchanged() -> None:
    report = parse_csv(SAMPLE.read_text(encoding="utf-8"))
    from_csv = [intake for _, intake in report.intakes]
    assert len(from_csv) >= 3
    parsed = parse_bundle(intakes_to_bundle(from_csv))
    assert parsed.rejected == []
    from_fhir = [intake for _, intake in parsed.intakes]
    fields = (
        "source_id",
        "status",
        "start",
        "end",
        "first_name",
        "mobile_e164",
        "location_address",
        "time_zone",
    )
    assert [[getattr(i, f) for f in fields] for i in from_fhir] == [
        [getattr(i, f) for f in fields] for i in from_csv
    ]
