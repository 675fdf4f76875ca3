"""HTTP API helpers: JSON responses, errors a person can act on, and the IAM authorizer check."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from shared.errors import Conflict, InvalidInput, NotFound, Unauthorized

MAX_JSON_BODY = 5 * 1024 * 1024


def json_response(status: int, body: Any, *, content_type: str = "application/json") -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, "Cache-Control": "no-store"},
        "body": json.dumps(body, default=str),
    }


def error_response(status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return json_response(status, {"error": error})


def require_iam_caller(event: Mapping[str, Any]) -> str:
    """The IAM principal API Gateway authenticated. Refuses events that did not pass an authorizer."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    iam = authorizer.get("iam") or {}
    caller = iam.get("userArn") or iam.get("callerId")
    if not caller:
        raise Unauthorized("request carries no IAM authorizer context")
    return str(caller)


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body as bytes, base64-decoded when API Gateway says it is encoded."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise InvalidInput("request body must be text", field="body")
    if not event.get("isBase64Encoded"):
        return raw.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("request body is not valid base64", field="body") from exc


def json_body(event: Mapping[str, Any]) -> Any:
    raw = raw_body(event)
    if not raw:
        raise InvalidInput("request body is required", field="body")
    if len(raw) > MAX_JSON_BODY:
        raise InvalidInput("request body is too large", field="body")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("request body is not valid JSON", field="body") from exc


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """First pydantic error as (message, field). Never includes the rejected value (may be PHI)."""
    first = exc.errors(include_input=False, include_url=False)[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    return str(first.get("msg", "invalid value")), field


def respond(
    route: Callable[[dict[str, Any]], dict[str, Any]], event: dict[str, Any], what: str
) -> dict[str, Any]:
    """Run an API route; a client error becomes its HTTP answer (logged without PHI), anything else raises."""
    from shared.observability import logger

    try:
        return route(event)
    except Exception as exc:
        response = error_for(exc)
        if response is None:
            raise
        logger.info(f"{what} request refused", extra={"status": response["statusCode"]})
        return response


def error_for(exc: Exception) -> dict[str, Any] | None:
    """Map a domain error to its HTTP response, or None when it is not a client error."""
    if isinstance(exc, Unauthorized):
        return error_response(403, "forbidden", str(exc))
    if isinstance(exc, ValidationError):
        message, field = validation_message(exc)
        return error_response(400, "invalid_request", message, field)
    if isinstance(exc, InvalidInput):
        return error_response(400, "invalid_request", exc.message, exc.field)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", str(exc))
    return None
