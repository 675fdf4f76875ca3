"""Issue 10 §4: the resources EHR vendors and HL7 publish as examples go in as they are (dates moved).

Sources are listed in tests/fixtures/fhir_samples.py. Epic's published R4 Appointment examples were not
reachable from this environment, so they are not among them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.appointments.fhir import parse_bundle
from tests.fixtures.fhir_samples import (
    bundle_of,
    cerner_booked,
    cerner_cancelled_appointment,
    cerner_location,
    cerner_noshow_video_visit,
    cerner_patient,
    cerner_proposed_appointment,
    hl7_appointment_2docs,
    hl7_appointment_example,
    hl7_appointment_request,
    hl7_location_example,
    hl7_patient_example,
)

START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=17, minute=30, second=0, microsecond=0)

# Values in the published examples that are PHI, clinical, or someone else's number: never kept.
NEVER_KEPT = (
    "Chalmers",
    "Peter",
    "Windsor",
    "MRI",
    "burn",
    "Clinical Review",
    "Psychiatry",
    "Careful",
    "Maas",
    "cramp",
    "Surgery",
    "SMART",
    "NANCY",
    "JOE",
    "9137876555",
    "9139898765",
    "joe.smart",
    "Video Visit",
    "Scheduled by mistake",
    "Marché",
    "998327",
    "34105613",
    "55556473",
)


def kept_json(bundle: dict) -> str:
    return json.dumps([intake.model_dump(mode="json") for _, intake in parse_bundle(bundle).intakes])


def test_oracle_health_cancellation_with_an_empty_action_comment_is_applied() -> None:
    # Before the fix the empty valueString failed fhir.resources' validation: the entry got 400 and the
    # cancelled appointment's reminders were still sent.
    parsed = parse_bundle(bundle_of(cerner_cancelled_appointment(START)))

    assert parsed.rejected == []
    [(_, intake)] = parsed.intakes
    assert (intake.source_id, intake.status, intake.patient_ref) == (
        "4822366",
        "cancelled",
        "Patient/12724066",
    )
    assert parsed.warnings == {}


def test_oracle_health_booked_then_cancelled_with_its_patient_and_location() -> None:
    parsed = parse_bundle(bundle_of(cerner_patient(), cerner_location(), cerner_booked(START)))

    assert parsed.rejected == []
    [(index, intake)] = parsed.intakes
    assert intake.start == START
    assert intake.first_name == "NANCY"
    # Her only telecom is an email; the mobile in Patient.contact is her representative's, never hers.
    assert intake.mobile_e164 is None
    [warning] = parsed.warnings[index]
    assert warning["severity"] == "warning" and "No text can be sent" in warning["diagnostics"]
    # Four address lines and the city, one line; the nested custom-attribute extensions are skipped.
    assert intake.location_address == (
        "Cerner H2 building, Level 4, Manyata embassy business park, Nagawara cicle, Bangalore"
    )
    assert (intake.location_name, intake.time_zone) == ("BE 1 North", None)


def test_oracle_health_no_show_video_visit_with_contained_resources() -> None:
    parsed = parse_bundle(bundle_of(cerner_noshow_video_visit(START)))

    assert parsed.rejected == []
    [(_, intake)] = parsed.intakes
    assert (intake.status, intake.patient_ref, intake.location_ref) == (
        "noshow",
        "Patient/12724066",
        "Location/21304876",
    )


def test_oracle_health_proposed_appointment_without_a_start_is_kept_not_refused() -> None:
    parsed = parse_bundle(bundle_of(cerner_proposed_appointment()))

    assert parsed.rejected == []
    [(_, intake)] = parsed.intakes
    assert (intake.status, intake.start) == ("proposed", None)


def test_hl7_examples_for_a_us_clinic() -> None:
    bundle = bundle_of(
        hl7_patient_example(),
        hl7_location_example(),
        hl7_appointment_example(START),
        hl7_appointment_2docs(START + timedelta(days=1)),
        hl7_appointment_request(),
    )

    parsed = parse_bundle(bundle)

    assert parsed.rejected == []
    intakes = dict(parsed.intakes)
    example, two_docs, request = intakes[2], intakes[3], intakes[4]
    assert (example.status, example.start, example.first_name) == ("booked", START, "Jim")
    assert (example.location_name, example.location_address) == (
        "South Wing, second floor",
        "Galapagosweg 91, Building A, Den Burg",
    )
    assert (two_docs.patient_ref, two_docs.status) == ("Patient/example", "booked")
    assert (request.status, request.start) == ("proposed", None)
    # "(03) 3410 5613" is no US number: the appointment is stored, and the EHR is told nobody can be texted.
    for index in (2, 3):
        assert intakes[index].mobile_e164 is None
        [warning] = parsed.warnings[index]
        assert warning["expression"] == ["Patient.telecom[2].value"]
        assert "not a valid phone number" in warning["diagnostics"]
    assert 4 not in parsed.warnings  # a proposed appointment is never texted: nothing to warn about yet
    lowered = kept_json(bundle).lower()
    for value in NEVER_KEPT:
        assert value.lower() not in lowered, value


def test_hl7_examples_for_an_australian_clinic_say_the_mobile_is_a_landline() -> None:
    bundle = bundle_of(hl7_patient_example(), hl7_appointment_example(START))

    parsed = parse_bundle(bundle, default_region="AU")

    [(index, intake)] = parsed.intakes
    assert intake.mobile_e164 is None
    [warning] = parsed.warnings[index]
    assert "fixed line" in warning["diagnostics"]
    assert warning["expression"] == ["Patient.telecom[2].value"]


def test_published_examples_in_a_transaction_are_all_accepted() -> None:
    bundle = bundle_of(
        cerner_patient(),
        cerner_location(),
        cerner_cancelled_appointment(START),
        hl7_patient_example(),
        hl7_location_example(),
        hl7_appointment_example(START),
        bundle_type="transaction",
    )

    parsed = parse_bundle(bundle)

    assert parsed.response_type == "transaction-response"
    assert [intake.status for _, intake in parsed.intakes] == ["cancelled", "booked"]
