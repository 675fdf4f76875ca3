"""CSV rows as a FHIR R4 batch Bundle, so a CSV import goes through the same ``POST /appointments``
route (and the same validation, storage and reminder planning) as an EHR's export."""

from __future__ import annotations

from typing import Any

from shared.appointments.intake import AppointmentIntake

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
# The most entries one row becomes (Patient, Location, Appointment): callers size Bundles with it.
ENTRIES_PER_INTAKE = 3


def intakes_to_bundle(intakes: list[AppointmentIntake]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for intake in intakes:
        patient_id = (intake.patient_ref or f"Patient/csv-{intake.source_id}").split("/", 1)[-1]
        patient: dict[str, Any] = {"resourceType": "Patient", "id": patient_id}
        if intake.first_name:
            patient["name"] = [{"use": "usual", "given": [intake.first_name]}]
        if intake.mobile_e164:
            patient["telecom"] = [{"system": "sms", "value": intake.mobile_e164, "rank": 1}]
        participants: list[dict[str, Any]] = [
            {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}
        ]
        resources = [patient]
        if intake.location_name or intake.location_address or intake.time_zone:
            location: dict[str, Any] = {"resourceType": "Location", "id": f"csv-{intake.source_id}"}
            if intake.location_name:
                location["name"] = intake.location_name
            if intake.location_address:
                location["address"] = {"line": [intake.location_address]}
            if intake.time_zone:
                location["extension"] = [{"url": TIMEZONE_EXTENSION, "valueCode": intake.time_zone}]
            resources.append(location)
            participants.append({"actor": {"reference": f"Location/{location['id']}"}, "status": "accepted"})
        appointment: dict[str, Any] = {
            "resourceType": "Appointment",
            "id": intake.source_id,
            "status": intake.status,
            "participant": participants,
        }
        if intake.start:
            appointment["start"] = intake.start.isoformat()
        if intake.end:
            appointment["end"] = intake.end.isoformat()
        resources.append(appointment)
        for resource in resources:
            entries.append(
                {
                    "fullUrl": f"urn:clinictext:{resource['resourceType']}/{resource['id']}",
                    "resource": resource,
                    "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
                }
            )
    return {"resourceType": "Bundle", "type": "batch", "entry": entries}
