"""Twilio-compatible inbound webhook: POST /webhooks/twilio (form-encoded, signed)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from shared import wiring
from shared.errors import InvalidInput, Unauthorized
from shared.http import error_for, error_response
from shared.models import Channel, InboundText
from shared.observability import logger, metrics, tracer
from shared.twilio import form_params, twiml, verify_signature


def _twiml_response(message: str | None) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/xml"}, "body": twiml(message)}


def auth_token() -> str:
    """The Twilio auth token from Secrets Manager or SSM SecureString, cached by Powertools."""
    from aws_lambda_powertools.utilities import parameters

    settings = wiring.twilio_settings()
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
    verify_signature(event, params, auth_token(), wiring.twilio_settings().public_base_url)
    received = (event.get("requestContext") or {}).get("timeEpoch")
    from datetime import UTC, datetime

    received_at = datetime.fromtimestamp(int(received) / 1000, UTC) if received else datetime.now(UTC)
    text = InboundText(
        channel=Channel.TWILIO,
        provider_message_id=params.get("MessageSid") or params.get("SmsMessageSid") or "",
        from_number=params.get("From") or "",
        to_number=params.get("To") or "",
        body=params.get("Body") or "",
        received_at=received_at,
    )
    outcome = wiring.idempotent_inbound()(text=text)
    if outcome["replayed"]:
        logger.info("redelivered webhook: already processed", extra={"message_id": outcome["message_id"]})
        return _twiml_response(None)  # the first delivery carried the reply; never reply twice
    return _twiml_response(outcome["reply"] if outcome["reply_via"] == "twiml" else None)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wiring.idempotency_config().register_lambda_context(context)
    try:
        return _inbound(event)
    except (InvalidInput, Unauthorized, ValidationError) as exc:
        response = error_for(exc)
        if response is None:  # every exception caught above maps to a client error
            raise
        status = response["statusCode"]
        metrics.add_metric(name="RejectedWebhook", unit="Count", value=1)
        logger.warning("twilio webhook refused", extra={"status": status, "reason": type(exc).__name__})
        if isinstance(exc, Unauthorized):
            return error_response(403, "forbidden", "signature validation failed")
        return response
