"""Staff API: stored message templates (PUT/GET /templates/{name}, POST /templates/check) and the
message records of one patient's number with their delivery status (POST /messages/lookup)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from shared.core.clock import SystemClock, iso
from shared.core.models import MessageRecord
from shared.core.phone import to_e164
from shared.crypto import wiring as crypto_wiring
from shared.messaging import wiring as messaging_wiring
from shared.runtime import wiring as runtime_wiring
from shared.runtime.http import (
    LAMBDA_RESPONSE_LIMIT,
    error_response,
    json_response,
    model_body,
    require_iam_caller,
    respond,
)
from shared.runtime.observability import logger, metrics, tracer
from shared.templates import wiring as templates_wiring
from shared.templates.domain import TemplateReport, check_name, report
from shared.templates.ports import StoredTemplate

# The largest page of message records, and the most its JSON may take: a record is at most a few KB of JSON
# (a 1,600-character body of emoji escapes to about 20 KB), so 100 of them stay far below Lambda's 6 MB; the
# byte budget holds even if a record were ever larger (the page is cut short and says so).
MAX_PAGE = 100
MAX_PAGE_JSON_BYTES = LAMBDA_RESPONSE_LIMIT // 3


class TemplateBody(BaseModel):
    """Body of ``PUT /templates/{name}`` and ``POST /templates/check`` (strict: ``body`` must be a string)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    body: str = Field(min_length=1, max_length=2000)


class MessagesLookup(BaseModel):
    """Body of ``POST /messages/lookup``: the number goes in the body, never in a URL or access log.
    Strict: ``"limit": "5"`` or ``"include_body": "yes"`` is refused, never coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    phone: str = Field(min_length=3, max_length=64)
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    include_body: bool = False  # bodies are PHI: decrypted only when the caller asks for them


def report_json(result: TemplateReport) -> dict[str, Any]:
    def seg(r: Any) -> dict[str, Any]:
        return {
            "encoding": r.encoding,
            "characters": r.characters,
            "units": r.units,
            "segments": r.segments,
            "ucs2_culprits": [f"U+{ord(ch):04X}" for ch in r.ucs2_culprits],
        }

    return {
        "as_written": seg(result.as_written),
        "normalized_body": result.normalized_body,
        "normalized": seg(result.normalized),
        "sample": result.sample,
        "sample_report": seg(result.sample_report),
        "placeholders": list(result.placeholders),
        "multi_segment": result.multi_segment,
        "warnings": result.warnings,
    }


def template_json(stored: StoredTemplate) -> dict[str, Any]:
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


def _route(event: dict[str, Any]) -> dict[str, Any]:
    caller = require_iam_caller(event)
    route = str(event.get("routeKey") or "")
    name = str((event.get("pathParameters") or {}).get("name") or "")
    if route == "PUT /templates/{name}":
        check_name(name)
        body = model_body(event, TemplateBody).body
        result = _report(body)
        stored, created = templates_wiring.template_store().save(
            name, result, saved_by=caller, at=SystemClock().now()
        )
        metrics.add_metric(name="TemplateSaved" if created else "TemplateUnchanged", unit="Count", value=1)
        logger.info("template saved", extra={"template": stored.label, "new_version": created})
        return json_response(
            201 if created else 200,
            {"template": template_json(stored), "created": created, "report": report_json(result)},
        )
    if route == "GET /templates/{name}":
        check_name(name)
        store = templates_wiring.template_store()
        current = store.require(name)
        return json_response(
            200,
            {
                "template": template_json(current),
                "versions": [template_json(v) for v in store.versions(name)],
            },
        )
    if route == "POST /templates/check":
        body = model_body(event, TemplateBody).body
        return json_response(200, {"report": report_json(_report(body))})
    if route == "POST /messages/lookup":
        lookup = model_body(event, MessagesLookup)
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
        answer: dict[str, Any] = {"messages": shown, **({"truncated": True} if truncated else {})}
        return json_response(200, answer)
    return error_response(404, "not_found", f"no route {route!r}")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return respond(_route, event, "messages")
