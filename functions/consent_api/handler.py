"""Consent API for clinic systems: POST /consent (record opt-in/opt-out), POST /consent/lookup."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.consent import wiring
from shared.consent.domain import ConsentRequest, LookupRequest
from shared.core.clock import iso
from shared.core.models import ConsentState, ConsentStatus
from shared.runtime.http import error_response, json_response, model_body, require_iam_caller, respond
from shared.runtime.observability import logger, metrics, tracer

UNREADABLE_DETAIL = (
    "The stored consent record of this number cannot be read, so no texts are sent to it. An opt-out "
    "(POST /consent with action opt_out, or the patient texting STOP) or the patient texting START "
    "replaces it; operators have been alerted."
)


def _state(state: ConsentState) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "status": state.status.value,
        "updated_at": iso(state.updated_at) if state.updated_at else None,
        "source": state.last_source.value if state.last_source else None,
    }
    if state.status is ConsentStatus.UNREADABLE:
        shown["detail"] = UNREADABLE_DETAIL
    return shown


def _route(event: dict[str, Any]) -> dict[str, Any]:
    require_iam_caller(event)
    route = str(event.get("routeKey") or "")
    if route == "POST /consent":
        request = model_body(event, ConsentRequest)
        result = wiring.consent_service().record(request)
        metrics.add_metric(name=f"Consent_{request.action}", unit="Count", value=1)
        return json_response(
            201,
            {
                "event_id": result.event_id,
                "consent": _state(result.state),
                "confirmation": result.confirmation,
            },
        )
    if route == "POST /consent/lookup":
        lookup = model_body(event, LookupRequest)
        return json_response(200, {"consent": _state(wiring.consent_service().lookup(lookup))})
    return error_response(404, "not_found", f"no route {route!r}")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return respond(_route, event, "consent")
