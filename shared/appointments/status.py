"""The appointment as GET /appointments/{id} shows it, with the reply as a FHIR AppointmentResponse."""

from __future__ import annotations

from typing import Any

from shared.appointments.ports import AppointmentView

CONFIRMED = "confirmed"
RESCHEDULE_REQUESTED = "reschedule_requested"

_PARTICIPANT_STATUS = {CONFIRMED: "accepted", RESCHEDULE_REQUESTED: "tentative"}


def appointment_response(view: AppointmentView) -> dict[str, Any]:
    """A FHIR R4 AppointmentResponse an EHR can take back: ids and the participant status only."""
    from fhir.resources.R4B.appointmentresponse import AppointmentResponse

    resource: dict[str, Any] = {
        "resourceType": "AppointmentResponse",
        "id": f"{view.source_id}-patient-reply"[:64],
        "appointment": {"reference": f"Appointment/{view.source_id}"},
        "participantStatus": _PARTICIPANT_STATUS.get(view.reply_status or "", "needs-action"),
    }
    if view.reply_status == RESCHEDULE_REQUESTED:
        resource["comment"] = "Patient asked to reschedule by text."
    AppointmentResponse.model_validate(resource)  # the shape EHRs expect, checked by the FHIR models
    return resource


def appointment_status(view: AppointmentView) -> dict[str, Any]:
    return {
        "id": view.source_id,
        "status": view.status,
        "start": view.start_at,
        "version": view.version,
        "reminders": [
            {
                "offset_minutes": rem.offset_minutes,
                "due_at": rem.due_at,
                "status": rem.status,
                "sent_at": rem.sent_at,
            }
            for rem in view.reminders
        ],
        "last_reminded_at": view.last_reminded_at,
        "reply": {"status": view.reply_status, "replied_at": view.replied_at},
        "appointmentResponse": appointment_response(view),
    }
