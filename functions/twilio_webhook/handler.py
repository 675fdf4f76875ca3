"""Twilio-compatible inbound webhook: POST /webhooks/twilio (form-encoded, signed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from shared.core.clock import CLOCK_SKEW, SystemClock, check_instant
from shared.core.errors import InvalidInput, Unauthorized
from shared.core.models import Channel, InboundText
from shared.inbound import wiring as inbound_wiring
from shared.inbound.twilio import form_params, twiml, verify_signature
from shared.inbox import wiring as inbox_wiring
from shared.runtime import aws_errors as aws
from shared.runtime import rejections
from shared.runtime.api import BAD_REQUEST, TOO_LARGE, UNSUPPORTED, ClinicResolver, as_response, refusal
from shared.runtime.http import error_for, error_response
from shared.runtime.observability import logger, metrics, tracer
from shared.runtime.wiring import preload_clients

SOURCE = "twilio-webhook"
# Unauthenticated from the internet: the signature, not IAM, says who is calling.
# SnapStart: botocore's data for the clients this function makes is parsed at init, into the snapshot.
preload_clients("dynamodb", "kms", "sns")
app = ClinicResolver(what="twilio webhook", iam=False)
# The form Twilio posts (read by shared.inbound.twilio.form_params after the signature header is seen).
_FORM = {
    "type": "object",
    "required": ["From", "To", "Body", "MessageSid"],
    "properties": {
        "From": {"type": "string"},
        "To": {"type": "string"},
        "Body": {"type": "string", "maxLength": 1600},
        "MessageSid": {"type": "string"},
        "AccountSid": {"type": "string"},
        "NumMedia": {"type": "string"},
    },
}


def _twiml_response(message: str | None) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/xml"}, "body": twiml(message)}


def auth_token() -> str:
    """The Twilio auth token from Secrets Manager or SSM SecureString, cached by Powertools."""
    from aws_lambda_powertools.utilities import parameters

    settings = inbound_wiring.twilio_settings()
    if settings.twilio_auth_token_secret_arn:
        value = parameters.get_secret(
            settings.twilio_auth_token_secret_arn, max_age=settings.token_cache_seconds
        )
    elif settings.twilio_auth_token_parameter:
        value = parameters.get_parameter(
            settings.twilio_auth_token_parameter, decrypt=True, max_age=settings.token_cache_seconds
        )
    else:
        raise Unauthorized("no Twilio auth token is configured")
    token = str(value or "").strip()
    if token.startswith("{"):  # a JSON secret such as {"auth_token": "..."}
        try:
            document = json.loads(token)
        except json.JSONDecodeError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("auth_token"), str):
            logger.error('Twilio auth token secret is not a string or {"auth_token": ...} JSON')
            raise Unauthorized("the configured Twilio auth token is malformed")
        token = document["auth_token"]
    return token


def _inbound(event: dict[str, Any]) -> dict[str, Any]:
    # An unsigned request is refused before its body is even read: 403, never a parse error.
    headers = {str(k).lower() for k in (event.get("headers") or {})}
    if "x-twilio-signature" not in headers:
        raise Unauthorized("missing X-Twilio-Signature")
    params = form_params(event)
    verify_signature(event, params, auth_token(), inbound_wiring.twilio_settings().public_base_url)
    text = InboundText(
        channel=Channel.TWILIO,
        provider_message_id=params.get("MessageSid") or params.get("SmsMessageSid") or "",
        from_number=params.get("From") or "",
        to_number=params.get("To") or "",
        body=params.get("Body") or "",
        received_at=_received_at(event),
    )
    try:
        outcome = inbox_wiring.idempotent_inbound()(text=text)
    except Exception as exc:
        return _failed(event, text, exc)
    if outcome["replayed"]:
        logger.info("redelivered webhook: already processed", extra={"message_id": outcome["message_id"]})
        return _twiml_response(None)  # the first delivery carried the reply; never reply twice
    return _twiml_response(outcome["reply"] if outcome["reply_via"] == "twiml" else None)


def _received_at(event: dict[str, Any]) -> datetime:
    """When API Gateway received the request (``timeEpoch``, ms); now when it is missing or implausible."""
    now = SystemClock().now()  # the clock every other record is dated by
    received: Any = (event.get("requestContext") or {}).get("timeEpoch")
    try:
        at = datetime.fromtimestamp(int(received) / 1000, UTC)
        check_instant(at, now=now)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return at if at <= now + CLOCK_SKEW else now


def _failed(event: dict[str, Any], text: InboundText, exc: Exception) -> dict[str, Any]:
    """A signed text whose processing failed: Twilio does not retry a webhook by default, so it is never
    just dropped. An opt-out in it is recorded on the ledger alone and confirmed; the request is parked
    (encrypted) for an operator; the answer is 200 when nothing more can come of a retry, 503 when a
    retry may succeed (Twilio retries 5xx when the webhook URL asks it to, ``#rp=5xx``)."""
    last_resort = inbound_wiring.record_opt_out_last_resort(text)
    recorded = last_resort.recorded
    transient = aws.is_transient(exc)
    # The error's type only: a message or traceback could carry a number or a body.
    logger.error(
        "twilio webhook: processing failed",
        extra={"error": type(exc).__name__, "transient": transient, "opt_out_recorded": recorded},
    )
    if recorded:
        metrics.add_metric(name="OptOutLastResort", unit="Count", value=1)
    try:
        rejections.reject_inbound(
            raw=json.dumps(event), reason=f"processing failed: {type(exc).__name__}", source=SOURCE
        )
        metrics.add_metric(name="InboundParked", unit="Count", value=1)
    except Exception as park_exc:
        logger.error(
            "twilio webhook: the failed text could not be parked", extra={"error": type(park_exc).__name__}
        )
        if not recorded:
            raise exc from park_exc  # nothing kept, nothing recorded: let the failure show (500)
    if recorded:
        return _twiml_response(last_resort.reply)
    if transient:
        return error_response(
            503,
            "unavailable",
            "the text could not be processed now and was kept for an operator; retry later",
        )
    return _twiml_response(None)


@app.post(
    "/webhooks/twilio",
    summary="Twilio-compatible inbound SMS webhook; replies as TwiML.",
    security=[{"twilioSignature": []}],
    # Merged into the operation as it is described (Powertools has no per-route request-body override).
    openapi_extensions={
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": _FORM}}}
    },
    responses={
        200: {"description": "TwiML answer", "content": {"text/xml": {"schema": {"type": "string"}}}},
        400: BAD_REQUEST,
        403: refusal("Missing or wrong X-Twilio-Signature"),
        413: TOO_LARGE,
        415: UNSUPPORTED,
        503: refusal("Processing failed for now; the text was kept for an operator (retry later)"),
    },
)
def webhook() -> Response[Any]:
    event = app.current_event.raw_event
    try:
        return as_response(_inbound(event))
    except (InvalidInput, Unauthorized, ValidationError) as exc:
        response = error_for(exc)
        if response is None:  # every exception caught above maps to a client error
            raise
        status = response["statusCode"]
        metrics.add_metric(name="RejectedWebhook", unit="Count", value=1)
        logger.warning("twilio webhook refused", extra={"status": status, "reason": type(exc).__name__})
        if isinstance(exc, Unauthorized):
            return as_response(error_response(403, "forbidden", "signature validation failed"))
        return as_response(response)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    inbound_wiring.idempotency_config().register_lambda_context(context)
    return app.resolve(event, context)
