"""Issue 11 §4: each handler imports what it uses and nothing more (Lambda's init phase is the import).

Every handler in template.yaml is imported in a fresh interpreter, which lists the modules it loaded. A
module listed here for a handler must not be among them: the FHIR and CSV ingest belong to the
appointments API, Twilio's library to the Twilio webhook, and the fan-out queues reminders without any of
the sender's consent, KMS, SNS or wording code. No handler loads pydantic-settings (the settings models
read the environment themselves) or the Encryption SDK (loaded when PHI is first encrypted or decrypted).
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs this interpreter on fixed code
import sys
from functools import cache
from pathlib import Path

import pytest

from infra.local.cfn_yaml import load_template

REPO = Path(__file__).resolve().parents[2]
INGEST = {
    "fhir",
    "fhir_core",
    "yaml",
    "shared.appointments.ingest",
    "shared.appointments.csv_import",
    "shared.appointments.fhir",
}
SENDING = {
    "shared.appointments.store.sender",
    "shared.consent",
    "shared.crypto",
    "shared.messaging",
    "shared.outbound.sns",
    "shared.templates",
    "aws_encryption_sdk",
}
# Nobody's init: the Encryption SDK (and cryptography) load on the first PHI encrypt or decrypt.
EVERY = {"pydantic_settings", "aws_encryption_sdk", "cryptography"}
FORBIDDEN: dict[str, set[str]] = {
    "functions.reminder_sender.handler": INGEST
    | {"twilio", "shared.appointments.store.book", "shared.appointments.store.replies"},
    "functions.reminder_fanout.handler": INGEST | SENDING | {"twilio", "shared.appointments.store.book"},
    "functions.delivery_status.handler": INGEST | {"twilio", "shared.outbound", "shared.templates"},
    "functions.inbound_sms.handler": INGEST | {"twilio"},
    "functions.consent_api.handler": INGEST | {"twilio"},
    "functions.messages_api.handler": INGEST | {"twilio", "shared.consent"},
    "functions.twilio_webhook.handler": INGEST,
    "functions.appointments_api.handler": {"twilio", "shared.appointments.store.sender"},
    # The sweep pages on-call and flags conversations: no texts, so no consent, sender or wording code.
    "functions.inbox_sweep.handler": INGEST
    | {
        "twilio",
        "shared.consent",
        "shared.templates",
        "shared.inbound",
        "shared.outbound.sns",
        "shared.messaging",
    },
    "functions.inbox_api.handler": INGEST
    | {"twilio", "shared.consent", "shared.messaging", "shared.outbound.sns", "shared.appointments"},
    # The patient's page reads a link and the message behind it: no texts sent, no ingest, no signing at init.
    "functions.secure_page.handler": INGEST | {"twilio", "shared.consent", "shared.outbound.sns", "jwt"},
}

_CHILD = (
    "import importlib, json, sys\nimportlib.import_module(sys.argv[1])\nprint(json.dumps([*sys.modules]))\n"
)


def _handlers() -> list[str]:
    resources = load_template(REPO / "template.yaml")["Resources"]
    return sorted(
        str(spec["Properties"]["Handler"]).rsplit(".", 1)[0]
        for spec in resources.values()
        if spec["Type"] == "AWS::Serverless::Function"
    )


@cache
def _loaded(module: str) -> frozenset[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "POWERTOOLS_TRACE_DISABLED": "true"}
    done = subprocess.run(  # our interpreter, fixed child code  # nosec B603
        [sys.executable, "-c", _CHILD, module], capture_output=True, text=True, env=env, check=True
    )
    return frozenset(json.loads(done.stdout.strip().splitlines()[-1]))


def test_every_handler_in_the_template_has_its_list() -> None:
    assert sorted(FORBIDDEN) == _handlers()


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_a_handler_does_not_import_what_it_does_not_use(module: str) -> None:
    loaded = _loaded(module)
    assert module in loaded  # the child did import the handler
    unwanted = sorted(
        name
        for name in loaded
        for top in FORBIDDEN[module] | EVERY
        if name == top or name.startswith(f"{top}.")
    )
    assert unwanted == []
