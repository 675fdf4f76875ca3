"""Issue 3: appointments in (FHIR), reminders out exactly once, replies understood."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local import events
from tests.fixtures.fhir_samples import (
    MAGGIE_MOBILE,
    PHI_VALUES,
    THANH_MOBILE,
    resource_at,
    sample_bundle,
)
from tests.integration.harness import plaintext_leaks

CALLER = "arn:aws:iam::123456789012:user/ehr-feed"
# Far enough ahead that both default reminders (2 days and 2 hours before) are still to come.
START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=17, minute=30, second=0, microsecond=0)


def future_bundle(start: datetime = START) -> dict[str, Any]:
    bundle = sample_bundle()
    resource_at(bundle, 4)["start"] = start.isoformat()
    resource_at(bundle, 4)["end"] = (start + timedelta(minutes=45)).isoformat()
    resource_at(bundle, 5)["start"] = (start + timedelta(hours=1)).isoformat()
    return bundle


def post_bundle(stack, bundle: dict[str, Any], *, caller: str | None = CALLER) -> tuple[int, dict]:
    event = events.http_api_event(
        "POST",
        "/appointments",
        body=json.dumps(bundle),
        headers={"content-type": "application/fhir+json"},
        iam_caller=caller,
        base64_body=False,
    )
    response = stack.functions["AppointmentsApiFunction"].invoke(event)
    return response["statusCode"], json.loads(response["body"])


def get_appointment(stack, appointment_id: str) -> tuple[int, dict]:
    event = events.http_api_event(
        "GET",
        f"/appointments/{appointment_id}",
        route_key="GET /appointments/{id}",
        path_parameters={"id": appointment_id},
        iam_caller=CALLER,
    )
    response = stack.functions["AppointmentsApiFunction"].invoke(event)
    return response["statusCode"], json.loads(response["body"])


def reminders(stack) -> dict[str, dict[str, Any]]:
    return {item["pk"]: item for item in stack.table("RemindersTable").scan()["Items"]}


def statuses(body: dict) -> list[str]:
    return [entry["response"]["status"] for entry in body["entry"]]


def test_ingest_upserts_schedules_once_reschedules_cancels_and_keeps_no_phi(stack):
    status, body = post_bundle(stack, future_bundle(), caller=None)
    assert status == 403

    status, body = post_bundle(stack, future_bundle())
    assert status == 200 and body["type"] == "batch-response"
    assert statuses(body)[4:] == ["201 Created", "201 Created", "201 Created"]
    first = reminders(stack)
    assert sorted(first) == [
        "rem#appt-5001#120",
        "rem#appt-5001#2880",
        "rem#appt-5002#120",
        "rem#appt-5002#2880",
    ]
    assert all(item["status"] == "pending" and "due_bucket" in item for item in first.values())
    due = datetime.fromisoformat(first["rem#appt-5001#120"]["due_at"].replace("Z", "+00:00"))
    assert due == START - timedelta(hours=2)
    assert first["rem#appt-5001#120"]["due_bucket"] == due.strftime("%Y-%m-%dT%H")

    # The same bundle again: nothing changes, nothing is scheduled twice.
    status, body = post_bundle(stack, future_bundle())
    assert statuses(body)[4:] == ["200 OK", "200 OK", "200 OK"]
    assert reminders(stack) == first
    [appt] = [i for i in stack.table("AppointmentsTable").scan()["Items"] if i["pk"] == "appt#appt-5001"]
    assert appt["version"] == 1

    # A new start moves the pending reminders; a cancellation stops them.
    moved = future_bundle()
    resource_at(moved, 4)["start"] = (START + timedelta(days=1)).isoformat()
    resource_at(moved, 4)["end"] = (START + timedelta(days=1, minutes=30)).isoformat()
    resource_at(moved, 5)["status"] = "cancelled"
    status, body = post_bundle(stack, moved)
    assert statuses(body)[4:6] == ["200 OK", "200 OK"]
    after = reminders(stack)
    rescheduled = after["rem#appt-5001#120"]
    assert rescheduled["status"] == "pending" and rescheduled["appointment_version"] == 2
    assert rescheduled["due_at"] > first["rem#appt-5001#120"]["due_at"]
    assert rescheduled["due_bucket"] != first["rem#appt-5001#120"]["due_bucket"]
    for key in ("rem#appt-5002#120", "rem#appt-5002#2880"):
        assert after[key]["status"] == "cancelled" and "due_bucket" not in after[key]

    code, shown = get_appointment(stack, "appt-5002")
    assert code == 200 and shown["status"] == "cancelled"
    assert {r["status"] for r in shown["reminders"]} == {"cancelled"}
    assert shown["appointmentResponse"]["participantStatus"] == "needs-action"
    assert get_appointment(stack, "nope")[0] == 404

    # Only the number's blind index and ciphertexts: no reason, specialty, name or number in clear.
    secrets = [*PHI_VALUES, MAGGIE_MOBILE, THANH_MOBILE, "Maggie", "Thanh", "Harbor Ave"]
    assert plaintext_leaks(stack, secrets) == []


def test_not_a_bundle_is_refused_with_operation_outcome(stack):
    status, body = post_bundle(stack, {"resourceType": "Patient", "id": "x"})
    assert status == 400 and body["resourceType"] == "OperationOutcome"
