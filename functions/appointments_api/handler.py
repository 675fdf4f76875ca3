"""Appointments API: POST /appointments (FHIR R4 Bundle in, batch-response out), GET /appointments/{id}."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.appointments import wiring
from shared.appointments.fhir import operation_outcome
from shared.appointments.ingest import ingest_bundle
from shared.appointments.intake import is_fhir_id
from shared.appointments.status import appointment_status
from shared.core.errors import InvalidInput, NotFound
from shared.runtime.http import (
    FHIR_LIMITS,
    FHIR_MEDIA_TYPES,
    BodyTooLarge,
    UnsupportedMediaType,
    body_text,
    error_response,
    json_response,
    media_type,
    parse_json,
    require_iam_caller,
    respond,
)
from shared.runtime.observability import logger, metrics, tracer

FHIR_JSON = "application/fhir+json"
# The HTTP API gives up on a request after 30 s. A Bundle at the entry cap is stored in a fraction of that;
# this budget is the safety net that still answers (entries not reached get 503) before API Gateway would.
INGEST_BUDGET_SECONDS = 20.0


def _bundle_json(event: dict[str, Any]) -> dict[str, Any]:
    """The body as a JSON object, through the one body parser every route uses (``application/fhir+json``
    or ``application/json``; size, nesting, number and duplicate-key limits)."""
    media_type(event, FHIR_MEDIA_TYPES)
    bundle: dict[str, Any] = parse_json(body_text(event, max_bytes=FHIR_LIMITS.max_bytes), FHIR_LIMITS)
    return bundle


def _refused(exc: InvalidInput) -> dict[str, Any]:
    """A body refused before it is read as FHIR: 415, 413 or 400 with an OperationOutcome."""
    if isinstance(exc, UnsupportedMediaType):
        status, code = 415, "not-supported"
    elif isinstance(exc, BodyTooLarge):
        status, code = 413, "too-long"
    else:
        status, code = 400, "structure"
    return json_response(status, operation_outcome(code, exc.message), content_type=FHIR_JSON)


def _route(event: dict[str, Any]) -> dict[str, Any]:
    require_iam_caller(event)
    route = str(event.get("routeKey") or "")
    if route == "POST /appointments":
        try:
            body = _bundle_json(event)
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
                metrics.add_metric(
                    name=f"AppointmentEntries_{code}", unit="Count", value=statuses.count(code)
                )
        logger.info("appointment bundle answered", extra={"status": answer.status})
        return json_response(answer.status, answer.body, content_type=FHIR_JSON)
    if route == "GET /appointments/{id}":
        source_id = str((event.get("pathParameters") or {}).get("id") or "")
        if not is_fhir_id(source_id):
            raise InvalidInput("the appointment id must be 1-64 letters, digits, '-' or '.'", field="id")
        view = wiring.appointment_book().view(source_id)
        if view is None:
            raise NotFound("no appointment with this id")
        return json_response(200, appointment_status(view))
    return error_response(404, "not_found", f"no route {route!r}")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return respond(_route, event, "appointments")
