"""Issue 10 §1, §3, §4, §6: appointments as EHRs really send them, through POST /appointments on moto.

An update carrying only the moved Appointment keeps its stored patient and place and is reminded at the new
time; an update that names another patient never texts the earlier one; an appointment that cannot be
reminded says why in its entry's outcome; Oracle Health's published cancellation stops both reminders; an
instant outside the accepted window is that entry's 400 and stores nothing; a Bundle beyond the entry cap is
413, and one at the cap is answered (the time it takes is printed, never asserted).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.fixtures.fhir_samples import (
    bundle_of,
    cerner_booked,
    cerner_cancelled_appointment,
    minimal_appointment,
    resource_at,
)
from tests.integration.harness import all_items, outbox, texts_to
from tests.integration.test_reminders import (
    START,
    deliver,
    future_bundle,
    get_appointment,
    post_bundle,
    receive,
    reminders,
    scheduled_run,
    statuses,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

# The functions' wall clock, three days before START (as in test_reminders): both reminders still to come.
SENDER_NOW = START - timedelta(days=3)
PATIENT_G = "+12065550161"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.core.clock import SystemClock

    monkeypatch.setattr(SystemClock, "now", lambda self: SENDER_NOW)


def patient_g() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p-g",
        "name": [{"use": "usual", "given": ["Grace"]}],
        "telecom": [{"system": "sms", "value": PATIENT_G}],
    }


def location() -> dict[str, Any]:
    return {
        "resourceType": "Location",
        "id": "loc-1",
        "name": "Harbor Family Clinic",
        "address": {"line": ["1200 Harbor Ave SW"], "city": "Seattle"},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": "America/Los_Angeles"}
        ],
    }


def appointment(start: datetime, patient: str = "Patient/p-g", status: str = "booked") -> dict[str, Any]:
    resource = minimal_appointment("appt-g", patient_ref=patient)
    resource["status"] = status
    resource["start"] = start.isoformat()
    resource["participant"].append({"actor": {"reference": "Location/loc-1"}, "status": "accepted"})
    return resource


def outcome_issues(body: dict[str, Any], index: int) -> list[dict[str, Any]]:
    return ((body["entry"][index]["response"].get("outcome")) or {}).get("issue", [])


def pending_due(stack: Any, source_id: str) -> dict[str, str]:
    return {
        pk: item["due_at"]
        for pk, item in reminders(stack).items()
        if pk.startswith(f"rem#{source_id}#") and item["status"] == "pending"
    }


def count_items(stack: Any, logical: str) -> int:
    return sum(1 for table, _ in all_items(stack) if table == logical)


# --------------------------------------------------------------------------- §3 reschedules


def test_a_moved_appointment_sent_alone_keeps_its_patient_and_is_reminded_at_the_new_time(stack: Any) -> None:
    status, body = post_bundle(stack, bundle_of(patient_g(), location(), appointment(START)))
    assert status == 200 and statuses(body) == ["200 OK", "200 OK", "201 Created"]
    before = pending_due(stack, "appt-g")
    assert len(before) == 2

    # The EHR's usual reschedule: only the Appointment, its patient and place by reference.
    moved = START + timedelta(days=1, hours=2)
    status, body = post_bundle(stack, bundle_of(appointment(moved)))

    # Before the fix: 200 OK, and both reminders closed as superseded (phone index and zone dropped).
    assert status == 200 and statuses(body) == ["200 OK"]
    assert outcome_issues(body, 0) == []
    after = pending_due(stack, "appt-g")
    assert sorted(after) == sorted(before)
    assert all(after[pk] > before[pk] for pk in after)
    [item] = [i for i in stack.table("AppointmentsTable").scan()["Items"] if i["pk"] == "appt#appt-g"]
    assert item["phone_hmac"] and item["time_zone"] == "America/Los_Angeles" and item["version"] == 2

    # The two-day reminder goes out at its new time, to the same patient, naming the place.
    assert scheduled_run(stack, moved - timedelta(days=2) + timedelta(minutes=5))["queued"] == 1
    assert deliver(stack, receive(stack)) == {"batchItemFailures": []}
    [text] = texts_to(PATIENT_G)
    local = moved.astimezone(ZoneInfo("America/Los_Angeles"))  # the stored zone, kept too
    assert (
        "Hi Grace" in text and f"{local:%a %b} {local.day} at {local.hour % 12 or 12}:30 {local:%p}" in text
    )

    # Sending the same reschedule again changes nothing.
    status, body = post_bundle(stack, bundle_of(appointment(moved)))
    assert statuses(body) == ["200 OK"] and pending_due(stack, "appt-g") == {
        pk: due for pk, due in after.items() if pk.endswith("#120")
    }


def test_an_update_naming_another_patient_never_texts_the_earlier_one(stack: Any) -> None:
    post_bundle(stack, bundle_of(patient_g(), location(), appointment(START)))

    _status, body = post_bundle(stack, bundle_of(appointment(START, patient="Patient/p-h")))

    assert statuses(body) == ["200 OK"]
    [issue] = outcome_issues(body, 0)
    assert issue["severity"] == "warning" and "different patient" in issue["diagnostics"]
    assert pending_due(stack, "appt-g") == {}
    assert {i["status"] for i in reminders(stack).values()} == {"superseded"}
    assert scheduled_run(stack, START - timedelta(days=2) + timedelta(minutes=5))["queued"] == 0
    assert receive(stack) == [] and texts_to(PATIENT_G) == []


def test_a_new_appointment_whose_patient_was_not_sent_says_it_cannot_be_reminded(stack: Any) -> None:
    _status, body = post_bundle(stack, bundle_of(appointment(START)))

    assert statuses(body) == ["201 Created"]
    [issue] = outcome_issues(body, 0)
    assert issue["severity"] == "warning"
    assert (
        "No reminder will be sent" in issue["diagnostics"] and "Patient was not sent" in issue["diagnostics"]
    )
    assert reminders(stack) == {}


# --------------------------------------------------------------------------- §4 what real EHRs send


def test_a_patient_without_a_mobile_and_a_proposed_appointment_are_answered_with_why(stack: Any) -> None:
    home_only = {**patient_g(), "telecom": [{"system": "phone", "use": "home", "value": "+12065550162"}]}
    proposed = {**appointment(START + timedelta(days=1), status="proposed"), "id": "appt-p"}
    booked_but_passed = {**appointment(SENDER_NOW + timedelta(minutes=90)), "id": "appt-soon"}
    home_only_booked = {**appointment(START), "participant": [{"actor": {"reference": "Patient/p-home"}}]}
    home_only["id"] = "p-home"

    status, body = post_bundle(
        stack, bundle_of(home_only, patient_g(), location(), home_only_booked, proposed, booked_but_passed)
    )

    assert status == 200
    assert statuses(body) == ["200 OK", "200 OK", "200 OK", "201 Created", "201 Created", "201 Created"]
    assert [i["severity"] for i in outcome_issues(body, 0)] == ["warning"]  # the Patient entry itself
    home = [i["diagnostics"] for i in outcome_issues(body, 3)]
    assert any("home and work phones are never texted" in d for d in home)
    assert any("No reminder will be sent" in d for d in home)
    [not_booked] = outcome_issues(body, 4)
    assert not_booked["severity"] == "information" and "only booked appointments" in not_booked["diagnostics"]
    [passed] = outcome_issues(body, 5)
    assert passed["severity"] == "warning" and "already passed" in passed["diagnostics"]
    assert reminders(stack) == {}
    for issues in (home, [not_booked["diagnostics"]], [passed["diagnostics"]]):
        assert not [d for d in issues if "2065550162" in d or "Grace" in d]


def test_oracle_health_published_cancellation_stops_both_reminders(stack: Any) -> None:
    patient = {**patient_g(), "id": "12724066"}
    post_bundle(stack, bundle_of(patient, cerner_booked(START)))
    assert len(pending_due(stack, "4822366")) == 2

    # Before the fix the empty action-comment valueString refused the entry: both reminders still went out.
    status, body = post_bundle(stack, bundle_of(cerner_cancelled_appointment(START)))

    assert status == 200 and statuses(body) == ["200 OK"]
    assert {item["status"] for item in reminders(stack).values()} == {"cancelled"}
    for run_at in (START - timedelta(days=2), START - timedelta(hours=2)):
        scheduled_run(stack, run_at + timedelta(minutes=5))
    assert receive(stack) == []
    assert texts_to(PATIENT_G) == []
    code, shown = get_appointment(stack, "4822366")
    assert code == 200 and shown["status"] == "cancelled"


# --------------------------------------------------------------------------- §1 instants


@pytest.mark.parametrize(
    "start", ["0999-06-01T09:00:00Z", "9999-12-31T23:59:59-12:00", "1899-01-01T00:00:00Z"]
)
def test_an_instant_outside_the_window_is_that_entrys_400_and_stores_nothing(stack: Any, start: str) -> None:
    bundle = future_bundle()
    resource_at(bundle, 5)["start"] = start

    status, body = post_bundle(stack, bundle)

    # Before the fix: a 500 for the whole Bundle (OverflowError), or year 999 stored and unreadable.
    assert status == 200
    assert statuses(body)[4:] == ["201 Created", "400 Bad Request", "201 Created"]
    assert outcome_issues(body, 5)[0]["expression"] == ["Appointment.start"]
    keys = {i["pk"] for i in stack.table("AppointmentsTable").scan()["Items"]}
    assert "appt#appt-5002" not in keys and {"appt#appt-5001", "appt#appt-5003"} <= keys
    assert get_appointment(stack, "appt-5001")[0] == 200


# --------------------------------------------------------------------------- §6 the entry cap


def test_a_bundle_beyond_the_entry_cap_is_413_and_one_at_the_cap_is_answered(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.appointments_api import handler
    from shared.appointments.fhir import MAX_BUNDLE_ENTRIES

    # The cap, not the time budget, is under test: on a loaded CI machine moto took longer than the 20 s
    # budget and the last entries were (rightly) answered 503. The budget has its own test below.
    monkeypatch.setattr(handler, "INGEST_BUDGET_SECONDS", 600.0)

    def cap_bundle(count: int) -> dict[str, Any]:
        resources: list[dict[str, Any]] = [patient_g(), location()]
        for n in range(count - len(resources)):
            resources.append({**appointment(START + timedelta(minutes=n)), "id": f"cap-{n}"})
        return bundle_of(*resources)

    status, body = post_bundle(stack, cap_bundle(MAX_BUNDLE_ENTRIES + 1))
    assert status == 413 and body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "too-costly"
    assert count_items(stack, "AppointmentsTable") == 0

    from infra.local.moto_speed import item_level_transactions

    started = time.monotonic()
    with item_level_transactions():  # moto otherwise copies whole tables per transaction
        status, body = post_bundle(stack, cap_bundle(MAX_BUNDLE_ENTRIES))
    elapsed = time.monotonic() - started

    assert status == 200 and len(body["entry"]) == MAX_BUNDLE_ENTRIES
    assert statuses(body).count("201 Created") == MAX_BUNDLE_ENTRIES - 2
    appointments = MAX_BUNDLE_ENTRIES - 2
    # The figure is printed, never asserted: moto is not AWS.
    figure = f"{MAX_BUNDLE_ENTRIES}-entry Bundle, {appointments} appointments x 2 reminders"
    print(f"\n{figure}, on moto: {elapsed:.1f}s")
    assert len(outbox()) == 0
    assert count_items(stack, "RemindersTable") == 2 * appointments


def test_entries_the_time_budget_does_not_reach_are_503_and_stored_nowhere(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.appointments_api import handler

    monkeypatch.setattr(handler, "INGEST_BUDGET_SECONDS", 0.0)  # spent before the first write
    status, body = post_bundle(stack, bundle_of(patient_g(), location(), appointment(START)))
    assert status == 200, body
    assert [s for s in statuses(body) if s.startswith("503")], statuses(body)
    assert count_items(stack, "AppointmentsTable") == 0 and count_items(stack, "RemindersTable") == 0
