"""Staff inbox API behind the HTTP API's StaffJwt authorizer (Cognito access tokens).

Routes: ``GET /inbox/me``; ``GET /inbox/conversations/{id}/export`` (the whole conversation as JSON
or, with ``format=text``, a transcript download; recorded as ``export`` first); ``GET /inbox/metrics``
(response times per department and period);
``GET /inbox/staff`` (assignable people of a department); ``POST /inbox/conversations`` (start one);
``GET``/``PUT /inbox/departments/{department}`` (admins write);
``GET``/``POST /inbox/canned-responses`` (admins create; staff list their departments'); ``GET
/inbox/audit`` (admins; filters ``conversation_id``, ``user``, ``from``, ``to``; every look recorded);
``GET``/``PUT /inbox/templates/{name}`` and ``POST /inbox/templates/check`` (admins: the reminder templates
page of the web app, the same store and segment report as the IAM routes ``/templates/...`` the CLI uses).

API Gateway verified the token; every route checks the claims again (shared.inbox.access.staff_identity:
token use, issuer, app client, expiry, groups). Claims that do not identify a staff member are 401; a
staff member in no department who is not an admin is 403; another department is 404.
"""

from __future__ import annotations

import json
from datetime import date
from functools import partial
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.audit.domain import AuditRecord
from shared.core.clock import SystemClock, parse_iso
from shared.core.errors import ClinicTextError, InvalidInput
from shared.inbox.access import InvalidIdentity, StaffIdentity, jwt_claims, request_origin, staff_identity
from shared.inbox.canned import CannedResponseRequest, sample_report
from shared.inbox.conversation import ConversationStatus, StaleVersion
from shared.inbox.departments import DepartmentSettings
from shared.inbox.service_staff import MAX_EXPORT_MESSAGES, ExportTooLarge, ListFilters, change_json
from shared.inbox.transcript import transcript
from shared.runtime import wiring as runtime_wiring
from shared.runtime.api import refusal
from shared.runtime.http import error_for, error_response, json_body, model_body
from shared.runtime.observability import logger, metrics, tracer
from shared.runtime.wiring import preload_clients
from shared.secure import wiring as secure_wiring
from shared.staff import wiring
from shared.staff.ports import CannedResponse
from shared.staff.service import require_admin
from shared.templates import wiring as templates_wiring
from shared.templates.domain import TemplateReport, check_name
from shared.templates.domain import report as template_report
from shared.templates.ports import StoredTemplate

# SnapStart: botocore's data for the clients this function makes is parsed at init, into the snapshot.
preload_clients("dynamodb", "kms", "sns")
app = APIGatewayHttpResolver()
STAFF_JWT: list[dict[str, list[str]]] = [{"staffJwt": []}]  # infra/openapi.py declares the scheme
REFUSALS: dict[int, Any] = {
    400: refusal("Malformed input (the field is named, never its value); nothing stored."),
    401: refusal("Claims that identify no staff member (the claim is named)."),
    403: refusal("No department and not an admin, or a route for admins only."),
    404: refusal("Not one of the caller's departments, or no such department (answered alike)."),
}
BODY_REFUSALS: dict[int, Any] = {
    **REFUSALS,
    413: refusal("The body is over 64 KiB (field body); nothing stored."),
    415: refusal("Missing or other Content-Type (field content-type); nothing stored."),
}
STAFF_REFUSALS = REFUSALS
STAFF_WRITE_REFUSALS: dict[int, Any] = {
    **BODY_REFUSALS,
    409: refusal("The view is stale (what changed is listed) or the write makes no sense in this state."),
}
MAX_QUERY_VALUE = 512
MAX_EXPORT_BYTES = 5_000_000  # an export's answer; Lambda's response payload limit is 6 MB


def _answer(status: int, body: Any) -> Response[Any]:
    return Response(
        status_code=status, content_type="application/json", body=body, headers={"Cache-Control": "no-store"}
    )


def _from_dict(answer: dict[str, Any]) -> Response[Any]:
    headers = dict(answer.get("headers") or {})
    content_type = str(headers.pop("Content-Type", "application/json"))
    return Response(int(answer["statusCode"]), content_type, answer.get("body"), headers)


def _identity() -> StaffIdentity:
    settings = wiring.staff_settings()
    return staff_identity(
        jwt_claims(app.current_event.raw_event),
        departments=settings.department_names,
        client_ids=settings.client_ids,
        issuer=settings.staff_issuer,
        now=SystemClock().now(),
    )


def _query(name: str) -> str | None:
    params = app.current_event.query_string_parameters or {}
    value = params.get(name)
    if value is None:
        return None
    if not value or len(value) > MAX_QUERY_VALUE or not value.isprintable():
        raise InvalidInput(f"{name} must be 1 to {MAX_QUERY_VALUE} printable characters", field=name)
    return value


def _path(name: str) -> str:
    return str((app.current_event.path_parameters or {}).get(name) or "")


def canned_json(canned: CannedResponse) -> dict[str, Any]:
    report = sample_report(canned.request)
    return {
        "id": canned.id,
        "department": canned.request.department,
        "name": canned.request.name,
        "body": canned.request.body,
        "placeholders": list(canned.request.placeholders),
        "created_at": canned.created_at,
        "created_by": canned.created_by,
        "sample": {"encoding": report.encoding, "segments": report.segments},
    }


def record_json(record: AuditRecord) -> dict[str, Any]:
    return {
        "sequence": record.sequence,
        "at": record.at,
        "user_id": record.user_id,
        "username": record.username,
        "action": record.action,
        "conversation_id": record.conversation_id,
        "source_ip": record.source_ip,
        "user_agent": record.user_agent,
        "client_id": record.client_id,
        "detail": dict(record.detail),
        "reason": record.reason,
        "hash": record.hash,
    }


@app.get(
    "/inbox/me",
    summary="Who the caller is: departments, admin, the departments they may see.",
    security=STAFF_JWT,
    responses=REFUSALS,
)
def who_am_i() -> Response[Any]:
    identity = _identity()
    console = wiring.staff_console()
    return _answer(
        200,
        {
            "user_id": identity.user_id,
            "username": identity.username,
            "departments": sorted(identity.departments),
            "admin": identity.admin,
            "visible_departments": console.visible_departments(identity),
            # Where a conversation may be assigned: every department of the clinic (front desk hands a
            # conversation to nursing without seeing nursing's queue). Names only, no conversations.
            "assign_departments": sorted(wiring.staff_settings().department_names),
        },
    )


@app.get(
    "/inbox/departments/<department>",
    summary="A department's settings (defaults until set); another department's is 404.",
    security=STAFF_JWT,
    responses=REFUSALS,
)
def get_department(department: str) -> Response[Any]:
    identity = _identity()
    department = _path("department")  # as API Gateway decoded it
    settings, configured = wiring.staff_console().department_settings(identity, department)
    return _answer(
        200,
        {"department": department, "configured": configured, "settings": settings.model_dump(mode="json")},
    )


@app.put(
    "/inbox/departments/<department>",
    summary="Set a department's hours, holidays, routing keywords and numbers, target (admins).",
    security=STAFF_JWT,
    responses=BODY_REFUSALS,
)
def put_department(department: str) -> Response[Any]:
    identity = _identity()
    department = _path("department")  # as API Gateway decoded it
    console = wiring.staff_console()
    require_admin(identity)  # before the body is read: a non-admin learns nothing about it
    settings = model_body(app.current_event.raw_event, DepartmentSettings)
    console.set_department(identity, department, settings)
    logger.info("department settings saved", extra={"department": department, "user_id": identity.user_id})
    return _answer(
        200, {"department": department, "configured": True, "settings": settings.model_dump(mode="json")}
    )


@app.post(
    "/inbox/canned-responses",
    summary="Create a canned response for a department (admins); allowlisted placeholders only.",
    security=STAFF_JWT,
    responses=BODY_REFUSALS,
)
def create_canned() -> Response[Any]:
    identity = _identity()
    console = wiring.staff_console()
    require_admin(identity)
    request = model_body(app.current_event.raw_event, CannedResponseRequest)
    canned = console.create_canned(identity, request)
    logger.info(
        "canned response created", extra={"canned_response_id": canned.id, "user_id": identity.user_id}
    )
    return _answer(201, {"canned_response": canned_json(canned)})


@app.get(
    "/inbox/canned-responses",
    summary="Canned responses of the caller's departments (every department for an admin).",
    security=STAFF_JWT,
    responses=REFUSALS,
)
def list_canned() -> Response[Any]:
    identity = _identity()
    found = wiring.staff_console().list_canned(identity, _query("department"))
    return _answer(200, {"canned_responses": [canned_json(c) for c in found]})


def _instant(name: str) -> Any:
    value = _query(name)
    if value is None:
        return None
    try:
        return parse_iso(value)
    except (ValueError, InvalidInput) as exc:
        raise InvalidInput(f"{name} must be an ISO 8601 instant with an offset", field=name) from exc


def _limit(default: int = 50) -> int:
    value = _query("limit")
    if value is None:
        return default
    # ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses (a 500, not a 400).
    if not (value.isascii() and value.isdigit()) or len(value) > 4:
        raise InvalidInput("limit must be a whole number", field="limit")
    return int(value)


@app.get(
    "/inbox/audit",
    summary="The audit trail (admins) by conversation_id, user or period; the look is recorded first.",
    security=STAFF_JWT,
    responses=REFUSALS,
)
def read_audit() -> Response[Any]:
    identity = _identity()
    console = wiring.staff_console()
    require_admin(identity)  # before any filter is read
    page = console.read_audit(
        identity,
        request_origin(app.current_event.raw_event),
        conversation_id=_query("conversation_id"),
        user=_query("user"),
        start=_instant("from"),
        end=_instant("to"),
        limit=_limit(),
        cursor=_query("cursor"),
    )
    logger.info("audit trail read", extra={"user_id": identity.user_id, "count": len(page.records)})
    return _answer(200, {"records": [record_json(r) for r in page.records], "cursor": page.cursor})


# -- reminder templates (admins; the web app's templates page) ------------------------------------------
class TemplateText(BaseModel):
    """Body of ``PUT /inbox/templates/{name}`` and ``POST /inbox/templates/check`` (strict)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    body: str = Field(min_length=1, max_length=2000)


def _segments_json(segments: Any) -> dict[str, Any]:
    return {
        "encoding": segments.encoding,
        "characters": segments.characters,
        "units": segments.units,
        "segments": segments.segments,
        "ucs2_culprits": [f"U+{ord(ch):04X}" for ch in segments.ucs2_culprits],
    }


def template_report_json(result: TemplateReport) -> dict[str, Any]:
    """The segment report, in the shape of the IAM routes' ``ReportView`` (functions.messages_api)."""
    return {
        "as_written": _segments_json(result.as_written),
        "normalized_body": result.normalized_body,
        "normalized": _segments_json(result.normalized),
        "sample": result.sample,
        "sample_report": _segments_json(result.sample_report),
        "placeholders": list(result.placeholders),
        "multi_segment": result.multi_segment,
        "warnings": list(result.warnings),
    }


def stored_template_json(stored: StoredTemplate) -> dict[str, Any]:
    return {
        "name": stored.name,
        "version": stored.version,
        "body": stored.body,
        "placeholders": list(stored.placeholders),
        "saved_at": stored.saved_at,
        "saved_by": stored.saved_by,
        "segments": stored.segments,
        "encoding": stored.encoding,
        "multi_segment": stored.multi_segment,
    }


def _template_report(body: str) -> TemplateReport:
    settings = runtime_wiring.core_settings()
    return template_report(body, clinic_name=settings.clinic_name, clinic_phone=settings.clinic_phone)


def _admin() -> StaffIdentity:
    identity = _identity()
    require_admin(identity)  # before the body or the name is read: a non-admin learns nothing
    return identity


@app.get(
    "/inbox/templates/<name>",
    summary="A stored message template, its current version and the 20 before it (admins).",
    security=STAFF_JWT,
    responses=REFUSALS,
)
def get_staff_template(name: str) -> Response[Any]:
    _admin()
    name = _path("name")
    check_name(name)
    store = templates_wiring.template_store()
    current = store.require(name)
    versions = [stored_template_json(v) for v in store.versions(name)]
    return _answer(200, {"template": stored_template_json(current), "versions": versions})


@app.put(
    "/inbox/templates/<name>",
    summary="Store a new version of a message template, with its segment report (admins).",
    security=STAFF_JWT,
    responses=BODY_REFUSALS,
)
def put_staff_template(name: str) -> Response[Any]:
    identity = _admin()
    name = _path("name")
    check_name(name)
    text = model_body(app.current_event.raw_event, TemplateText)
    result = _template_report(text.body)
    # saved_by names the staff member (their Cognito sub), as the IAM routes name the caller's ARN.
    stored, created = templates_wiring.template_store().save(
        name, result, saved_by=f"staff:{identity.user_id}", at=SystemClock().now()
    )
    metrics.add_metric(name="TemplateSaved" if created else "TemplateUnchanged", unit="Count", value=1)
    logger.info(
        "template saved",
        extra={"template": stored.label, "new_version": created, "user_id": identity.user_id},
    )
    answer = {
        "template": stored_template_json(stored),
        "created": created,
        "report": template_report_json(result),
    }
    return _answer(201 if created else 200, answer)


@app.post(
    "/inbox/templates/check",
    summary="The segment report and rule check for a template body, nothing stored (admins).",
    security=STAFF_JWT,
    responses=BODY_REFUSALS,
)
def check_staff_template() -> Response[Any]:
    _admin()
    text = model_body(app.current_event.raw_event, TemplateText)
    return _answer(200, {"report": template_report_json(_template_report(text.body))})


# -- conversations (shared.inbox.service_staff) ---------------------------------------------------------
def _flag(name: str) -> bool | None:
    value = _query(name)
    if value is None:
        return None
    if value not in {"true", "false"}:
        raise InvalidInput(f"{name} must be true or false", field=name)
    return value == "true"


def _status() -> ConversationStatus | None:
    value = _query("status")
    if value is None:
        return None
    if value not in {"open", "closed"}:
        raise InvalidInput("status must be open or closed", field="status")
    return ConversationStatus(value)


def _expected_version(body: dict[str, Any]) -> int:
    """The version the staff member's view showed: ``If-Match`` (the ETag) or the body's ``version``."""
    header = (app.current_event.headers or {}).get("if-match")
    raw: Any = body.get("version")
    if header is not None:
        text = header.strip().removeprefix("W/").strip('"')
        if not text.isdigit() or len(text) > 12:
            raise InvalidInput("If-Match must be the ETag the conversation was read with", field="If-Match")
        raw = int(text)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise InvalidInput("version (or If-Match) is required: the version your view showed", field="version")
    return raw


def _body() -> dict[str, Any]:
    raw_body = app.current_event.raw_event.get("body")
    if not raw_body:
        return {}
    return json_body(app.current_event.raw_event)


def _conversation(status: int, shown: dict[str, Any]) -> Response[Any]:
    answer = _answer(status, {"conversation": shown})
    answer.headers["ETag"] = f'"{shown["version"]}"'
    return answer


@app.get("/inbox/conversations", security=STAFF_JWT, responses={200: {"description": "OK"}, **STAFF_REFUSALS})
def list_conversations() -> Response[Any]:
    identity = _identity()
    filters = ListFilters(
        department=_query("department"),
        status=_status(),
        assignee=_query("assignee"),
        urgent=_flag("urgent"),
        overdue=_flag("overdue"),
        unread=_flag("unread"),
        limit=_limit(default=25),
        cursor=_query("cursor"),
    )
    items, cursor = wiring.staff_inbox().list_conversations(
        identity, request_origin(app.current_event.raw_event), filters
    )
    logger.info("conversations listed", extra={"user_id": identity.user_id, "count": len(items)})
    return _answer(200, {"conversations": items, "cursor": cursor})


@app.post(
    "/inbox/conversations",
    summary="Start a conversation with a number (consent required) and send the first text.",
    security=STAFF_JWT,
    responses={
        200: {"description": "The number's open conversation with the department (nothing sent)"},
        201: {"description": "Started (or a closed one reopened) and the first text sent"},
        **BODY_REFUSALS,
        409: refusal("The patient opted out (or consent is unreadable): nothing sent; the reason is given."),
    },
)
def start_conversation() -> Response[Any]:
    identity = _identity()
    body = _body()
    unknown = set(body) - {"phone", "department", "body", "canned_response_id"}
    if unknown:
        raise InvalidInput(
            "unknown field; give phone, department and body or canned_response_id", field="body"
        )
    canned = None
    if "canned_response_id" in body:
        if "body" in body:
            raise InvalidInput("give body or canned_response_id, not both", field="canned_response_id")
        canned = partial(_canned_request, identity, body["canned_response_id"])
    shown, sent, created = wiring.staff_inbox().start(
        identity,
        request_origin(app.current_event.raw_event),
        phone=body.get("phone"),
        department=body.get("department"),
        body=body.get("body"),
        canned=canned,
    )
    logger.info(
        "conversation started" if created else "conversation exists",
        extra={
            "user_id": identity.user_id,
            "conversation_id": shown["id"],
            "department": shown["department"],
        },
    )
    answer = _answer(201 if created else 200, {"conversation": shown, "sent": sent, "created": created})
    answer.headers["ETag"] = f'"{shown["version"]}"'
    return answer


def _date(name: str) -> date | None:
    value = _query(name)
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)", field=name) from exc


@app.get(
    "/inbox/metrics",
    summary="Median and 90th percentile first response and time to close (business minutes) per department "
    "and period; counts of conversations, answered, awaiting, overdue.",
    security=STAFF_JWT,
    responses=REFUSALS,
)
def read_metrics() -> Response[Any]:
    identity = _identity()
    first, last = _date("from"), _date("to")
    if first is not None and last is not None and first > last:
        raise InvalidInput("from must not be after to", field="from")
    found = wiring.staff_inbox().metrics(
        identity,
        request_origin(app.current_event.raw_event),
        department=_query("department"),
        first=first,
        last=last,
        granularity=_query("granularity"),
    )
    logger.info("inbox metrics read", extra={"user_id": identity.user_id})
    return _answer(200, found)


@app.get(
    "/inbox/staff",
    summary="The people a department's conversations may be assigned to (username, display name).",
    security=STAFF_JWT,
    responses=REFUSALS,
)
def list_staff() -> Response[Any]:
    identity = _identity()
    department = _query("department")
    if department is None:
        raise InvalidInput("department is required", field="department")
    people = wiring.staff_inbox().assignable(identity, department)
    return _answer(200, {"department": department, "staff": people})


@app.get(
    "/inbox/conversations/<conversation_id>",
    security=STAFF_JWT,
    responses={200: {"description": "OK"}, **STAFF_REFUSALS},
)
def show_conversation(conversation_id: str) -> Response[Any]:
    identity = _identity()
    cid = _path("conversation_id")
    shown = wiring.staff_inbox().show(
        identity,
        request_origin(app.current_event.raw_event),
        cid,
        limit=_limit(default=50),
        cursor=_query("cursor"),
    )
    # Access was decided (and the look recorded) by show: the thread's secure messages, with their bodies.
    shown["secure_messages"] = secure_wiring.secure_messages().for_conversation(cid)
    logger.info("conversation opened", extra={"user_id": identity.user_id, "conversation_id": cid})
    return _conversation(200, shown)


@app.get(
    "/inbox/conversations/<conversation_id>/export",
    summary=f"The whole conversation for the medical record (at most {MAX_EXPORT_MESSAGES} texts): thread "
    "oldest first with delivery status, notes, labels, assignment history, consent, secure messages; "
    "JSON, or format=text for a plain-text transcript download. Recorded as export before it is answered.",
    security=STAFF_JWT,
    responses={
        200: {
            "description": "The export (application/json, or text/plain with format=text)",
            "content": {"application/json": {}, "text/plain": {}},
        },
        **STAFF_REFUSALS,
        413: refusal(
            f"Over {MAX_EXPORT_MESSAGES} texts (nothing exported or recorded), or an answer over 5 MB "
            "(field conversation_id)."
        ),
    },
)
def export_conversation(conversation_id: str) -> Response[Any]:
    identity = _identity()
    cid = _path("conversation_id")
    fmt = _query("format") or "json"
    # Access decided and the export recorded by export (before any body is decrypted), as show does.
    exported = wiring.staff_inbox().export(
        identity, request_origin(app.current_event.raw_event), cid, fmt=fmt
    )
    exported["secure_messages"] = secure_wiring.secure_messages().for_conversation(cid)
    logger.info(
        "conversation exported",
        extra={
            "user_id": identity.user_id,
            "conversation_id": cid,
            "format": fmt,
            "count": exported["export"]["messages"],
        },
    )
    body = json.dumps(exported) if fmt == "json" else transcript(exported)
    if len(body.encode()) > MAX_EXPORT_BYTES:
        # Lambda refuses an answer over 6 MB (API Gateway would say 500): refused clearly instead. The
        # export was recorded already, like a look that fails half way.
        raise ExportTooLarge(
            "the conversation is too large to export in one answer"
            + (": try format=text" if fmt == "json" else ""),
            field="conversation_id",
        )
    if fmt == "json":
        return _answer(200, exported)
    return Response(
        status_code=200,
        content_type="text/plain; charset=utf-8",
        body=body,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="conversation-{cid}.txt"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def _canned_request(identity: StaffIdentity, wanted: Any) -> CannedResponseRequest:
    for canned in wiring.staff_console().list_canned(identity):
        if canned.id == wanted:
            return canned.request
    raise InvalidInput("canned_response_id is not a canned response you may use", field="canned_response_id")


# The fields each conversation write takes; anything else is refused (a misspelt or forged field must
# not be silently ignored: "versoin" would otherwise read as a missing version, "to" as a new recipient).
WRITE_FIELDS: dict[str, frozenset[str]] = {
    "break-glass": frozenset({"reason"}),
    "messages": frozenset({"version", "body", "canned_response_id"}),
    "close": frozenset({"version"}),
    "reopen": frozenset({"version"}),
    "assign": frozenset({"version", "department", "user"}),
    "notes": frozenset({"version", "body"}),
    "labels": frozenset({"version", "add", "remove"}),
    "secure-messages": frozenset({"version", "body"}),
}


def _staff_write(action: str) -> Response[Any]:
    identity = _identity()
    cid = _path("conversation_id")
    body = _body()
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = set(body) - WRITE_FIELDS[action]
    if unknown:
        # Named only when the key looks like a field name: a key can be any text, PHI included.
        named = sorted(k for k in unknown if k.isascii() and k.isidentifier() and len(k) <= 32)
        shown = ", ".join(named) if len(named) == len(unknown) else "a field"
        allowed = ", ".join(sorted(WRITE_FIELDS[action]))
        raise InvalidInput(
            f"unknown {shown}: this request takes {allowed}", field=named[0] if named else None
        )
    origin = request_origin(app.current_event.raw_event)
    inbox = wiring.staff_inbox()
    if action == "break-glass":
        shown, decision = inbox.break_glass(identity, origin, cid, body.get("reason"))
        if decision.notify is not None:
            wiring.notify_admins(decision.notify)
        logger.info("break-glass access", extra={"user_id": identity.user_id, "conversation_id": cid})
        return _conversation(200, shown)
    version = _expected_version(body)
    if action == "secure-messages":
        links, sent = secure_wiring.secure_messages().send(identity, origin, cid, version, body.get("body"))
        logger.info(
            "secure message sent",
            extra={
                "user_id": identity.user_id,
                "conversation_id": cid,
                "secure_message_id": sent["secure_message_id"],
            },
        )
        shown = inbox.show(identity, origin, cid)
        shown["secure_messages"] = links
        answer = _conversation(201, shown)
        answer.body = {"conversation": shown, "sent": sent}
        return answer
    if action == "messages":
        canned = None
        if "canned_response_id" in body:
            if "body" in body:
                raise InvalidInput("give body or canned_response_id, not both", field="canned_response_id")
            canned = partial(_canned_request, identity, body["canned_response_id"])
        shown, sent = inbox.reply(identity, origin, cid, version, body.get("body"), canned=canned)
        logger.info(
            "staff reply sent",
            extra={"user_id": identity.user_id, "conversation_id": cid, "segments": sent["segments"]},
        )
        answer = _conversation(201, shown)
        answer.body = {"conversation": shown, "sent": sent}
        return answer
    if action == "close":
        shown = inbox.close(identity, origin, cid, version)
    elif action == "reopen":
        shown = inbox.reopen(identity, origin, cid, version)
    elif action == "assign":
        if ("user" in body) == ("department" in body):
            raise InvalidInput("give user or department (one of them)", field="user")
        if "user" in body:
            shown = inbox.assign_user(identity, origin, cid, version, body["user"])
        else:
            shown = inbox.assign_department(identity, origin, cid, version, body.get("department"))
    elif action == "notes":
        shown = inbox.add_note(identity, origin, cid, version, body.get("body"))
    else:
        add, remove = body.get("add", []), body.get("remove", [])
        if not isinstance(add, list) or not isinstance(remove, list):
            raise InvalidInput("add and remove must be lists of labels", field="labels")
        shown = inbox.set_labels(identity, origin, cid, version, add=add, remove=remove)
    logger.info(
        "conversation updated", extra={"user_id": identity.user_id, "conversation_id": cid, "action": action}
    )
    return _conversation(200, shown)


@app.post(
    "/inbox/conversations/<conversation_id>/close",
    security=STAFF_JWT,
    responses={200: {"description": "OK"}, **STAFF_WRITE_REFUSALS},
)
def close_conversation(conversation_id: str) -> Response[Any]:
    return _staff_write("close")


@app.post(
    "/inbox/conversations/<conversation_id>/reopen",
    security=STAFF_JWT,
    responses={200: {"description": "OK"}, **STAFF_WRITE_REFUSALS},
)
def reopen_conversation(conversation_id: str) -> Response[Any]:
    return _staff_write("reopen")


@app.post(
    "/inbox/conversations/<conversation_id>/messages",
    security=STAFF_JWT,
    responses={201: {"description": "Sent"}, **STAFF_WRITE_REFUSALS},
)
def reply_conversation(conversation_id: str) -> Response[Any]:
    return _staff_write("messages")


@app.post(
    "/inbox/conversations/<conversation_id>/secure-messages",
    summary="Send a secure message: the text carries only the clinic and a link; the page asks for the "
    "date of birth on file before showing it (409: opted out, no single date of birth on file, stale view).",
    security=STAFF_JWT,
    responses={201: {"description": "Sent"}, **STAFF_WRITE_REFUSALS},
)
def secure_message_conversation(conversation_id: str) -> Response[Any]:
    return _staff_write("secure-messages")


@app.post(
    "/inbox/conversations/<conversation_id>/assign",
    security=STAFF_JWT,
    responses={200: {"description": "OK"}, **STAFF_WRITE_REFUSALS},
)
def assign_conversation(conversation_id: str) -> Response[Any]:
    return _staff_write("assign")


@app.post(
    "/inbox/conversations/<conversation_id>/notes",
    security=STAFF_JWT,
    responses={200: {"description": "OK"}, **STAFF_WRITE_REFUSALS},
)
def note_conversation(conversation_id: str) -> Response[Any]:
    return _staff_write("notes")


@app.post(
    "/inbox/conversations/<conversation_id>/labels",
    security=STAFF_JWT,
    responses={200: {"description": "OK"}, **STAFF_WRITE_REFUSALS},
)
def label_conversation(conversation_id: str) -> Response[Any]:
    return _staff_write("labels")


@app.post(
    "/inbox/conversations/<conversation_id>/break-glass",
    security=STAFF_JWT,
    responses={200: {"description": "OK"}, **STAFF_WRITE_REFUSALS},
)
def break_glass_conversation(conversation_id: str) -> Response[Any]:
    return _staff_write("break-glass")


@app.exception_handler(StaleVersion)
def _stale(exc: StaleVersion) -> Response[Any]:
    logger.info("inbox write refused", extra={"status": 409, "reason": "stale_version"})
    return _answer(
        409,
        {
            "error": "stale_version",
            "message": str(exc),
            "current_version": exc.current_version,
            "changes": [change_json(c) for c in exc.changes],
            "truncated": exc.truncated,
        },
    )


@app.exception_handler(ExportTooLarge)
def _too_large(exc: ExportTooLarge) -> Response[Any]:
    logger.info("inbox request refused", extra={"status": 413, "reason": "export_too_large"})
    return _from_dict(error_response(413, "payload_too_large", exc.message, exc.field))


@app.exception_handler(InvalidIdentity)
def _not_identified(exc: InvalidIdentity) -> Response[Any]:
    logger.info("inbox request refused", extra={"status": 401, "claim": exc.claim})
    return _from_dict(error_response(401, "unauthorized", str(exc), exc.claim))


@app.exception_handler([ClinicTextError, ValidationError])
def _refused(exc: Exception) -> Response[Any]:
    answer = error_for(exc)
    if answer is None:
        raise exc
    logger.info("inbox request refused", extra={"status": answer["statusCode"]})
    return _from_dict(answer)


@app.not_found
def _no_route(exc: Exception) -> Response[Any]:
    return _from_dict(error_response(404, "not_found", "no such route"))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
