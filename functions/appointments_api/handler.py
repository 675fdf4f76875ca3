"""Appointments API: POST /appointments (FHIR R4 Bundle in, batch-response out), GET /appointments/{id}."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from shared.appointments import wiring
from shared.appointments.fhir import operation_outcome
from shared.appointments.ingest import ingest_bundle
from shared.appointments.intake import is_fhir_id
from shared.appointments.status import appointment_status
from shared.core.errors import InvalidInput, NotFound
from shared.runtime.api import BAD_REQUEST, FORBIDDEN, SIGV4, ClinicResolver, json_answer, refusal
from shared.runtime.http import (
    FHIR_LIMITS,
    FHIR_MEDIA_TYPES,
    BodyTooLarge,
    UnsupportedMediaType,
    body_text,
    media_type,
    parse_json,
)
from shared.runtime.observability import logger, metrics, tracer
from shared.runtime.wiring import preload_clients

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

FHIR_JSON = "application/fhir+json"
# The HTTP API gives up on a request after 30 s. A Bundle at the entry cap is stored in a fraction of that;
# this budget is the safety net that still answers (entries not reached get 503) before API Gateway would.
INGEST_BUDGET_SECONDS = 20.0


# SnapStart: botocore's data for the clients this function makes is parsed at init, into the snapshot.
preload_clients("dynamodb", "kms")
app = ClinicResolver(what="appointments")


def _bundle_json(event: dict[str, Any]) -> dict[str, Any]:
    """The body as a JSON object, through the one body parser every route uses (``application/fhir+json``
    or ``application/json``; size, nesting, number and duplicate-key limits)."""
    media_type(event, FHIR_MEDIA_TYPES)
    bundle: dict[str, Any] = parse_json(body_text(event, max_bytes=FHIR_LIMITS.max_bytes), FHIR_LIMITS)
    return bundle


def _refused(exc: InvalidInput) -> Response[Any]:
    """A body refused before it is read as FHIR: 415, 413 or 400 with an OperationOutcome."""
    if isinstance(exc, UnsupportedMediaType):
        status, code = 415, "not-supported"
    elif isinstance(exc, BodyTooLarge):
        status, code = 413, "too-long"
    else:
        status, code = 400, "structure"
    return json_answer(status, operation_outcome(code, exc.message), content_type=FHIR_JSON)


def _outcome(description: str) -> OpenAPIResponse:
    schema = {"type": "object", "required": ["resourceType"], "description": "A FHIR R4 resource"}
    return {"description": description, "content": {FHIR_JSON: {"schema": schema}}}


# The Bundle is read by the FHIR ingest itself (batch, transaction or collection; entry by entry, each
# answered in the batch-response), so the request body is described here rather than as one pydantic model.
_BUNDLE = {"type": "object", "required": ["resourceType"], "description": "A FHIR R4 Bundle"}


@app.post(
    "/appointments",
    summary="FHIR R4 Bundle (batch, transaction or collection) of Patients, Appointments and Locations.",
    security=SIGV4,
    # Merged into the operation as it is described (Powertools has no per-route request-body override).
    openapi_extensions={
        "requestBody": {
            "required": True,
            "content": {FHIR_JSON: {"schema": _BUNDLE}, "application/json": {"schema": _BUNDLE}},
        }
    },
    responses={
        200: _outcome("batch-response Bundle with a status per entry"),
        400: _outcome("Not a Bundle, or JSON the body parser refuses (OperationOutcome)"),
        403: FORBIDDEN,
        413: _outcome(
            "The body is over 5 MiB (OperationOutcome, code too-long), or the Bundle holds more than 500 "
            "entries (too-costly; nothing processed)"
        ),
        415: _outcome("Not application/fhir+json or application/json (OperationOutcome, not-supported)"),
        503: _outcome("The time budget ran out: entries not reached are answered 503 (retry them)"),
    },
)
def ingest() -> Response[Any]:
    try:
        body = _bundle_json(app.current_event.raw_event)
    except InvalidInput as exc:
        return _refused(exc)
    settings = wiring.reminder_settings()
    started = time.monotonic()
    answer = ingest_bundle(
        body,
        wiring.appointment_book(),
        default_region=settings.default_phone_region,
        offsets=settings.offsets,
        time_left=lambda: INGEST_BUDGET_SECONDS - (time.monotonic() - started),
    )
    if answer.status == 200:
        statuses = [entry["response"]["status"][:3] for entry in answer.body["entry"]]
        for code in sorted(set(statuses)):
            metrics.add_metric(name=f"AppointmentEntries_{code}", unit="Count", value=statuses.count(code))
    logger.info("appointment bundle answered", extra={"status": answer.status})
    return json_answer(answer.status, answer.body, content_type=FHIR_JSON)


class ReminderStatus(BaseModel):
    offset_minutes: int
    due_at: str | None
    status: str
    sent_at: str | None


class ReplyStatus(BaseModel):
    status: str | None = Field(description="confirmed, reschedule_requested, or null before a reply")
    replied_at: str | None


class AppointmentStatus(BaseModel):
    """An appointment's status, reminders and reply: ids and times only, no PHI."""

    id: str
    status: str
    start: str | None
    version: int
    reminders: list[ReminderStatus]
    last_reminded_at: str | None
    reply: ReplyStatus
    appointmentResponse: dict[str, Any] = Field(description="The reply as a FHIR R4 AppointmentResponse")


AppointmentId = Annotated[
    str,
    Path(
        description='A FHIR id (1-64 letters, digits, "-" or "."); any other is 400 naming the field id.',
        json_schema_extra={"minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9.-]{1,64}$"},
    ),
]


@app.get(
    "/appointments/<id>",
    summary="An appointment's status, reminders and reply (with a FHIR AppointmentResponse).",
    security=SIGV4,
    responses={
        200: {"description": "Appointment status"},
        400: BAD_REQUEST,
        403: FORBIDDEN,
        404: refusal("No such appointment"),
    },
)
def get_appointment(id: AppointmentId) -> AppointmentStatus:
    # Checked here (not by a schema pattern) so the refusal says what an id may hold.
    if not is_fhir_id(id):
        raise InvalidInput("the appointment id must be 1-64 letters, digits, '-' or '.'", field="id")
    view = wiring.appointment_book().view(id)
    if view is None:
        raise NotFound("no appointment with this id")
    return AppointmentStatus.model_validate(appointment_status(view))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
