"""``clinictext``: the local sandbox, the scripted demo, and operator commands.

clinictext demo                      play the scripted scenario on an embedded AWS and exit
clinictext sandbox                   keep the stack running on 127.0.0.1 (API :8787)
clinictext text --from NUMBER BODY   text the sandbox as a patient
clinictext outbox                    what SNS was asked to send in the sandbox
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_API = "http://127.0.0.1:8787"
SANDBOX_DIR = Path(".sandbox")


def mask(number: str) -> str:
    """Show a number the way staff screens do: +1206•••0123."""
    return number[:5] + "•••" + number[-4:] if len(number) > 9 else "•••"


# ---------------------------------------------------------------------------------------------- client
def _request(method: str, url: str, body: Any = None, *, sign: bool = False) -> tuple[int, str]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if sign:
        headers.update(_sigv4_headers(method, url, data or b""))
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - local sandbox URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _sigv4_headers(method: str, url: str, data: bytes) -> dict[str, str]:
    """Sign like an IAM caller would (the sandbox's API Gateway only checks a signature is present)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("sandbox", "sandbox"), "execute-api", "us-east-1").add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "x-amz-date")}


def cmd_text(args: argparse.Namespace) -> int:
    status, body = _request(
        "POST", f"{args.api}/_sandbox/text", {"from": args.from_number, "body": args.body}
    )
    print(f"{status} {body}")
    return 0 if status < 400 else 1


def cmd_outbox(args: argparse.Namespace) -> int:
    status, body = _request("GET", f"{args.api}/_sandbox/outbox")
    if status >= 400:
        print(body)
        return 1
    for sms in json.loads(body):
        print(f"-> {sms['to']}: {sms['text']}")
    return 0


def cmd_template_check(args: argparse.Namespace) -> int:
    """Report what a text costs as sent, and what it would cost after typographic normalization."""
    from shared.segments import analyze, normalize_for_gsm

    def show(label: str, text: str) -> int:
        report = analyze(text)
        print(
            f"{label}: {report.encoding}, {report.characters} characters, {report.units} units, "
            f"{report.segments} segment{'s' if report.segments != 1 else ''}"
        )
        if report.ucs2_culprits:
            print(
                "  forced to UCS-2 by: " + " ".join(f"{c!r} (U+{ord(c):04X})" for c in report.ucs2_culprits)
            )
        return report.segments

    segments = show("as written", args.text)
    normalized = normalize_for_gsm(args.text)
    if normalized != args.text:
        segments = show("after normalization", normalized)
        print(f"  normalized text: {normalized}")
    if segments > 1:
        print("  WARNING: needs more than one segment; every extra segment is billed")
    return 0


# ---------------------------------------------------------------------------------------------- sandbox
def cmd_sandbox(args: argparse.Namespace) -> int:
    from infra.local.sandbox import SANDBOX_TWILIO_TOKEN, Sandbox

    sandbox = Sandbox(aws_port=args.aws_port, api_port=args.api_port, log_path=SANDBOX_DIR / "functions.log")
    sandbox.start()
    print(f"ClinicText sandbox is up. Embedded AWS (moto): {sandbox.aws_endpoint}   API: {sandbox.api_url}")
    print(f"Function logs: {SANDBOX_DIR / 'functions.log'}   Twilio auth token: {SANDBOX_TWILIO_TOKEN}")
    print("Try, in another terminal:")
    print("  clinictext text --from +12065550123 HELP")
    print("  clinictext outbox")
    print(f"  curl -s -X POST {sandbox.api_url}/consent -H 'Authorization: AWS4-HMAC-SHA256 local' \\")
    print("       -H 'Content-Type: application/json' \\")
    print(
        '       -d \'{"phone":"+12065550123","source":"intake_form","consented_at":"2026-11-23T10:00:00Z"}\''
    )
    print("Ctrl-C stops it.")
    try:
        sandbox.pump_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
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
    text.add_argument("--api", default=DEFAULT_API)
    outbox = sub.add_parser("outbox", help="texts SNS was asked to send in the running sandbox")
    outbox.add_argument("--api", default=DEFAULT_API)
    template = sub.add_parser("template", help="message template tools")
    template_sub = template.add_subparsers(dest="template_command", required=True)
    check = template_sub.add_parser("check", help="segments, encoding and UCS-2 culprits of a text")
    check.add_argument("text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "demo": cmd_demo,
        "sandbox": cmd_sandbox,
        "text": cmd_text,
        "outbox": cmd_outbox,
        "template": cmd_template_check,
    }
    started = time.monotonic()
    code = handlers[args.command](args)
    if args.command == "demo":
        print(f"\n(demo finished in {time.monotonic() - started:.1f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
