"""The patient's secure-message page (no staff auth): ``GET /s``, ``POST /s``, ``POST /s/answer`` and
its two static files ``GET /s/page.js``, ``GET /s/page.css`` (shared.secure.page says why the token
stays in the URL fragment and POST bodies only).

Nothing here logs a token, a session, a date of birth or a message: log lines carry the route and the
outcome word only. Forms are ``application/x-www-form-urlencoded``, at most 8 KiB, each field once.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.core.dates import InvalidDate, birth_date_from_fields
from shared.inbox.access import request_origin
from shared.runtime.observability import logger, metrics, tracer
from shared.runtime.wiring import core_settings
from shared.secure import page
from shared.secure import wiring as secure_wiring
from shared.secure.domain import MAX_ANSWER_CHARS
from shared.secure.service import Page, PageResult

MAX_FORM_BYTES = 8192
FORM_FIELDS = {"POST /s": ("token", "month", "day", "year"), "POST /s/answer": ("session", "answer")}


class BadForm(Exception):
    """The form could not be read (not a form, too large, a field twice): a 400 page, nothing changed."""


def _html(status: int, document: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**page.HEADERS, "Content-Type": "text/html; charset=utf-8"},
        "body": document,
    }


def _asset(content_type: str, text: str) -> dict[str, Any]:
    headers = {**page.HEADERS, "Content-Type": content_type, "Cache-Control": "public, max-age=3600"}
    headers.pop("Pragma", None)
    return {"statusCode": 200, "headers": headers, "body": text}


def _form(event: dict[str, Any], route: str) -> dict[str, str]:
    content_type = str((event.get("headers") or {}).get("content-type", "")).split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadForm
    raw = event.get("body") or ""
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode()
        if len(data) > MAX_FORM_BYTES:
            raise BadForm
        parsed = parse_qs(
            data.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=8
        )
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadForm from exc
    allowed = FORM_FIELDS[route]
    if any(name not in allowed or len(values) != 1 for name, values in parsed.items()):
        raise BadForm
    return {name: parsed.get(name, [""])[0] for name in allowed}


def _answer(result: Page, *, token: str = "", values: tuple[str, str, str] = ("", "", "")) -> dict[str, Any]:
    settings = core_settings()
    clinic, phone = settings.clinic_name, settings.clinic_phone
    logger.info("secure page answered", extra={"outcome": result.result.value})
    metrics.add_metric(name=f"SecurePage_{result.result.value}", unit="Count", value=1)
    if result.result is PageResult.NOT_FOUND:
        return _html(404, page.closed(clinic, phone, "not_found"))
    if result.result is PageResult.EXPIRED:
        return _html(410, page.closed(clinic, phone, "expired"))
    if result.result is PageResult.LOCKED:
        return _html(410, page.closed(clinic, phone, "locked"))
    if result.result is PageResult.SESSION_ENDED:
        return _html(401, page.closed(clinic, phone, "session_ended"))
    if result.result is PageResult.MISMATCH:
        return _html(401, page.mismatch(clinic, token, result.tries_left))
    if result.result is PageResult.INVALID_DATE:
        problem = f"The date of birth {result.problem or 'is not a date'}."
        return _html(400, page.ask_birth_date(clinic, token=token, problem=problem, values=values))
    body, session = result.body or "", result.session or ""
    status = 400 if result.problem else 200
    return _html(
        status,
        page.show_message(
            clinic, body, session, answered=result.result is PageResult.ANSWERED, problem=result.problem
        ),
    )


def _check(event: dict[str, Any]) -> dict[str, Any]:
    form = _form(event, "POST /s")
    values = (form["month"], form["day"], form["year"])
    try:
        entered, problem = birth_date_from_fields(*values, today=None), None
    except InvalidDate as exc:
        entered, problem = None, str(exc)
    service = secure_wiring.secure_page()
    if entered is not None and entered > service.clock.now().date():
        entered, problem = None, "is in the future"
    result = service.check(form["token"], entered, request_origin(event), problem=problem)
    # The typed date is put back only when it was not a date (nothing checked); never after a check.
    return _answer(result, token=form["token"], values=values if entered is None else ("", "", ""))


def _answer_route(event: dict[str, Any]) -> dict[str, Any]:
    form = _form(event, "POST /s/answer")
    result = secure_wiring.secure_page().answer(form["session"], form["answer"], request_origin(event))
    return _answer(result)


app = APIGatewayHttpResolver()


def _html_answer(description: str, media: str = "text/html") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


SCRIPT: Any = _html_answer("The script", "text/javascript")
STYLESHEET: Any = _html_answer("The stylesheet", "text/css")
PAGE: dict[int, Any] = {200: _html_answer("An HTML page (strict CSP, no framing, no-store)")}
FORM_ANSWERS: dict[int, Any] = {
    200: _html_answer("The message, or the form again with what is wrong"),
    400: _html_answer("Not a form, or not a date / an answer out of bounds: nothing counted or stored"),
    401: _html_answer("Wrong date of birth (attempts left), or the session ended"),
    404: _html_answer("No such link (forged, garbled, unknown: one page for all); nothing changed"),
    410: _html_answer("The link expired, or it is locked after 5 wrong dates"),
}


def _form_body(properties: dict[str, Any], description: str) -> dict[str, Any]:
    """The route's form as the description states it (merged into the operation: Powertools has no
    per-route request-body override). Every field is required and named once; no other field is taken
    (400); the body is at most MAX_FORM_BYTES."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": list(properties),
                        "additionalProperties": False,
                    }
                }
            },
        }
    }


CHECK_FORM = _form_body(
    {
        "token": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{43}$",
            "description": "The link's token, which the page's script moves from the URL fragment",
        },
        "month": {"type": "string", "pattern": "^[0-9]{1,2}$", "description": "Date of birth: month, 1-12"},
        "day": {"type": "string", "pattern": "^[0-9]{1,2}$", "description": "Date of birth: day, 1-31"},
        "year": {"type": "string", "pattern": "^[0-9]{4}$", "description": "Date of birth: four-digit year"},
    },
    f"The date-of-birth form, at most {MAX_FORM_BYTES} bytes. Not a form, a field twice or another field: "
    "400, nothing counted. Not a date, or in the future: 400, the form again, no try counted. A token that "
    "is not a link's: 404. A wrong date: 401 with the attempts left.",
)
ANSWER_FORM = _form_body(
    {
        "session": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1024,
            "description": "The session the page was given when the date of birth matched",
        },
        "answer": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ANSWER_CHARS,
            "description": "The answer: printable text, line breaks allowed, not blank",
        },
    },
    f"The patient's answer, at most {MAX_FORM_BYTES} bytes. Not a form, a field twice or another field: "
    "400, nothing stored. A session that ended or is not ours: 401. An answer blank, too long or not "
    "printable: 400, the message again. The same answer posted again in the session lands once (200).",
)


def _response(answer: dict[str, Any]) -> Response[Any]:
    headers = dict(answer["headers"])
    content_type = headers.pop("Content-Type")
    return Response(answer["statusCode"], content_type, answer["body"], headers)


def _guarded(route: str, run: Any) -> Response[Any]:
    try:
        return _response(run(app.current_event.raw_event))
    except BadForm:
        logger.info("secure page refused a form", extra={"route": route})
        settings = core_settings()
        return _response(_html(400, page.closed(settings.clinic_name, settings.clinic_phone, "bad_form")))


@app.get(
    "/s",
    summary="The patient page: asks for the date of birth (the token stays in the fragment).",
    responses=PAGE,
)
def secure_page() -> Response[Any]:
    settings = core_settings()
    return _response(
        _html(200, page.ask_birth_date(settings.clinic_name, clinic_phone=settings.clinic_phone))
    )


@app.get(
    "/s/page.js",
    summary="The page's one small script (moves the fragment's token into the form).",
    responses=PAGE,
)
def secure_page_script() -> Response[Any]:
    return _response(_asset("text/javascript; charset=utf-8", page.SCRIPT))


@app.get(
    "/s/page.css",
    summary="The page's stylesheet.",
    responses={200: STYLESHEET},
)
def secure_page_style() -> Response[Any]:
    return _response(_asset("text/css; charset=utf-8", page.STYLE))


@app.post(
    "/s",
    summary="The date-of-birth form (token, month, day, year; form-encoded): the message on a match.",
    openapi_extensions=CHECK_FORM,
    responses=FORM_ANSWERS,
)
def secure_page_check() -> Response[Any]:
    return _guarded("POST /s", _check)


@app.post(
    "/s/answer",
    summary="The patient's answer (session, answer; form-encoded): lands in the conversation.",
    openapi_extensions=ANSWER_FORM,
    responses=FORM_ANSWERS,
)
def secure_page_answer() -> Response[Any]:
    return _guarded("POST /s/answer", _answer_route)


@app.not_found
def _no_route(exc: Exception) -> Response[Any]:
    settings = core_settings()
    return _response(_html(404, page.closed(settings.clinic_name, settings.clinic_phone, "not_found")))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
