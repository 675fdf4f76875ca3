"""Twilio-compatible webhook: rebuild the signed URL from an API Gateway HTTP API event, check
``X-Twilio-Signature`` with Twilio's own ``RequestValidator``, and answer with TwiML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from shared.core.errors import InvalidInput, Unauthorized
from shared.runtime.http import FORM_MEDIA_TYPES, BodyTooLarge, media_type, raw_body

MAX_BODY_BYTES = 64 * 1024


class FormParams:
    """POST parameters with repeated names kept; Twilio's validator reads them through ``getlist``."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def get(self, name: str) -> str | None:
        values = self.getlist(name)
        return values[0] if values else None

    def __iter__(self) -> Any:
        return iter(dict.fromkeys(key for key, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self._pairs)


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def form_params(event: Mapping[str, Any]) -> FormParams:
    """Decode an ``application/x-www-form-urlencoded`` body (base64 when API Gateway says so). The media
    type is matched case-insensitively, as :func:`shared.runtime.http.media_type` matches every route's."""
    data = raw_body(event)
    if len(data) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes", field="body")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("request body is not UTF-8", field="body") from exc
    if text:
        media_type(event, FORM_MEDIA_TYPES)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=200)
    except ValueError as exc:
        raise InvalidInput("request body is not valid form encoding", field="body") from exc
    return FormParams(pairs)


def public_url(event: Mapping[str, Any], public_base_url: str = "") -> str:
    """The URL exactly as Twilio requested it.

    With a configured public base URL (custom domain), that base plus the route path; otherwise
    ``X-Forwarded-Proto`` + ``Host`` + the raw path (stage prefixed when the stage is not
    ``$default`` and API Gateway did not already include it) + the raw query string.
    """
    headers = _headers(event)
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    raw_path = str(event.get("rawPath") or http.get("path") or "/")
    stage = str(context.get("stage") or "$default")
    query = str(event.get("rawQueryString") or "")
    if public_base_url:
        path = raw_path
        if stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
        url = public_base_url.rstrip("/") + path
    else:
        scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
        host = headers.get("host") or str(context.get("domainName") or "")
        if not host:
            raise InvalidInput("request has no Host header", field="host")
        path = raw_path
        if stage != "$default" and not path.startswith(f"/{stage}/") and path != f"/{stage}":
            path = f"/{stage}{path}"
        url = f"{scheme}://{host}{path}"
    return f"{url}?{query}" if query else url


def verify_signature(
    event: Mapping[str, Any], params: FormParams, auth_token: str, public_base_url: str
) -> None:
    """Raise :class:`Unauthorized` unless ``X-Twilio-Signature`` matches this request."""
    signature = _headers(event).get("x-twilio-signature", "")
    if not signature:
        raise Unauthorized("missing X-Twilio-Signature")
    if not auth_token:
        raise Unauthorized("no Twilio auth token is configured")
    url = public_url(event, public_base_url)
    if not RequestValidator(auth_token).validate(url, params, signature):
        raise Unauthorized("X-Twilio-Signature does not match the request")


def twiml(message: str | None) -> str:
    """A TwiML ``<Response>``: one ``<Message>`` when there is a reply, empty otherwise."""
    response = MessagingResponse()
    if message:
        response.message(message)
    return str(response)
