"""Write ``events/*.json``: one genuine AWS-format sample event per function in template.yaml.

    python -m infra.local.make_events            # (re)write the samples
    python -m infra.local.make_events --check    # exit 1 if a committed sample differs

Every sample is built by :mod:`infra.local.events` (the builders the tests and the sandbox use), then
pinned to fixed ids and times so the output is reproducible and a diff means a real change. Names and
ARNs follow what :class:`infra.local.stack.Stack` provisions (stack ``clinictext``), so the samples can
be fed to the local stack as they are (``sam local invoke -e`` works too).

The Twilio sample is signed, the way Twilio signs, with :data:`SAMPLE_TWILIO_AUTH_TOKEN`, a clearly fake
token; it validates only against a stack whose token secret holds that value.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.local import events
from infra.local.stack import ACCOUNT, REGION, TEMPLATE, Stack

REPO = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO / "events"

SAMPLE_TWILIO_AUTH_TOKEN = "FAKE-sample-twilio-auth-token-not-a-secret"  # noqa: S105  # fake on purpose  # nosec B105
STACK = "clinictext"
CLINIC_NUMBER = "+12065550100"
API_HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
AT = datetime(2026, 11, 23, 17, 4, 5, tzinfo=UTC)  # when every sample "happened"
EPOCH_MS = int(AT.timestamp() * 1000)
INBOUND_MESSAGE_ID = "d8e7b9a4-3f1c-4b2e-9a6d-5c4b3a2f1e0d"
TWILIO_MESSAGE_SID = "SM0123456789abcdef0123456789abcdef"
EHR_FEED = f"arn:aws:iam::{ACCOUNT}:user/ehr-feed"
FRONT_DESK = f"arn:aws:iam::{ACCOUNT}:user/frontdesk"
# What the fan-out puts on ReminderQueue for the sender: the reminder's key, never PHI.
REMINDER_MESSAGE = {"reminder_pk": "rem#appt-5001#120", "due_at": "2026-11-23T17:00:00.000000Z"}

# file name -> (logical id of the function that receives it, what the sample shows)
SAMPLES: dict[str, tuple[str, str]] = {
    "inbound_sms.json": (
        "InboundSmsFunction",
        "SNS notification from the two-way SMS topic; Message is the two-way SMS inbound JSON (STOP)",
    ),
    "twilio_webhook.json": (
        "TwilioWebhookFunction",
        "HTTP API v2 POST /webhooks/twilio, base64 form body, X-Twilio-Signature for the sample token (HELP)",
    ),
    "consent_api_record.json": (
        "ConsentApiFunction",
        "HTTP API v2 POST /consent with IAM authorizer context: intake-form opt-in",
    ),
    "consent_api_lookup.json": (
        "ConsentApiFunction",
        "HTTP API v2 POST /consent/lookup with IAM authorizer context",
    ),
    "appointments_ingest.json": (
        "AppointmentsApiFunction",
        "HTTP API v2 POST /appointments, FHIR R4 batch Bundle from events/appointments_bundle.json",
    ),
    "appointments_get.json": (
        "AppointmentsApiFunction",
        "HTTP API v2 GET /appointments/{id} with IAM authorizer context",
    ),
    "reminder_fanout_scheduled.json": (
        "ReminderFanoutFunction",
        "What EventBridge Scheduler delivers: ReminderSchedule's Target Input with context attributes filled",
    ),
    "inbox_sweep_scheduled.json": (
        "InboxSweepFunction",
        "EventBridge Scheduler's delivery: InboxSweepSchedule's Target Input with context attributes filled",
    ),
    "reminder_fanout_window.json": (
        "ReminderFanoutFunction",
        "A manual run over an explicit window (replay or backfill)",
    ),
    "reminder_sender.json": (
        "ReminderSenderFunction",
        "SQS batch from ReminderQueue (one reminder per message)",
    ),
    "delivery_status.json": (
        "DeliveryStatusFunction",
        "CloudWatch Logs subscription batch (gzip+base64) of SNS SMS delivery-status log lines",
    ),
    "messages_api_template_save.json": (
        "MessagesApiFunction",
        "HTTP API v2 PUT /templates/reminder with IAM authorizer context: a new reminder wording",
    ),
    "messages_api_lookup.json": (
        "MessagesApiFunction",
        "HTTP API v2 POST /messages/lookup: one number's messages and their delivery status",
    ),
    "inbox_api_me.json": (
        "InboxApiFunction",
        "HTTP API v2 GET /inbox/me with StaffJwt authorizer context: a nurse's access-token claims",
    ),
    "secure_page_open.json": (
        "SecurePageFunction",
        "HTTP API v2 GET /s: a patient opens a secure-message link (the token stays in the URL fragment)",
    ),
}
# The sample's Cognito pool and app client (a deployed stack's are StaffUserPoolId / StaffAppClientId).
SAMPLE_STAFF_POOL = "us-east-1_EXAMPLE"
SAMPLE_STAFF_CLIENT = "exampleinboxclient0000000"
SAMPLE_SNS_MESSAGE_ID = "34d9b400-c6dd-5444-820d-fbeb0f1f54cf"


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _pin_http(event: dict[str, Any], request_id: str) -> dict[str, Any]:
    """Fixed request id and times instead of the builder's fresh ones."""
    context = event["requestContext"]
    context["requestId"] = request_id
    context["time"] = AT.strftime("%d/%b/%Y:%H:%M:%S +0000")
    context["timeEpoch"] = EPOCH_MS
    context["http"]["sourceIp"] = "203.0.113.10"  # documentation address range (RFC 5737)
    return event


def inbound_sms() -> dict[str, Any]:
    message = events.two_way_sms_message("+12065550123", CLINIC_NUMBER, "STOP", message_id=INBOUND_MESSAGE_ID)
    message["previousPublishedMessageId"] = "7a1c9e2b-4d3f-4e5a-8b6c-0d1e2f3a4b5c"
    topic = _arn("sns", f"{STACK}-InboundSmsTopic")
    event = events.sns_event(
        topic,
        json.dumps(message),
        message_id="95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        timestamp=AT.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    )
    event["Records"][0]["EventSubscriptionArn"] = f"{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
    return event


def twilio_webhook(token: str = SAMPLE_TWILIO_AUTH_TOKEN) -> dict[str, Any]:
    event = events.twilio_webhook_event(
        token,
        from_number="+12065550142",
        to_number=CLINIC_NUMBER,
        body="HELP",
        message_sid=TWILIO_MESSAGE_SID,
        host=API_HOST,
    )
    event["headers"]["user-agent"] = event["requestContext"]["http"]["userAgent"] = "TwilioProxy/1.1"
    event["headers"]["i-twilio-idempotency-token"] = "5c1d7a3e-9b2f-4e6d-8a4c-3b2e1f0d9c8b"
    if not event["isBase64Encoded"]:
        raise ValueError("HTTP API base64-encodes form bodies")
    return _pin_http(event, "Vf1sQjW2IAMEVdg=")


def consent_api_record() -> dict[str, Any]:
    body = {
        "phone": "(206) 555-0178",
        "action": "opt_in",
        "source": "intake_form",
        "consented_at": "2026-11-20T09:15:00-08:00",
        "reference": "intake/2026-0042",
    }
    event = events.http_api_event(
        "POST",
        "/consent",
        body=json.dumps(body),
        headers={"content-type": "application/json"},
        iam_caller=FRONT_DESK,
        host=API_HOST,
    )
    return _pin_http(event, "Vf1sRhK4IAMEVfQ=")


def consent_api_lookup() -> dict[str, Any]:
    event = events.http_api_event(
        "POST",
        "/consent/lookup",
        body=json.dumps({"phone": "+12065550178"}),
        headers={"content-type": "application/json"},
        iam_caller=FRONT_DESK,
        host=API_HOST,
    )
    return _pin_http(event, "Vf1sSmL6IAMEVgA=")


def appointments_ingest() -> dict[str, Any]:
    bundle = (EVENTS_DIR / "appointments_bundle.json").read_text(encoding="utf-8")
    event = events.http_api_event(
        "POST",
        "/appointments",
        body=json.dumps(json.loads(bundle), separators=(",", ":")),
        headers={"content-type": "application/fhir+json"},
        iam_caller=EHR_FEED,
        host=API_HOST,
    )
    return _pin_http(event, "Vf1sTnM8IAMEVhg=")


def appointments_get() -> dict[str, Any]:
    event = events.http_api_event(
        "GET",
        "/appointments/appt-5001",
        route_key="GET /appointments/{id}",
        path_parameters={"id": "appt-5001"},
        headers={"accept": "application/json"},
        iam_caller=EHR_FEED,
        host=API_HOST,
    )
    return _pin_http(event, "Vf1sUoN0IAMEViw=")


def reminder_fanout_scheduled() -> Any:
    stack = Stack(TEMPLATE, name=STACK)  # resolves !Sub "${AWS::AccountId}"; provisions nothing
    target = stack.template["Resources"]["ReminderSchedule"]["Properties"]["Target"]
    event = events.scheduler_event(
        str(stack.resolve(target["Input"])),
        scheduled_time=AT.replace(minute=5, second=0),
        schedule_arn=_arn("scheduler", f"schedule/default/{STACK}-ReminderSchedule"),
    )
    if isinstance(event, dict) and "id" in event:
        event["id"] = "c1f3a5e7-2b4d-4f6a-8c0e-9d1b3f5a7c9e"  # <aws.scheduler.execution-id>
    return event


def inbox_sweep_scheduled() -> Any:
    stack = Stack(TEMPLATE, name=STACK)
    target = stack.template["Resources"]["InboxSweepSchedule"]["Properties"]["Target"]
    event = events.scheduler_event(
        str(stack.resolve(target["Input"])),
        scheduled_time=AT.replace(minute=10, second=0),
        schedule_arn=_arn("scheduler", f"schedule/default/{STACK}-InboxSweepSchedule"),
    )
    if isinstance(event, dict) and "id" in event:
        event["id"] = "7e2a9c41-5d3b-4e8f-a6c2-1b9d7f3e5a08"  # <aws.scheduler.execution-id>
    return event


def reminder_fanout_window() -> dict[str, Any]:
    return {"window": {"start": "2026-11-23T17:00:00Z", "end": "2026-11-23T17:05:00Z"}}


def reminder_sender() -> dict[str, Any]:
    body = json.dumps(REMINDER_MESSAGE, separators=(",", ":"))
    sent_ms = EPOCH_MS - 1200
    event = events.sqs_event(
        _arn("sqs", f"{STACK}-ReminderQueue"),
        [
            {
                "MessageId": "0f3c2a1b-7e6d-4c5b-9a8f-1e2d3c4b5a69",
                "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a+FAKE+SAMPLE+RECEIPT+HANDLE==",
                "Body": body,
                "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(sent_ms)},
            }
        ],
    )
    event["Records"][0]["attributes"]["ApproximateFirstReceiveTimestamp"] = str(sent_ms + 35)
    return event


def delivery_status() -> dict[str, Any]:
    """One delivered text, as the delivery group's subscription filter delivers it (the failure
    group's batches have the same shape)."""
    line = events.sns_delivery_log(SAMPLE_SNS_MESSAGE_ID, "+12065550178", "delivered", at=AT)
    return events.cloudwatch_logs_event(
        f"sns/{REGION}/{ACCOUNT}/DirectPublishToPhoneNumber",
        [json.dumps(line, separators=(",", ":"))],
        log_stream="8f3d2c1b-5a4e-4b6f-9c7d-0e1f2a3b4c5d",
        filter_name=f"{STACK}-DeliveryStatusFunctionDelivered-1A2B3C4D5E6F",
        timestamps=[EPOCH_MS],
    )


def messages_api_template_save() -> dict[str, Any]:
    body = {
        "body": "{clinic_name}: Hi {first_name}, see you {when}[ at {location}]. "
        "Reply C to confirm, R to reschedule, STOP to opt out."
    }
    event = events.http_api_event(
        "PUT",
        "/templates/reminder",
        route_key="PUT /templates/{name}",
        path_parameters={"name": "reminder"},
        body=json.dumps(body),
        headers={"content-type": "application/json"},
        iam_caller=FRONT_DESK,
        host=API_HOST,
    )
    return _pin_http(event, "Vf1sVpO2IAMEVjQ=")


def messages_api_lookup() -> dict[str, Any]:
    event = events.http_api_event(
        "POST",
        "/messages/lookup",
        body=json.dumps({"phone": "+12065550178", "limit": 20}),
        headers={"content-type": "application/json"},
        iam_caller=FRONT_DESK,
        host=API_HOST,
    )
    return _pin_http(event, "Vf1sWqP4IAMEVkA=")


def inbox_api_me() -> dict[str, Any]:
    issued = int(AT.timestamp())
    claims = {
        "sub": "3f1c2a9e-0d4b-4c8e-9a51-7d2e6b0f1a23",
        "cognito:groups": ["nursing"],
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{SAMPLE_STAFF_POOL}",
        "client_id": SAMPLE_STAFF_CLIENT,
        "origin_jti": "0b7f3c1e-5a2d-4f60-8c9b-2e4d6a8f0c13",
        "token_use": "access",  # a claim value, not a secret  # nosec B105
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": issued,
        "iat": issued,
        "exp": issued + 1800,
        "jti": "6c2e9a4f-1b3d-4e7a-9f08-5d1c3b7e2a64",
        "username": "nina.nurse",
    }
    event = events.jwt_http_api_event(
        "GET",
        "/inbox/me",
        claims=claims,
        headers={"authorization": "Bearer eyJ...(the access token)"},
        host=API_HOST,
    )
    return _pin_http(event, "Vf1sXrQ6JWTEVmB=")


def secure_page_open() -> dict[str, Any]:
    """What a phone's browser sends for ``https://clinic.example/s#t=...``: the fragment never leaves the
    phone, so the request has no token, no cookie and no authorizer."""
    event = events.http_api_event(
        "GET",
        "/s",
        headers={"accept": "text/html", "user-agent": "Mozilla/5.0 (Linux; Android 14) Mobile"},
        host=API_HOST,
    )
    return _pin_http(event, "Vf1sYsR8PAGEVnC=")


BUILDERS = {
    "inbound_sms.json": inbound_sms,
    "twilio_webhook.json": twilio_webhook,
    "consent_api_record.json": consent_api_record,
    "consent_api_lookup.json": consent_api_lookup,
    "appointments_ingest.json": appointments_ingest,
    "appointments_get.json": appointments_get,
    "reminder_fanout_scheduled.json": reminder_fanout_scheduled,
    "inbox_sweep_scheduled.json": inbox_sweep_scheduled,
    "reminder_fanout_window.json": reminder_fanout_window,
    "reminder_sender.json": reminder_sender,
    "delivery_status.json": delivery_status,
    "messages_api_template_save.json": messages_api_template_save,
    "messages_api_lookup.json": messages_api_lookup,
    "inbox_api_me.json": inbox_api_me,
    "secure_page_open.json": secure_page_open,
}


def render(name: str) -> str:
    return json.dumps(BUILDERS[name](), indent=2, ensure_ascii=False) + "\n"


def decoded_body(event: dict[str, Any]) -> str:
    """An HTTP API event's body as text (handy when reading the base64 samples)."""
    raw = event.get("body") or ""
    return base64.b64decode(raw).decode() if event.get("isBase64Encoded") else str(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="report samples that differ; write nothing")
    parser.add_argument("--out", type=Path, default=EVENTS_DIR, help="directory to write (default events/)")
    args = parser.parse_args(argv)
    stale = []
    for name in SAMPLES:
        text = render(name)
        path = args.out / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    if args.check and stale:
        print("out of date (run python -m infra.local.make_events): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
