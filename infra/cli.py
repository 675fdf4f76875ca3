"""``clinictext``: the local sandbox, the scripted demo, and operator commands.

clinictext demo                      play the scripted scenario on an embedded AWS and exit
clinictext sandbox                   keep the stack running on 127.0.0.1 (API :8787)
clinictext text --from NUMBER BODY   text the sandbox as a patient
clinictext outbox                    what SNS was asked to send in the sandbox
clinictext import appointments.csv   import an appointment CSV into the running sandbox (per-row report)
clinictext run-reminders [--at ISO]  trigger a reminder run (or --start/--end for an explicit window)
clinictext template check TEXT       segments, encoding, UCS-2 culprits; placeholder rules for a template
clinictext template save NAME TEXT   store a new template version in the running sandbox
clinictext template show NAME        the stored template and its versions
clinictext messages --phone NUMBER   one number's message records with their delivery status
clinictext staff login --user NAME   sign in as a staff member (tokens kept 0600 under .sandbox/)
clinictext staff add --user NAME --department D [--admin]   create a staff member (admin)
clinictext inbox me | department D [--set FILE] | canned [--add NAME BODY] | audit [...]
clinictext inbox export ID [--format text|json]   a conversation's transcript to stdout (recorded)
clinictext audit verify [--from N] [--to N]   check the audit trail's hash chain, head and anchors
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra import audit_cli, staff
from infra.client import mask
from infra.client import request as call_api

# Everything printed that came from outside (patient texts, carrier reasons, template bodies, API answers)
# goes through printable(): control, bidi and invisible characters are shown as escapes.
from infra.terminal import printable

DEFAULT_API = "http://127.0.0.1:8787"
SANDBOX_DIR = Path(".sandbox")


def cmd_text(args: argparse.Namespace) -> int:
    """Text the sandbox as a patient; show what the patient gets back. Exit 1 when it is refused."""
    payload = {"from": args.from_number, "body": args.body, "channel": "twilio" if args.twilio else "sms"}
    status, body = call_api("POST", f"{args.api}/_sandbox/text", payload)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "accepted" not in answer:
        print(f"refused ({status}): {printable(_message(body))}")
        return 1
    via = "Twilio webhook" if args.twilio else "AWS two-way SMS"
    print(f"{mask(args.from_number)} -> clinic ({via}): {printable(args.body)}")
    if not answer["accepted"]:
        print(f"refused: {printable(str(answer.get('reason') or 'no reason given'))}")
        return 1
    if answer.get("kind"):
        print(f"  handled as {answer['kind']}")
    for reply in answer.get("replies") or []:
        print(f"clinic -> {mask(args.from_number)}: {printable(reply)}")
    if not answer.get("replies"):
        print("  no reply: this text gets none (see `clinictext messages --phone` for the thread)")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    status, body = call_api("GET", f"{args.api}/_sandbox/outbox")
    if status >= 400:
        print(printable(body))
        return 1
    for sms in json.loads(body):
        print(f"-> {sms['to']}: {printable(sms['text'])}")
    return 0


def _sandbox_now(api: str) -> datetime:
    """The sandbox's clock (a scheduled run for a later time moves it on), else the wall clock."""
    try:
        status, body = call_api("GET", f"{api}/_sandbox/clock")
        return datetime.fromisoformat(json.loads(body)["now"]) if status == 200 else datetime.now(UTC)
    except (OSError, ValueError, KeyError, TypeError):
        return datetime.now(UTC)


def cmd_import(args: argparse.Namespace) -> int:
    """Post a CSV (layout: shared/appointments/csv_import.py) to the running sandbox, or with --deployed to a
    deployed stack's API; print a per-row report with each row's reminders (infra/appointments_import.py)."""
    from infra import appointments_import

    try:
        text = Path(args.file).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}")
        return 2
    except UnicodeDecodeError:
        print(f"import refused: {args.file} is not UTF-8 text; save it as CSV UTF-8")
        return 1
    now = datetime.now(UTC) if args.deployed else _sandbox_now(args.api)
    if args.dates_from_today:
        text, days = appointments_import.rebase_dates(text, now.date())
        print(
            f"rehearsal: every start and end moved {days:+d} days, so the first appointment day is "
            f"{appointments_import.REHEARSAL_DAYS_AHEAD} days from today (times of day unchanged)"
        )
    if args.deployed:
        return appointments_import.import_to_deployed(text, args.api, args.region, call_api)
    status, body = call_api("POST", f"{args.api}/_sandbox/import-csv", text.encode())
    if status >= 400:
        print(printable(f"import refused ({status}): {_message(body)}"))
        return 1
    return appointments_import.print_sandbox_report(json.loads(body), now)


def cmd_run_reminders(args: argparse.Namespace) -> int:
    """A scheduled run at --at (default: now), or an on-demand run over --start/--end."""
    if args.end or args.start:
        if args.at:
            print("give either --at (a scheduled run) or --start/--end (an on-demand window), not both")
            return 2
        if not args.end:
            print("--start needs --end (the window's end, ISO 8601 with offset)")
            return 2
        payload = {"start": args.start, "end": args.end}
    else:
        payload = {"at": args.at} if args.at else {}
    status, body = call_api("POST", f"{args.api}/_sandbox/run-reminders", payload)
    if status >= 400:
        print(f"run refused ({status}): {_message(body)}")
        return 1
    result = json.loads(body)
    window = result.get("window", {})
    print(f"window {window.get('start')} .. {window.get('end')} ({result.get('buckets')} hour buckets)")
    print(
        f"found {result.get('found')}, queued {result.get('queued')}, "
        f"already queued {result.get('already_queued')}, enqueue failed {result.get('enqueue_failed')}"
    )
    return 0


def cmd_messages(args: argparse.Namespace) -> int:
    """One number's message records, newest first, with delivery status (POST /messages/lookup)."""
    payload = {"phone": args.phone, "limit": args.limit, "include_body": args.bodies}
    status, body = call_api("POST", f"{args.api}/messages/lookup", payload, sign=True)
    if status >= 400:
        print(f"{status}: {printable(_error(body))}")
        return 1
    answer = json.loads(body)
    for message in answer["messages"]:
        delivery = message.get("delivery") or {}
        detail = (
            f" ({printable(delivery['detail'])})"
            if delivery.get("detail") and message["status"] != "delivered"
            else ""
        )
        template = f" [{printable(message['template'])}]" if message.get("template") else ""
        print(
            f"{printable(message['created_at'][:19])}Z {printable(message['direction']):<8} "
            f"{printable(message['kind']):<22} {printable(message['status'])}{detail}{template}"
        )
        if args.bodies:
            print(f"    {printable(message.get('body', ''))}")
    if not answer["messages"]:
        print("no messages for that number")
    elif answer.get("truncated"):
        print("(more messages than fit one answer: ask for fewer with --limit)")
    return 0


def _error(body: str) -> str:
    """The message of an API error answer ({"error": {"message": ...}}), or the body as it came."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    error = answer.get("error") if isinstance(answer, dict) else None
    return str(error.get("message", body)) if isinstance(error, dict) else body


def _message(body: str) -> str:
    try:
        return str(json.loads(body).get("message", body))
    except (ValueError, AttributeError):
        return body


def cmd_template_check(args: argparse.Namespace) -> int:
    """Segments, encoding and UCS-2 culprits of a text; template rules for one with placeholders."""
    from infra.template_check import check_template

    return check_template(args.text, args.clinic_name)


def _print_template(stored: dict[str, Any]) -> None:
    flag = "  (flagged: more than one segment)" if stored.get("multi_segment") else ""
    print(
        f"{printable(stored['name'])} v{stored['version']}: {printable(stored['encoding'])}, "
        f"{stored['segments']} segment(s) with long sample values{flag}"
    )
    print(f"  {printable(stored['body'])}")
    print(f"  saved {printable(stored['saved_at'])} by {printable(stored['saved_by'])}")


def cmd_template_save(args: argparse.Namespace) -> int:
    """Store a new version of a template on the running sandbox (PUT /templates/{name}, signed)."""
    status, body = call_api("PUT", f"{args.api}/templates/{args.name}", {"body": args.text}, sign=True)
    if status >= 400:
        print(f"refused ({status}): {printable(_error(body))}")
        return 1
    answer = json.loads(body)
    print(
        "saved as a new version" if answer.get("created") else "unchanged: the current version has this text"
    )
    _print_template(answer["template"])
    for warning in answer.get("report", {}).get("warnings", []):
        print(f"  WARNING: {printable(warning)}")
    return 0


def cmd_template_show(args: argparse.Namespace) -> int:
    status, body = call_api("GET", f"{args.api}/templates/{args.name}", sign=True)
    if status >= 400:
        print(f"{status}: {printable(_error(body))}")
        return 1
    answer = json.loads(body)
    _print_template(answer["template"])
    older = [v for v in answer.get("versions", []) if v["version"] != answer["template"]["version"]]
    for version in older:
        print(f"  v{version['version']} ({printable(version['saved_at'])}): {printable(version['body'])}")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    return {"check": cmd_template_check, "save": cmd_template_save, "show": cmd_template_show}[
        args.template_command
    ](args)


# ---------------------------------------------------------------------------------------------- sandbox
def cmd_sandbox(args: argparse.Namespace) -> int:
    from infra.local.sandbox import SANDBOX_TWILIO_TOKEN, Sandbox

    sandbox = Sandbox(
        aws_port=args.aws_port,
        api_port=args.api_port,
        log_path=SANDBOX_DIR / "functions.log",
        seed_staff=True,
    )
    sandbox.start()
    print(f"ClinicText sandbox is up. Embedded AWS (moto): {sandbox.aws_endpoint}   API: {sandbox.api_url}")
    print(f"Function logs: {SANDBOX_DIR / 'functions.log'}   Twilio auth token: {SANDBOX_TWILIO_TOKEN}")
    api = "" if args.api_port == 8787 else f" --api {sandbox.api_url}"
    consented_at = sandbox.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    print("Try, in another terminal:")
    print(f"  clinictext text --from +12065550123 HELP{api}")
    print(f"  clinictext outbox{api}")
    print(f"  clinictext import events/appointments.csv --dates-from-today{api}   # prints the run to try")
    print(f"  clinictext run-reminders --at ...{api}   # the run import printed (without --at: now)")
    print(f"  curl -s -X POST {sandbox.api_url}/consent -H 'Authorization: AWS4-HMAC-SHA256 local' \\")
    print("       -H 'Content-Type: application/json' \\")
    print(
        '       -d \'{"phone":"+12065550123","source":"intake_form","consented_at":"' + consented_at + "\"}'"
    )
    print(f"Staff web inbox: {sandbox.web_url}   (build it first with make web; make sandbox does)")
    seeded = sandbox.seeded_staff
    print("Staff of the sandbox's Cognito pool (passwords generated now, shown once, kept nowhere):")
    for username, (groups, password) in seeded.items():
        print(f"  {username:<16} {','.join(groups):<12} {password}")
    print(f"  clinictext staff login --user nina.nurse{api}   # asks for the password above")
    print("  clinictext inbox me   # then: inbox department nursing, inbox canned, inbox audit")
    print("Ctrl-C stops it.")
    try:
        sandbox.pump_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


# ---------------------------------------------------------------------------------------------- keys
def cmd_keys_init(args: argparse.Namespace) -> int:
    """Create the PHI branch key of a deployed stack once (format 3, the hierarchical keyring's keystore).

    Run after the first deploy with the deployer's credentials; no function may write the keystore. It reads
    the stack's outputs (PhiKeyStoreTableName, PhiBranchKeyId, DataKeyArn) and does nothing if the key exists.
    """
    import boto3

    from shared.crypto import wiring as crypto_wiring

    session = boto3.session.Session(region_name=args.region)
    stacks = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [k for k in ("PhiKeyStoreTableName", "PhiBranchKeyId", "DataKeyArn") if k not in outputs]
    if missing:
        print(f"stack {args.stack} has no output {', '.join(missing)}: deploy this version first")
        return 1
    created = crypto_wiring.create_branch_key(
        table=outputs["PhiKeyStoreTableName"],
        branch_key_id=outputs["PhiBranchKeyId"],
        key_arn=outputs["DataKeyArn"],
        ddb_client=session.client("dynamodb"),
        kms_client=session.client("kms"),
    )
    verb = "created" if created else "already exists:"
    print(f"PHI branch key {verb} {outputs['PhiBranchKeyId']} in {outputs['PhiKeyStoreTableName']}")
    return 0


# ---------------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from infra.demo import run_demo

    return run_demo(log_path=SANDBOX_DIR / "demo-functions.log")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clinictext", description="ClinicText local sandbox and tools")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the scripted scenario end to end on an embedded AWS and exit")
    sandbox = sub.add_parser("sandbox", help="keep the local stack running on 127.0.0.1")
    sandbox.add_argument("--aws-port", type=int, default=4566)
    sandbox.add_argument("--api-port", type=int, default=8787)
    text = sub.add_parser("text", help="text the running sandbox as a patient")
    text.add_argument("--from", dest="from_number", required=True, help="the patient's number, E.164")
    text.add_argument("body")
    text.add_argument(
        "--twilio", action="store_true", help="arrive through the signed Twilio webhook (reply as TwiML)"
    )
    text.add_argument("--api", default=DEFAULT_API)
    outbox = sub.add_parser("outbox", help="texts SNS was asked to send in the running sandbox")
    outbox.add_argument("--api", default=DEFAULT_API)
    imp = sub.add_parser("import", help="import an appointment CSV (into the sandbox, or --deployed)")
    imp.add_argument("file", help="CSV file; column layout in README 'Appointments and reminders'")
    imp.add_argument("--api", default=DEFAULT_API, help="sandbox URL, or with --deployed the stack's ApiUrl")
    imp.add_argument(
        "--deployed",
        action="store_true",
        help="send to a deployed stack as a FHIR batch Bundle (POST /appointments), SigV4-signed",
    )
    imp.add_argument(
        "--region", default=None, help="AWS region of the deployed API (default: your AWS config)"
    )
    imp.add_argument(
        "--dates-from-today",
        action="store_true",
        help="rehearsal with a sample file: move every date by whole days so the first appointment is "
        "3 days from today (times of day kept); never for a real export",
    )
    run = sub.add_parser("run-reminders", help="trigger a reminder fan-out run on the running sandbox")
    run.add_argument("--at", help="scheduled time, ISO 8601 with offset (default: now)")
    run.add_argument("--start", help="on-demand window start, ISO 8601 with offset")
    run.add_argument("--end", help="on-demand window end, ISO 8601 with offset")
    run.add_argument("--api", default=DEFAULT_API)
    messages = sub.add_parser("messages", help="one number's messages and delivery status (sandbox API)")
    messages.add_argument("--phone", required=True, help="the patient's number")
    messages.add_argument("--limit", type=int, default=20)
    messages.add_argument("--bodies", action="store_true", help="also show message texts (PHI)")
    messages.add_argument("--api", default=DEFAULT_API)
    template = sub.add_parser("template", help="message template tools")
    template_sub = template.add_subparsers(dest="template_command", required=True)
    check = template_sub.add_parser("check", help="segments, encoding and UCS-2 culprits of a text")
    check.add_argument("text")
    check.add_argument(
        "--clinic-name", default="Riverside Family Clinic", help="what {clinic_name} is filled with"
    )
    save = template_sub.add_parser("save", help="store a new version of a template on the running sandbox")
    save.add_argument("name", help="template name (reminder)")
    save.add_argument("text")
    save.add_argument("--api", default=DEFAULT_API)
    show = template_sub.add_parser("show", help="the stored template and its earlier versions")
    show.add_argument("name")
    show.add_argument("--api", default=DEFAULT_API)
    keys = sub.add_parser("keys", help="PHI key set-up of a deployed stack")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    init = keys_sub.add_parser("init", help="create the PHI branch key once, after the first deploy")
    init.add_argument("--stack", required=True, help="the deployed stack's name")
    init.add_argument("--region", default=None)
    staff.add_parsers(sub, DEFAULT_API)
    audit_cli.add_parser(sub, DEFAULT_API)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "demo": cmd_demo,
        "sandbox": cmd_sandbox,
        "text": cmd_text,
        "outbox": cmd_outbox,
        "template": cmd_template,
        "import": cmd_import,
        "run-reminders": cmd_run_reminders,
        "messages": cmd_messages,
        "keys": cmd_keys_init,
        "staff": lambda a: staff.run(a, SANDBOX_DIR),
        "inbox": lambda a: staff.run(a, SANDBOX_DIR),
        "audit": audit_cli.run,
    }
    started = time.monotonic()
    try:
        code = handlers[args.command](args)
    except (urllib.error.URLError, TimeoutError) as exc:  # HTTPErrors are answers; these are not
        reason = getattr(exc, "reason", exc)
        print(f"cannot reach {getattr(args, 'api', DEFAULT_API)} ({reason}): is `make sandbox` running?")
        return 2
    if args.command == "demo":
        print(f"\n(demo finished in {time.monotonic() - started:.1f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
