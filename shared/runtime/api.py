"""The one resolver set-up for ClinicText's HTTP functions: Powertools' ``APIGatewayHttpResolver`` with data
validation, made to keep the rules of :mod:`shared.runtime.http`.

* **The body parser runs first.** Powertools validates a route's body from ``json.loads`` of the raw text
  (no size cap, duplicate keys kept last, ``NaN`` accepted, media type matched case-sensitively) and in
  pydantic's Python mode (``"limit": "5"`` coerced, or an ISO date-time refused under ``strict``). Here the
  body of a route with one pydantic ``Body`` model is read by :func:`shared.runtime.http.model_body`
  instead: 415 / 413 / 400 for every limit that module documents, then strict JSON-mode validation. The
  validated model is what Powertools' own validation then sees (an instance passes through unchanged).
* **IAM caller first.** A route that needs the IAM authorizer refuses a request without its context (403)
  before the body is read, as API Gateway would never have let it through.
* **Routes as API Gateway matched them.** Path parameters are the ``pathParameters`` API Gateway decoded
  for the route it matched, not re-parsed from ``rawPath``.
* **Our error shape.** ``{"error": {"code", "message", "field"}}`` with 400 (never Powertools' 422), the
  field named and the value never echoed; 404 for a route the function does not serve; a response that
  does not match its model is a 500 (a bug of ours, not the caller's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from shared.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from shared.runtime.http import error_for, error_response, field_path, model_body, require_iam_caller

if TYPE_CHECKING:
    from re import Match

    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

JSON = "application/json"
NO_STORE = {"Cache-Control": "no-store"}
# The errors every route maps to its HTTP answer (shared.runtime.http.error_for); anything else is a 500.
CLIENT_ERRORS: list[type[Exception]] = [InvalidInput, Unauthorized, NotFound, Conflict, ValidationError]

# The OpenAPI security requirement of a route behind API Gateway's IAM authorizer (infra/openapi.py
# declares the scheme).
SIGV4: list[dict[str, list[str]]] = [{"sigv4": []}]


class ErrorDetail(BaseModel):
    code: str
    message: str = Field(description="What was wrong and what to do; never the refused value")
    field: str | None = Field(default=None, description="The field, header or parameter refused")


class ErrorAnswer(BaseModel):
    """Every refusal: ``{"error": {"code", "message", "field"}}``."""

    error: ErrorDetail


def refusal(description: str, media_type: str = JSON) -> OpenAPIResponse:
    """An OpenAPI response entry for an error answer."""
    return {"description": description, "content": {media_type: {"model": ErrorAnswer}}}


BAD_REQUEST = refusal("Malformed or refused input (the field is named, never its value); nothing stored.")
FORBIDDEN = refusal("No IAM authorizer context.")
TOO_LARGE = refusal("The body is over the route's size cap (field body); nothing stored or sent.")
UNSUPPORTED = refusal("Missing, malformed or other Content-Type (field content-type); nothing stored.")
# The refusals every JSON-body route can answer, before its own.
BODY_REFUSALS: dict[int, OpenAPIResponse] = {
    400: BAD_REQUEST,
    403: FORBIDDEN,
    413: TOO_LARGE,
    415: UNSUPPORTED,
}


def json_answer(status: int, body: Any, *, content_type: str = JSON) -> Response[Any]:
    """An answer the resolver serializes (a pydantic model is validated against the route's return type).
    Powertools serializes only ``application/json`` bodies: any other JSON type (``application/fhir+json``)
    is written here."""
    if content_type != JSON and not isinstance(body, str | bytes):
        body = json.dumps(body, default=str)
    return Response(status_code=status, content_type=content_type, body=body, headers=dict(NO_STORE))


def as_response(answer: Mapping[str, Any]) -> Response[Any]:
    """A Lambda proxy answer dict (shared.runtime.http.json_response) as a Powertools Response."""
    headers = dict(answer.get("headers") or {})
    return Response(
        status_code=int(answer["statusCode"]),
        content_type=str(headers.pop("Content-Type", JSON)),
        body=answer.get("body"),
        headers=headers,
    )


def _field_of(loc: tuple[Any, ...]) -> str | None:
    """``("body", "limit")`` -> ``"limit"``; ``("path", "id")`` -> ``"id"``: the location kind is dropped."""
    if loc and loc[0] in {"body", "path", "query", "header", "cookie"}:
        loc = loc[1:]
    return field_path(loc)


class _BodyFirstValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, with the IAM check before it and our body parser inside it."""

    def __init__(self, *, iam: bool) -> None:
        super().__init__()
        self._iam = iam

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Response[Any]:
        if self._iam:
            app.append_context(caller=require_iam_caller(app.current_event.raw_event))
        return super().handler(app, next_middleware)

    def _get_body(self, app: Any) -> Any:
        params = app.context["_route"].dependant.body_params
        model = params[0].type_ if len(params) == 1 else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError("a ClinicText route takes its body as exactly one pydantic model")
        # The validated instance: Powertools wraps it as {alias: instance} and pydantic passes it through.
        return model_body(app.current_event.raw_event, model)


class ClinicResolver(APIGatewayHttpResolver):
    """``APIGatewayHttpResolver(enable_validation=True)`` with ClinicText's parser, IAM check and errors.

    ``what`` names the API in logs ("consent request refused"); ``iam`` says whether every route of this
    function sits behind the IAM authorizer (the caller's ARN is then ``app.context["caller"]``).
    """

    def __init__(self, *, what: str, iam: bool = True) -> None:
        super().__init__(enable_validation=True, response_validation_error_http_code=500)
        self._what = what
        # Replaces the request validation the resolver made (the same class, with our body hook).
        self._request_validation_middleware = _BodyFirstValidation(iam=iam)
        self.exception_handler(CLIENT_ERRORS)(self._client_error)
        self.exception_handler(RequestValidationError)(self._invalid_request)
        self.exception_handler(NotFoundError)(self._no_route)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        answer: dict[str, Any] = super().resolve(event, context)
        # Every answer may carry PHI or says something about a number: no cache keeps it.
        answer.setdefault("headers", {}).setdefault("Cache-Control", NO_STORE["Cache-Control"])
        return answer

    def _convert_matches_into_route_keys(self, match: Match[str]) -> dict[str, str]:
        # API Gateway's decoded pathParameters for the route it matched (the raw path only chose the route).
        given = self.current_event.path_parameters or {}
        return {name: str(given.get(name, "")) for name in match.groupdict()}

    def _refused(self, status: int, response: Response[Any]) -> Response[Any]:
        from shared.runtime.observability import logger

        logger.info(f"{self._what} request refused", extra={"status": status})
        return response

    def _client_error(self, exc: Exception) -> Response[Any]:
        answer = error_for(exc)
        if answer is None:  # pragma: no cover - CLIENT_ERRORS all map
            raise exc
        return self._refused(int(answer["statusCode"]), as_response(answer))

    def _invalid_request(self, exc: RequestValidationError) -> Response[Any]:
        errors = exc.errors()
        first = errors[0] if errors else {}
        field = _field_of(tuple(first.get("loc") or ()))
        # Pydantic's messages ("Field required", "String should match pattern ...") never carry the input.
        message = str(first.get("msg") or "invalid value")
        if first.get("type") == "missing" and field:
            message = f"{field} is required"
        return self._refused(400, as_response(error_response(400, "invalid_request", message, field)))

    def _no_route(self, exc: NotFoundError) -> Response[Any]:
        route = str(self.current_event.raw_event.get("routeKey") or "")
        return as_response(error_response(404, "not_found", f"no route {route[:120]!r}"))
