"""Issue 5: the PHI-leak gate. The whole sandbox scenario (`make demo`) runs with every function log line
and every DynamoDB item captured; no phone number, name, message body or FHIR free text from the
scenario's fixtures may appear in clear in either. The secrets are collected from the fixtures themselves
(the FHIR bundles the demo posts, the texts patients send, the texts the clinic sent), not listed by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import Binary

pytestmark = pytest.mark.slow

# FHIR elements whose text is PHI (DOMAIN.md): names, telecom, and every free-text clinical element.
FREE_TEXT_KEYS = {
    "description",
    "comment",
    "patientInstruction",
    "text",
    "display",
    "family",
    "given",
    "value",
}


def strings(value: Any, key: str = "") -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in strings(v, k)]
    if isinstance(value, list):
        return [pair for v in value for pair in strings(v, key)]
    return []


def phone_forms(e164: str) -> set[str]:
    digits = e164.lstrip("+")
    national = digits[-10:]
    return {
        e164,
        digits,
        national,
        f"({national[:3]}) {national[3:6]}-{national[6:]}",
        f"{national[:3]}-{national[3:6]}-{national[6:]}",
    }


def item_text(item: Any) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, Binary):
            return bytes(value.value).decode("latin-1")
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | set | tuple):
            return [plain(v) for v in value]
        return value

    return json.dumps(plain(item), default=str, ensure_ascii=False)


def test_the_full_scenario_leaves_no_plaintext_phi_in_logs_or_tables(tmp_path: Path, monkeypatch) -> None:
    from infra import demo
    from infra.local.sandbox import Sandbox

    inbound: list[tuple[str, str]] = []
    bundles: list[dict[str, Any]] = []
    original_text, original_bundle = Sandbox.text, demo.reminder_bundle

    def text(self: Sandbox, from_number: str, body: str) -> None:
        inbound.append((from_number, body))
        original_text(self, from_number, body)

    def bundle(*args: Any, **kwargs: Any) -> dict[str, Any]:
        made = original_bundle(*args, **kwargs)
        bundles.append(made)
        return made

    monkeypatch.setattr(Sandbox, "text", text)
    monkeypatch.setattr(demo, "reminder_bundle", bundle)
    seen: dict[str, Any] = {}

    def inspect(sandbox: Sandbox) -> None:
        items = []
        for logical in sandbox.stack.table_logical_ids():
            table = sandbox.stack.table(logical)
            page = table.scan()
            items += [(logical, i) for i in page["Items"]]
            while "LastEvaluatedKey" in page:
                page = table.scan(ExclusiveStartKey=page["LastEvaluatedKey"])
                items += [(logical, i) for i in page["Items"]]
        seen["items"] = items
        seen["outbox"] = sandbox.outbox()

    log_path = tmp_path / "functions.log"
    assert demo.run_demo(log_path, inspect=inspect) == 0

    secrets: set[str] = set()
    for made in bundles:
        for key, value in strings(made):
            if key in FREE_TEXT_KEYS and not value.startswith(("http", "urn:", "America/")):
                secrets |= phone_forms(value) if re.fullmatch(r"\+\d{8,15}", value) else {value}
    for number, body in inbound:
        secrets |= phone_forms(number)
        if len(body) > 12:  # a keyword (STOP, C) is not a secret; what a patient writes is
            secrets.add(body)
    for sms in seen["outbox"]:
        secrets |= phone_forms(sms["to"])
        secrets.add(sms["text"])  # what the clinic sent is PHI too (first name, appointment time)
    for number in (demo.PATIENT, demo.SECOND_PATIENT, "+12065550125"):
        secrets |= phone_forms(number)
    # Names and words of four letters or fewer turn up by chance in base64 ciphertext; they are covered
    # by the longer values (full names, the texts) that contain them.
    secrets = {s for s in secrets if len(s) >= 5}
    assert len(secrets) > 60, "the fixtures gave too little to check"
    assert any("chemotherapy" in s.lower() for s in secrets) and any("Petrova" in s for s in secrets)

    log = log_path.read_text(encoding="utf-8")
    assert log.count('"level"') > 50
    items = [(logical, item_text(item)) for logical, item in seen["items"]]
    assert len(items) > 80
    leaks = [f"log: {s[:24]!r}" for s in sorted(secrets) if s in log]
    leaks += [f"{logical}: {s!r}" for s in sorted(secrets) for logical, text in items if s in text]
    assert not leaks, "\n".join(leaks[:20])
