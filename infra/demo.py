"""The scripted demo behind ``make demo``: a patient's first texts, the clinic's forms, the audit trail.

Everything runs through the real functions, wired as Lambda would wire them, on an embedded AWS built
from template.yaml. Numbers are synthetic and still shown masked, the way a staff screen would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from infra.cli import _request, mask
from infra.local.sandbox import SANDBOX_TWILIO_TOKEN, Sandbox

PATIENT = "+12065550123"
SECOND_PATIENT = "+12065550124"
CLINIC = "+12065550100"


class Story:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._seen = 0
        self.step = 0
        self.checks: list[tuple[str, bool]] = []

    def heading(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {text}")

    def say(self, text: str) -> None:
        print(f"   {text}")

    def patient_texts(self, number: str, body: str) -> None:
        print(f"   patient {mask(number)} -> clinic: {body}")
        self.sandbox.text(number, body)
        self.show_new_texts()

    def show_new_texts(self) -> list[dict[str, str]]:
        outbox = self.sandbox.outbox()
        new = outbox[self._seen :]
        self._seen = len(outbox)
        for sms in new:
            print(f"   clinic -> {mask(sms['to'])}: {sms['text']}")
        if not new:
            print("   (no text sent)")
        return new

    def check(self, label: str, ok: bool) -> None:
        self.checks.append((label, ok))
        print(f"   [{'ok' if ok else 'FAILED'}] {label}")


def consent_rows(sandbox: Sandbox, number: str) -> list[dict[str, Any]]:
    """The consent ledger of one number, read as staff tooling would (by blind index)."""
    from infra.local.stack import _environment
    from shared import wiring

    function = sandbox.stack.functions["InboundSmsFunction"]
    with _environment(function.environment):
        phone_hmac = wiring.blind_index().phone(number)
    table = sandbox.stack.table("ConsentTable")
    items = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": phone_hmac})[
        "Items"
    ]
    return sorted(items, key=lambda item: item["sk"])


def show_ledger(story: Story, number: str) -> dict[str, Any]:
    rows = consent_rows(story.sandbox, number)
    state = next((row for row in rows if row["sk"] == "STATE"), {})
    story.say(f"consent ledger for {mask(number)}: current state = {state.get('status', 'none')}")
    for row in rows:
        if row["sk"].startswith("EVENT#"):
            extra = f" {row['keyword']}" if row.get("keyword") else ""
            sync = f", AWS opt-out list: {row['carrier_sync']}" if row.get("carrier_sync") else ""
            story.say(
                f"  {row['at'][:19]}Z  {row['action']:<8} via {row['channel']} ({row['source']}{extra}{sync})"
            )
    return state


def twilio_post(story: Story, number: str, body: str, *, forged: bool = False) -> tuple[int, str]:
    from twilio.request_validator import RequestValidator

    url = f"{story.sandbox.api_url}/webhooks/twilio"
    params = {
        "MessageSid": f"SM{abs(hash((number, body, forged))):032x}"[:34],
        "From": number,
        "To": CLINIC,
        "Body": body,
        "AccountSid": "AC" + "0" * 32,
        "NumMedia": "0",
    }
    token = "not-the-token" if forged else SANDBOX_TWILIO_TOKEN
    signature = RequestValidator(token).compute_signature(url, params)
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - local sandbox URL
        url,
        data=urlencode(params).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scan_for_plaintext(sandbox: Sandbox, secrets: list[str]) -> list[str]:
    leaks = []
    for logical in sandbox.stack.table_logical_ids():
        for item in sandbox.stack.table(logical).scan()["Items"]:
            text = json.dumps(item, default=str)
            leaks += [f"{logical}: {secret[:6]}…" for secret in secrets if secret in text]
    return leaks


def core_story(story: Story) -> None:
    sandbox = story.sandbox
    story.heading("A patient texts HELP (answered whether or not they are subscribed)")
    story.patient_texts(PATIENT, "HELP")

    story.heading("The patient texts STOP: one confirmation, and the ledger records the opt-out")
    story.patient_texts(PATIENT, "Stop")
    state = show_ledger(story, PATIENT)
    story.check("ledger shows the number opted out", state.get("status") == "opted_out")

    story.heading("A second STOP is recorded but not answered again")
    before = len(sandbox.outbox())
    story.patient_texts(PATIENT, "STOP")
    story.check("no second confirmation", len(sandbox.outbox()) == before)

    story.heading("The patient texts START: opted back in, with the CTIA confirmation")
    story.patient_texts(PATIENT, "START")
    state = show_ledger(story, PATIENT)
    story.check("ledger shows the number opted in", state.get("status") == "opted_in")

    story.heading("A free-text message goes to the staff thread, encrypted, with no automatic reply")
    story.patient_texts(PATIENT, "Hi, it's Dana Whitfield - is parking free on Saturdays?")

    story.heading("Twilio-compatible webhook: a signed STOP is answered in TwiML; a forged one gets 403")
    story.say(f"patient {mask(SECOND_PATIENT)} -> clinic (Twilio): STOP")
    status, body = twilio_post(story, SECOND_PATIENT, "STOP")
    story.say(f"webhook answered {status}: {body}")
    story.check("signed webhook answered with TwiML", status == 200 and "<Message>" in body)
    status, body = twilio_post(story, SECOND_PATIENT, "START", forged=True)
    story.say(f"forged request answered {status}: {body}")
    story.check("forged signature refused with 403", status == 403)
    story.check(
        "forged request changed nothing", show_ledger(story, SECOND_PATIENT).get("status") == "opted_out"
    )

    story.heading("The clinic's intake form records an opt-in through the consent API (IAM-authorized)")
    status, body = _request(
        "POST",
        f"{sandbox.api_url}/consent",
        {
            "phone": "(206) 555-0125",
            "source": "intake_form",
            "consented_at": "2026-11-23T09:30:00-08:00",
            "reference": "intake-4711",
        },
        sign=True,
    )
    story.say(f"POST /consent -> {status} {body}")
    story.show_new_texts()
    story.check("intake opt-in recorded", status == 201)
    status, body = _request("POST", f"{sandbox.api_url}/consent", {"phone": "+12065550125"})
    story.say(f"the same route without IAM credentials -> {status} {body}")
    story.check("unsigned request refused", status == 403)

    story.heading("Audit: every item in every table, scanned for plaintext PHI")
    leaks = scan_for_plaintext(
        sandbox, [PATIENT, SECOND_PATIENT, "+12065550125", "2065550123", "Dana Whitfield", "parking free"]
    )
    counts = {
        logical: len(sandbox.stack.table(logical).scan()["Items"])
        for logical in sandbox.stack.table_logical_ids()
    }
    story.say("items per table: " + ", ".join(f"{k.removesuffix('Table')} {v}" for k, v in counts.items()))
    story.check("no phone number, name or message text in plaintext", not leaks)


STORIES: list[Callable[[Story], None]] = [core_story]


def run_demo(log_path: Path) -> int:
    print("ClinicText demo: starting an embedded AWS (moto) and building template.yaml's resources ...")
    with Sandbox(log_path=log_path) as sandbox:
        stack = sandbox.stack
        kinds: dict[str, int] = {}
        for spec in stack.template["Resources"].values():
            kinds[spec["Type"]] = kinds.get(spec["Type"], 0) + 1
        print(f"   embedded AWS at {sandbox.aws_endpoint}, HTTP API at {sandbox.api_url}")
        print(
            f"   from template.yaml: {kinds.get('AWS::DynamoDB::Table', 0)} KMS-encrypted tables, "
            f"{kinds.get('AWS::KMS::Key', 0)} KMS keys, {kinds.get('AWS::SNS::Topic', 0)} topic, "
            f"{kinds.get('AWS::SQS::Queue', 0)} queues, {len(stack.functions)} functions"
        )
        story = Story(sandbox)
        for play in STORIES:
            play(story)
        failed = [label for label, ok in story.checks if not ok]
        print(
            f"\n{len(story.checks) - len(failed)} of {len(story.checks)} checks passed. "
            f"Function logs: {log_path}"
        )
        return 1 if failed else 0
