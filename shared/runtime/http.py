"""HTTP API helpers: one body parser for every route, media types, JSON responses, errors a person can act
on, and the IAM authorizer check.

Every JSON body goes through :func:`parse_json` (via :func:`json_body` or :func:`model_body`), so every route
refuses the same things the same way, with a 4xx naming the field and never the value:

* a missing or other ``Content-Type`` (415); media types are matched case-insensitively, with an optional
  ``charset=utf-8`` parameter; a malformed header is refused rather than guessed;
* a body over the route's size cap (413), that is not UTF-8, or not JSON (400);
* nesting deeper than :attr:`JsonLimits.max_depth`, numbers longer than :attr:`JsonLimits.max_number_chars`
  (Python refuses to read integers past 4,300 digits, and ``1e99999`` would become infinity), ``NaN`` and
  ``Infinity``, a key that appears twice in one object, a string holding an unpaired surrogate (it could
  never be stored), and a top level that is not an object (400).

Models are then validated from the same text in pydantic's strict JSON mode: ``"limit": "5"``,
``"include_body": "yes"`` and ``"send_confirmation": 1`` are refused, not coerced, while date-times still
arrive as JSON strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.headerregistry import ContentTypeHeader, HeaderRegistry
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.core.errors import Conflict, InvalidInput, NotFound, Unauthorized

M = TypeVar("M", bound=BaseModel)

JSON_MEDIA_TYPES = frozenset({"application/json"})
FHIR_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json"})
FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded"})
# Lambda refuses a synchronous response over 6 MB (the whole API Gateway envelope, JSON-escaped again).
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024


@dataclass(frozen=True)
class JsonLimits:
    """What a JSON body may hold. The defaults fit the clinic API's small request bodies."""

    max_bytes: int = 64 * 1024
    max_depth: int = 32  # a top-level object is depth 1
    max_number_chars: int = 32  # sign, digits, point and exponent of one number


JSON_LIMITS = JsonLimits()
# A FHIR Bundle: larger (the entry cap bounds it further), and resources nest extensions in extensions.
FHIR_LIMITS = JsonLimits(max_bytes=5 * 1024 * 1024, max_depth=64)


class UnsupportedMediaType(InvalidInput):
    """The body is not of a media type the route reads (HTTP 415)."""


class BodyTooLarge(InvalidInput):
    """The body is over the route's size cap (HTTP 413)."""


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


# -- headers and media types -------------------------------------------------------------------------------

_HEADERS = HeaderRegistry()


def header(event: Mapping[str, Any], name: str) -> str:
    """A request header by name, case-insensitively ("" when absent)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if str(key).lower() == wanted:
            return str(value)
    return ""


def media_type(event: Mapping[str, Any], accepted: frozenset[str]) -> str:
    """The request's media type (lower case) when it is one of ``accepted``; else
    :class:`UnsupportedMediaType` saying which to send. Type, subtype and parameter names are matched
    case-insensitively (RFC 9110); a ``charset`` other than UTF-8 is refused."""
    wanted = " or ".join(sorted(accepted))
    value = header(event, "content-type")
    if not value.strip():
        raise UnsupportedMediaType(f"a Content-Type header is required: send {wanted}", field="content-type")
    parsed = _HEADERS("content-type", value)
    if not isinstance(parsed, ContentTypeHeader) or parsed.defects:
        raise UnsupportedMediaType(
            f"the Content-Type header is malformed: send {wanted}", field="content-type"
        )
    kind = str(parsed.content_type).lower()
    if kind not in accepted:
        raise UnsupportedMediaType(f"the Content-Type must be {wanted}", field="content-type")
    charset = {str(k).lower(): str(v) for k, v in parsed.params.items()}.get("charset")
    if charset is not None and charset.strip().lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            "the Content-Type charset must be UTF-8: send charset=utf-8 or no charset", field="content-type"
        )
    return kind


# -- bodies ------------------------------------------------------------------------------------------------


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


def body_text(event: Mapping[str, Any], *, max_bytes: int) -> str:
    """The body as text: present, at most ``max_bytes``, UTF-8 (a leading byte-order mark is dropped)."""
    raw = raw_body(event)
    if not raw:
        raise InvalidInput("request body is required", field="body")
    if len(raw) > max_bytes:
        raise BodyTooLarge(f"request body is larger than {max_bytes} bytes", field="body")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InvalidInput("request body is not UTF-8 text", field="body") from exc


class _Refused(Exception):
    """Raised from inside the JSON decoder's hooks; becomes :class:`InvalidInput`."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


_SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json(text: str, limits: JsonLimits = JSON_LIMITS, *, expect_object: bool = True) -> Any:
    """Decode JSON text within ``limits``; raises :class:`InvalidInput` (field ``body`` or the member's
    path) for anything :mod:`shared.runtime.http` refuses. Usable for any JSON that arrives from outside."""

    def number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
        def read(digits: str) -> Any:
            if len(digits) > limits.max_number_chars:
                raise _Refused(
                    f"a number has more than {limits.max_number_chars} digits; "
                    "send long identifiers as strings"
                )
            value = kind(digits)
            if isinstance(value, float) and value in (float("inf"), float("-inf")):
                raise _Refused("a number is out of range")
            return value

        return read

    def constant(name: str) -> Any:
        raise _Refused(f"{name} is not JSON: send a number or null (NaN and Infinity are not allowed)")

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                if _SAFE_KEY.match(key):
                    raise _Refused(f"key {key!r} appears twice in one object", key)
                raise _Refused("a key appears twice in one object")
            result[key] = value
        return result

    too_deep = f"request body is nested deeper than {limits.max_depth} levels"
    try:
        data = json.loads(
            text,
            object_pairs_hook=members,
            parse_int=number(int),
            parse_float=number(float),
            parse_constant=constant,
        )
    except _Refused as exc:
        raise InvalidInput(exc.message, field=exc.field) from None
    except RecursionError:
        raise InvalidInput(too_deep, field="body") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"request body is not valid JSON (line {exc.lineno}, column {exc.colno})", field="body"
        ) from None
    except ValueError as exc:  # any other number the decoder cannot read
        raise InvalidInput("request body holds a number that cannot be read", field="body") from exc
    _check_tree(data, limits, too_deep)
    if expect_object and not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object", field="body")
    return data


def _check_tree(data: Any, limits: JsonLimits, too_deep: str) -> None:
    """Depth and unpaired surrogates, walked without recursion (the data may be as deep as the decoder's
    own recursion limit)."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(data, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                where = ".".join(str(p) for p in path) or "body"
                raise InvalidInput("text holds an unpaired surrogate escape (not a character)", field=where)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > limits.max_depth:
            raise InvalidInput(too_deep, field="body")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            if isinstance(key, str) and _SURROGATE.search(key):
                raise InvalidInput("a key holds an unpaired surrogate escape", field="body")
            if isinstance(child, dict | list | str):
                stack.append((child, depth + 1, (*path, key)))


def json_body(
    event: Mapping[str, Any],
    *,
    media_types: frozenset[str] = JSON_MEDIA_TYPES,
    limits: JsonLimits = JSON_LIMITS,
) -> Any:
    """The request's JSON object: media type, size, encoding and every :func:`parse_json` limit checked."""
    media_type(event, media_types)
    return parse_json(body_text(event, max_bytes=limits.max_bytes), limits)


def model_body(event: Mapping[str, Any], model: type[M], *, limits: JsonLimits = JSON_LIMITS) -> M:
    """The request body as ``model``: :func:`json_body`'s checks, then pydantic's strict JSON mode, so a
    value of the wrong JSON type is refused (naming the field), never coerced."""
    media_type(event, JSON_MEDIA_TYPES)
    text = body_text(event, max_bytes=limits.max_bytes)
    parse_json(text, limits)
    return model.model_validate_json(text, strict=True)


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """First pydantic error as (message, field). Never includes the rejected value (may be PHI)."""
    first = exc.errors(include_input=False, include_url=False)[0]
    return str(first.get("msg", "invalid value")), field_path(first["loc"])


def field_path(loc: tuple[str | int, ...] | list[str | int]) -> str | None:
    """A pydantic error location as a field name (``"entry.0.resource"``). A key the caller made up (an
    extra field) is named only when it looks like a field name: a key can be any text, a phone number or a
    name included."""
    parts = [str(p) if isinstance(p, int) or _SAFE_KEY.match(str(p)) else "(unknown key)" for p in loc]
    return ".".join(parts) or None


def respond(
    route: Callable[[dict[str, Any]], dict[str, Any]], event: dict[str, Any], what: str
) -> dict[str, Any]:
    """Run an API route; a client error becomes its HTTP answer (logged without PHI), anything else raises."""
    from shared.runtime.observability import logger

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
    if isinstance(exc, UnsupportedMediaType):
        return error_response(415, "unsupported_media_type", exc.message, exc.field)
    if isinstance(exc, BodyTooLarge):
        return error_response(413, "payload_too_large", exc.message, exc.field)
    if isinstance(exc, InvalidInput):
        return error_response(400, "invalid_request", exc.message, exc.field)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", str(exc))
    return None
