"""Staff API: stored message templates (PUT/GET /templates/{name}, POST /templates/check) and the
message records of one patient's number with their delivery status (POST /messages/lookup)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from shared.core.clock import SystemClock, iso
from shared.core.models import MessageRecord
from shared.core.phone import to_e164
from shared.crypto import wiring as crypto_wiring
from shared.messaging import wiring as messaging_wiring
from shared.runtime import wiring as runtime_wiring
from shared.runtime.api import (
    BAD_REQUEST,
    BODY_REFUSALS,
    FORBIDDEN,
    SIGV4,
    ClinicResolver,
    json_answer,
    refusal,
)
from shared.runtime.http import LAMBDA_RESPONSE_LIMIT
from shared.runtime.observability import logger, metrics, tracer
from shared.runtime.wiring import preload_clients
from shared.templates import wiring as templates_wiring
from shared.templates.domain import TEMPLATE_NAMES, TemplateReport, check_name, report
from shared.templates.ports import StoredTemplate

# The largest page of message records, and the most its JSON may take: a record is at most a few KB of JSON
# (a 1,600-character body of emoji escapes to about 20 KB), so 100 of them stay far below Lambda's 6 MB; the
# byte budget holds even if a record were ever larger (the page is cut short and says so).
MAX_PAGE = 100
MAX_PAGE_JSON_BYTES = LAMBDA_RESPONSE_LIMIT // 3

# SnapStart: botocore's data for the clients this function makes is parsed at init, into the snapshot.
preload_clients("dynamodb", "kms")
app = ClinicResolver(what="messages")


class TemplateBody(BaseModel):
    """Body of ``PUT /templates/{name}`` and ``POST /templates/check`` (strict: ``body`` must be a string)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    body: str = Field(min_length=1, max_length=2000)


class MessagesLookup(BaseModel):
    """Body of ``POST /messages/lookup``: the number goes in the body, never in a URL or access log.
    Strict: ``"limit": "5"`` or ``"include_body": "yes"`` is refused, never coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    phone: str = Field(
        min_length=3, max_length=64, description="E.164, or a national number of the default region"
    )
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    include_body: bool = False  # bodies are PHI: decrypted only when the caller asks for them


# -- answers ---------------------------------------------------------------------------------------------


class SegmentView(BaseModel):
    encoding: str
    characters: int
    units: int
    segments: int
    ucs2_culprits: list[str] = Field(description="Code points (U+XXXX) that force UCS-2")


class ReportView(BaseModel):
    as_written: SegmentView
    normalized_body: str
    normalized: SegmentView
    sample: str
    sample_report: SegmentView
    placeholders: list[str]
    multi_segment: bool
    warnings: list[str]


class TemplateView(BaseModel):
    name: str
    version: int
    body: str
    placeholders: list[str]
    saved_at: str
    saved_by: str
    segments: int
    encoding: str
    multi_segment: bool


class TemplateSaved(BaseModel):
    template: TemplateView
    created: bool
    report: ReportView


class TemplateHistory(BaseModel):
    template: TemplateView
    versions: list[TemplateView]


class TemplateCheck(BaseModel):
    report: ReportView


class DeliveryView(BaseModel):
    status: str | None
    at: str | None
    detail: str | None


class MessageView(BaseModel):
    message_id: str
    direction: str
    kind: str
    channel: str
    status: str
    created_at: str
    segments: int | None
    appointment_id: str | None
    template: str | None
    delivery: DeliveryView
    body: str | None = Field(
        default=None, exclude_if=lambda v: v is None, description="Only when include_body is true (PHI)"
    )


class MessagesPage(BaseModel):
    messages: list[MessageView] = Field(description="Newest first")
    truncated: bool | None = Field(
        default=None, exclude_if=lambda v: v is None, description="Present (true) when the page was cut short"
    )


def report_view(result: TemplateReport) -> ReportView:
    def seg(r: Any) -> SegmentView:
        return SegmentView(
            encoding=r.encoding,
            characters=r.characters,
            units=r.units,
            segments=r.segments,
            ucs2_culprits=[f"U+{ord(ch):04X}" for ch in r.ucs2_culprits],
        )

    return ReportView(
        as_written=seg(result.as_written),
        normalized_body=result.normalized_body,
        normalized=seg(result.normalized),
        sample=result.sample,
        sample_report=seg(result.sample_report),
        placeholders=list(result.placeholders),
        multi_segment=result.multi_segment,
        warnings=list(result.warnings),
    )


def template_view(stored: StoredTemplate) -> TemplateView:
    return TemplateView(
        name=stored.name,
        version=stored.version,
        body=stored.body,
        placeholders=list(stored.placeholders),
        saved_at=stored.saved_at,
        saved_by=stored.saved_by,
        segments=stored.segments,
        encoding=stored.encoding,
        multi_segment=stored.multi_segment,
    )


def message_json(record: MessageRecord, include_body: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "message_id": record.message_id,
        "direction": record.direction.value,
        "kind": record.kind,
        "channel": record.channel.value,
        "status": record.status,
        "created_at": iso(record.created_at),
        "segments": record.segments,
        "appointment_id": record.appointment_id,
        "template": record.template,
        "delivery": {
            "status": record.delivery_status,
            "at": iso(record.delivery_at) if record.delivery_at else None,
            "detail": record.delivery_detail,
        },
    }
    if include_body:
        shown["body"] = record.body
    return shown


def page(records: list[MessageRecord], include_body: bool) -> tuple[list[dict[str, Any]], bool]:
    """The records as JSON, newest first, cut short (``True``) before their JSON passes
    :data:`MAX_PAGE_JSON_BYTES`: API Gateway's envelope escapes the body again, at most doubling it."""
    shown: list[dict[str, Any]] = []
    size = 0
    for record in records:
        item = message_json(record, include_body)
        size += len(json.dumps(item, default=str)) + 2
        if size > MAX_PAGE_JSON_BYTES:
            return shown, True
        shown.append(item)
    return shown, False


def _report(body: str) -> TemplateReport:
    settings = runtime_wiring.core_settings()
    return report(body, clinic_name=settings.clinic_name, clinic_phone=settings.clinic_phone)


TemplateName = Annotated[
    str,
    Path(
        description="A template name; any other is 400 naming the field name",
        json_schema_extra={"enum": list(TEMPLATE_NAMES)},
    ),
]


@app.put(
    "/templates/<name>",
    summary=(
        "Store a new version of a message template (placeholder allowlist, STOP required, no control "
        "characters, a reminder must carry {when} or {date} and {time})."
    ),
    security=SIGV4,
    responses={
        200: {"description": "Unchanged (the current version has this text)"},
        201: {"description": "New version stored, with its segment report"},
        **BODY_REFUSALS,
    },
)
def save_template(
    name: TemplateName, template: Annotated[TemplateBody, Body(media_type="application/json")]
) -> Response[TemplateSaved]:
    check_name(name)
    result = _report(template.body)
    stored, created = templates_wiring.template_store().save(
        name, result, saved_by=str(app.context["caller"]), at=SystemClock().now()
    )
    metrics.add_metric(name="TemplateSaved" if created else "TemplateUnchanged", unit="Count", value=1)
    logger.info("template saved", extra={"template": stored.label, "new_version": created})
    answer = TemplateSaved(template=template_view(stored), created=created, report=report_view(result))
    return json_answer(201 if created else 200, answer)


@app.get(
    "/templates/<name>",
    summary="The current version and the 20 before it.",
    security=SIGV4,
    responses={
        200: {"description": "Template and versions"},
        400: BAD_REQUEST,
        403: FORBIDDEN,
        404: refusal("No stored template (the built-in wording is in use)"),
    },
)
def get_template(name: TemplateName) -> TemplateHistory:
    check_name(name)
    store = templates_wiring.template_store()
    current = store.require(name)
    return TemplateHistory(
        template=template_view(current), versions=[template_view(v) for v in store.versions(name)]
    )


@app.post(
    "/templates/check",
    summary="The segment report and rule check for a template, nothing stored.",
    security=SIGV4,
    responses={200: {"description": "Report"}, **BODY_REFUSALS},
)
def check_template(template: Annotated[TemplateBody, Body(media_type="application/json")]) -> TemplateCheck:
    return TemplateCheck(report=report_view(_report(template.body)))


@app.post(
    "/messages/lookup",
    summary="One number's message records with their delivery status.",
    security=SIGV4,
    responses={
        200: {
            "description": (
                "Messages, newest first: at most limit records, and never more than 2 MB of JSON (far below "
                'Lambda\'s 6 MB); a page cut short for size says "truncated": true.'
            )
        },
        **BODY_REFUSALS,
    },
)
def lookup_messages(lookup: Annotated[MessagesLookup, Body(media_type="application/json")]) -> MessagesPage:
    settings = runtime_wiring.core_settings()
    phone_hmac = crypto_wiring.blind_index().phone(to_e164(lookup.phone, settings.default_phone_region))
    records = messaging_wiring.message_log().thread(
        phone_hmac, limit=lookup.limit, include_body=lookup.include_body
    )
    shown, truncated = page(records, lookup.include_body)
    logger.info(
        "messages listed",
        extra={"count": len(shown), "decrypted": lookup.include_body, "truncated": truncated},
    )
    # "truncated" only when the page was cut short (never, for texts of the sizes ClinicText sends).
    return MessagesPage(
        messages=[MessageView.model_validate(item) for item in shown], truncated=truncated or None
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
