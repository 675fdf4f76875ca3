"""Consent API for clinic systems: POST /consent (record opt-in/opt-out), POST /consent/lookup."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from shared.consent import wiring
from shared.consent.domain import ConsentRequest, LookupRequest
from shared.core.clock import iso
from shared.core.models import ConsentState, ConsentStatus
from shared.runtime.api import BODY_REFUSALS, SIGV4, ClinicResolver, json_answer, refusal
from shared.runtime.observability import logger, metrics, tracer
from shared.runtime.wiring import preload_clients

UNREADABLE_DETAIL = (
    "The stored consent record of this number cannot be read, so no texts are sent to it. An opt-out "
    "(POST /consent with action opt_out, or the patient texting STOP) or the patient texting START "
    "replaces it; operators have been alerted."
)

# SnapStart: botocore's data for the clients this function makes is parsed at init, into the snapshot.
preload_clients("dynamodb", "kms", "sns")
app = ClinicResolver(what="consent")


class ConsentView(BaseModel):
    """A number's consent as the API shows it (no number: the caller already has it)."""

    status: str = Field(description="opted_in, opted_out, unknown or unreadable")
    updated_at: str | None = Field(description="When the state last changed (ISO 8601, UTC)")
    source: str | None = Field(description="Where the last change came from")
    detail: str | None = Field(
        default=None, exclude_if=lambda v: v is None, description="Present when the record cannot be read"
    )


class ConsentRecorded(BaseModel):
    event_id: str
    consent: ConsentView
    confirmation: str = Field(description="sent | not_requested | not_sent_opted_out | failed:<reason>")


class ConsentFound(BaseModel):
    consent: ConsentView


def _state(state: ConsentState) -> ConsentView:
    return ConsentView(
        status=state.status.value,
        updated_at=iso(state.updated_at) if state.updated_at else None,
        source=state.last_source.value if state.last_source else None,
        detail=UNREADABLE_DETAIL if state.status is ConsentStatus.UNREADABLE else None,
    )


@app.post(
    "/consent",
    summary="Record an opt-in (intake, registration) or a staff-recorded opt-out.",
    security=SIGV4,
    responses={
        201: {"description": "Recorded"},
        **BODY_REFUSALS,
        409: refusal("An opt-in older than a later opt-out"),
    },
)
def record(
    request: Annotated[ConsentRequest, Body(media_type="application/json")],
) -> Response[ConsentRecorded]:
    result = wiring.consent_service().record(request)
    metrics.add_metric(name=f"Consent_{request.action}", unit="Count", value=1)
    answer = ConsentRecorded(
        event_id=result.event_id, consent=_state(result.state), confirmation=result.confirmation
    )
    return json_answer(201, answer)


@app.post(
    "/consent/lookup",
    summary="The consent state of one number.",
    security=SIGV4,
    responses={200: {"description": "Consent state"}, **BODY_REFUSALS},
)
def lookup(request: Annotated[LookupRequest, Body(media_type="application/json")]) -> ConsentFound:
    return ConsentFound(consent=_state(wiring.consent_service().lookup(request)))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
