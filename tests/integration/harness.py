"""Helpers that drive functions through their declared event sources and inspect what AWS holds."""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.types import Binary

from infra.local import events
from infra.local.stack import ACCOUNT, REGION, Stack

CLINIC_NUMBER = "+12065550100"


def outbox() -> list[tuple[str, str]]:
    """Every SMS that SNS was asked to send: (phone number, text)."""
    from moto.sns.models import sns_backends

    return list(sns_backends[ACCOUNT][REGION].sms_messages.values())


def texts_to(number: str) -> list[str]:
    return [body for phone, body in outbox() if phone == number]


def text_via_sns(stack: Stack, from_number: str, body: str, *, message_id: str | None = None) -> Any:
    message = events.two_way_sms_message(from_number, CLINIC_NUMBER, body, message_id=message_id)
    event = events.sns_event(stack.ref("InboundSmsTopic"), json.dumps(message))
    return stack.functions["InboundSmsFunction"].invoke(event)


# Written once when the stack is provisioned (the PHI branch key, `clinictext keys init`), never by a request.
PROVISIONED_TABLES = frozenset({"PhiKeyStoreTable"})


def all_items(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    """Every record a request could have written, in every table but the provisioned keystore."""
    items = []
    for logical in stack.table_logical_ids():
        if logical in PROVISIONED_TABLES:
            continue
        table = stack.table(logical)
        response = table.scan()
        items += [(logical, item) for item in response["Items"]]
        while "LastEvaluatedKey" in response:
            response = table.scan(ExclusiveStartKey=response["LastEvaluatedKey"])
            items += [(logical, item) for item in response["Items"]]
    return items


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Binary):
        return [bytes(value.value).decode("latin-1")]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list | set | tuple):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def plaintext_leaks(stack: Stack, secrets: list[str]) -> list[str]:
    """Every (table, attribute text) in which one of ``secrets`` appears in clear."""
    variants = set()
    for secret in secrets:
        variants |= {secret, secret.lower(), secret.lstrip("+")}
        digits = "".join(ch for ch in secret if ch.isdigit())
        if len(digits) >= 10:
            variants |= {digits, digits[-10:]}
    leaks = []
    for logical, item in all_items(stack):
        for text in _strings(item):
            for variant in variants:
                # Short digit runs (a ZIP code) occur by chance in epoch timestamps and hex ids.
                too_common = variant.isdigit() and len(variant) < 7
                if len(variant) >= 4 and not too_common and variant in text:
                    leaks.append(f"{logical}: {variant!r} in {text[:80]!r}")
    return leaks
