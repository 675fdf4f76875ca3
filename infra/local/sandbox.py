"""The local sandbox: template.yaml on an embedded AWS (moto server mode) on 127.0.0.1.

* every resource is created from the template (:class:`infra.local.stack.Stack`);
* SNS topics that feed a function are tapped with an SQS queue, and each notification is delivered
  to the function as the SNS-to-Lambda event Lambda would build;
* SQS event sources are polled and delivered in batches, honouring partial batch failures;
* the HTTP API is served on 127.0.0.1 with API Gateway's payload format 2.0 (IAM routes need a SigV4
  ``Authorization`` header, as API Gateway would require);
* function output (logs, metrics) goes to a log file, never to the demo's screen.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import os
import re
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit

import boto3

from infra.local import events, web_app
from infra.local.jwt_authorizer import JwtAuthorizer, jwks_from
from infra.local.jwt_authorizer import Refused as JwtRefused
from infra.local.stack import ACCOUNT, REGION, LocalFunction, Stack

SANDBOX_TWILIO_TOKEN = "sandbox-twilio-auth-token-not-a-secret"  # noqa: S105  # sandbox only  # nosec B105
LOCAL_CALLER = f"arn:aws:iam::{ACCOUNT}:user/sandbox-clinic-staff"
MAX_REQUEST_BODY = 10 * 1024 * 1024  # API Gateway's HTTP API payload quota: 413 beyond it
MAX_LAMBDA_RESPONSE = 6 * 1024 * 1024  # Lambda's synchronous response payload limit
READ_TIMEOUT_SECONDS = 10.0  # a request (line, headers, then body) must arrive within this


SEED_STAFF: dict[str, tuple[str, ...]] = {
    "nina.nurse": ("nursing",),
    "frank.frontdesk": ("front-desk",),
    "bill.billing": ("billing",),
    "ada.admin": ("admin",),
}


def generated_password() -> str:
    """A password the pool's policy accepts (14+ characters, upper, lower, digit, symbol)."""
    import secrets

    return "Ct-" + secrets.token_urlsafe(15) + "9a!"


class SandboxClock:
    """The functions' clock in the sandbox: the wall clock, moved forward when a scheduled run is fired
    for a later time, as if the sandbox had waited until then. Deployed, ``SystemClock`` is the wall
    clock and schedules fire on time; here a story spanning days runs in seconds, and the sender checks
    quiet hours, frequency caps and "not passed yet" at the story's time, not at the machine's.
    Only ever forward: a retried or replayed run does not take the clock back."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def story_time(self, wall: datetime) -> datetime:
        """Where an instant an emulated AWS service stamped with the machine's clock (an SNS
        notification's ``Timestamp``) falls on this clock, so every record shares one timeline."""
        with self._lock:
            return wall.astimezone(UTC) + self._offset

    def advance_to(self, at: datetime) -> None:
        with self._lock:
            gap = at.astimezone(UTC) - (datetime.now(UTC) + self._offset)
            if gap > timedelta(0):
                self._offset += gap


class Sandbox:
    def __init__(
        self,
        *,
        aws_port: int = 0,
        api_port: int = 0,
        log_path: Path | None = None,
        parameters: dict[str, str] | None = None,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        seed_staff: bool = False,
    ) -> None:
        self._aws_port = aws_port
        self.read_timeout = read_timeout
        self._api_port = api_port
        self.log_path = log_path
        self._parameters = parameters or {}
        self._server: Any = None
        self._api: ThreadingHTTPServer | None = None
        self._log: TextIO = io.StringIO()
        self._taps: dict[str, str] = {}  # topic logical id -> tap queue url
        # SNS message id -> (what the function it fed returned, the texts it had SNS send)
        self._sns_results: dict[str, tuple[Any, list[dict[str, str]]]] = {}
        # The carrier, played by the sandbox: what it reports for texts to a number (default delivered).
        self.carrier_outcomes: dict[str, str] = {}
        self._reported: set[str] = set()  # SNS message ids whose delivery status SNS has logged
        # (log group, stream) -> forward token after the lines handed to its subscription already
        self._log_tokens: dict[tuple[str, str], str] = {}
        self._log_delivered = 0  # numbers the log events' ids, as CloudWatch's are unique
        self._pump_lock = threading.RLock()
        self._stop = threading.Event()
        self._moto_speedups: contextlib.ExitStack | None = None
        self._saved_env: dict[str, str] = {}
        self.clock = SandboxClock()
        self._saved_now: Any = None
        self.stack: Stack
        self.aws_endpoint = ""
        self.api_url = ""
        self._jwt_authorizers: dict[str, JwtAuthorizer] = {}
        self._seed_staff = seed_staff
        # username -> (groups, generated password) of the staff seeded at start (seed_staff=True)
        self.seeded_staff: dict[str, tuple[tuple[str, ...], str]] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        from infra.local.moto_speed import (
            item_level_transactions,
            json_dynamodb_responses,
            linear_sqs,
            reused_unused_key_material,
        )

        # The moto server runs in this process: its transactions roll back item by item instead of
        # copying whole tables (the same semantics; a 500-entry bundle no longer runs past its budget),
        # and its KMS keys and Cognito pool skip the RSA work nothing here uses (every KMS key is still
        # its own key, with its own id and key material; see infra.local.moto_speed).
        self._moto_speedups = contextlib.ExitStack()
        self._moto_speedups.enter_context(item_level_transactions())
        self._moto_speedups.enter_context(reused_unused_key_material())
        self._moto_speedups.enter_context(linear_sqs())
        self._moto_speedups.enter_context(json_dynamodb_responses())
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._aws_port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.aws_endpoint = f"http://{host}:{port}"
        # moto keeps its backends in this process: a second sandbox (another test, a second demo) would
        # find the first one's secret, tables and outbox. Start from an empty AWS every time.
        reset = urllib.request.Request(f"{self.aws_endpoint}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310  # the local moto server  # nosec B310
        self._saved_env = dict(os.environ)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.aws_endpoint,
                "AWS_ACCESS_KEY_ID": "sandbox",
                "AWS_SECRET_ACCESS_KEY": "sandbox",  # moto accepts any key; no AWS is reached  # nosec B105
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
                # Powertools reads these when shared.runtime.observability is first imported; in Lambda they
                # come from the template's Globals, which set the same values for every function.
                "POWERTOOLS_METRICS_NAMESPACE": "ClinicText",
                "POWERTOOLS_SERVICE_NAME": "clinictext",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        # Clients cached by earlier code in this process (tests under moto's in-process mock) were built
        # without this endpoint: drop them so every function talks to this sandbox. Imported only now:
        # Powertools reads its environment when shared.runtime.observability is first imported.
        from shared.core.clock import SystemClock
        from shared.runtime import wiring

        wiring.reset()
        clock = self.clock
        self._saved_now = SystemClock.now
        SystemClock.now = lambda _self: clock.now()  # type: ignore[method-assign, assignment]
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("w", encoding="utf-8")
        secret_arn = boto3.client("secretsmanager").create_secret(
            Name="clinictext/twilio-auth-token", SecretString=SANDBOX_TWILIO_TOKEN
        )["ARN"]
        self.stack = Stack(
            parameters={"TwilioAuthTokenSecretArn": secret_arn, **self._parameters}
        ).provision()
        self._route_function_logs()
        self._tap_topics()
        if self._seed_staff:
            self.seeded_staff = self.seed_staff()
        self._serve_api()
        self._point_secure_links_here()
        return self

    def _point_secure_links_here(self) -> None:
        """A secure message's link opens the patient page on this sandbox's API address (SecurePageFunction
        at /s), so a tester opens it from the outbox; deployed, it is the template's SecurePageUrl."""
        for function in self.stack.functions.values():
            if "SECURE_PAGE_URL" in function.environment:
                function.environment["SECURE_PAGE_URL"] = f"{self.api_url}/s"

    def stop(self) -> None:
        self._stop.set()
        if self._api:
            self._api.shutdown()
            self._api.server_close()
        if self._server:
            self._server.stop()
        if self._moto_speedups is not None:
            self._moto_speedups.close()
            self._moto_speedups = None
        self._restore_function_logs()
        if self._saved_now is not None:
            from shared.core.clock import SystemClock

            SystemClock.now = self._saved_now  # type: ignore[method-assign]
            self._saved_now = None
        if self.log_path and not self._log.closed:
            self._log.close()
        # Leave the process as it was: no endpoint pointing at a stopped server, no clients bound to it.
        if self._saved_env:
            os.environ.clear()
            os.environ.update(self._saved_env)
        from shared.runtime import wiring

        wiring.reset()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _route_function_logs(self) -> None:
        from shared.runtime.observability import logger

        handler = getattr(logger, "registered_handler", None)
        if handler is not None and hasattr(handler, "setStream"):
            self._log_handler = handler
            self._saved_stream = _set_stream(handler, self._log)

    def _restore_function_logs(self) -> None:
        """Give the logger its stream back before our log closes (a later sandbox would flush it)."""
        handler = getattr(self, "_log_handler", None)
        if handler is not None:
            _set_stream(handler, getattr(self, "_saved_stream", None) or sys.stderr)
            self._log_handler = None

    @contextlib.contextmanager
    def _captured(self) -> Iterator[None]:
        with contextlib.redirect_stdout(self._log):
            yield

    def function_log(self) -> str:
        if isinstance(self._log, io.StringIO):
            return self._log.getvalue()
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8") if self.log_path else ""

    def invoke(self, function: LocalFunction, event: Any) -> Any:
        with self._captured():
            return function.invoke(event)

    # -- SNS: topic -> function ---------------------------------------------------------------------
    def _tap_topics(self) -> None:
        sqs, sns = boto3.client("sqs"), boto3.client("sns")
        for logical, _ in self.stack.resources("AWS::SNS::Topic"):
            if not self.stack.function_for_topic(logical):
                continue
            url = sqs.create_queue(QueueName=f"sandbox-tap-{logical}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(TopicArn=self.stack.ref(logical), Protocol="sqs", Endpoint=arn)
            self._taps[logical] = url

    def _deliver_sns(self) -> int:
        sqs = boto3.client("sqs")
        delivered = 0
        for logical, url in self._taps.items():
            while True:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    envelope = json.loads(message["Body"])
                    # moto stamps the notification with the machine's clock; the functions read the
                    # story's (see SandboxClock), so the text is dated on the story's timeline too.
                    published = datetime.fromisoformat(envelope["Timestamp"].replace("Z", "+00:00"))
                    event = events.sns_event(
                        envelope["TopicArn"],
                        envelope["Message"],
                        message_id=envelope["MessageId"],
                        timestamp=events.sns_timestamp(self.clock.story_time(published)),
                    )
                    for function in self.stack.function_for_topic(logical):
                        # One function runs at a time (INVOKE_LOCK): the texts SNS was asked to send
                        # meanwhile are this notification's replies.
                        before = len(self.outbox())
                        result = self.invoke(function, event)
                        self._sns_results[envelope["MessageId"]] = (result, self.outbox()[before:])
                        while len(self._sns_results) > 1000:  # only the latest are ever asked for
                            self._sns_results.pop(next(iter(self._sns_results)))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    delivered += 1
        return delivered

    # -- SQS: queue -> function ---------------------------------------------------------------------
    def _deliver_sqs(self) -> int:
        sqs = boto3.client("sqs")
        delivered = 0
        for logical, _ in self.stack.resources("AWS::SQS::Queue"):
            for function, props in self.stack.function_for_queue(logical):
                url, arn = self.stack.ref(logical), self.stack.arn(logical)
                batch = int(props.get("BatchSize", 10))
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(batch, 10), AttributeNames=["All"]
                ).get("Messages", [])
                if not messages:
                    continue
                result = self.invoke(function, events.sqs_event(arn, messages)) or {}
                failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
                for message in messages:
                    if message["MessageId"] in failed:
                        sqs.change_message_visibility(
                            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                        )
                    else:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                delivered += len(messages) - len(failed)
        return delivered

    # -- SNS SMS delivery status: SNS -> CloudWatch Logs -> subscription filter -> function -------------
    def _report_deliveries(self) -> int:
        """Play SNS and the carrier: one delivery-status log line, in SNS's format, for each new text,
        written to the log group SNS uses (the template declares both), with the carrier's outcome."""
        from moto.sns.models import sns_backends

        logs = boto3.client("logs")
        declared = {self.stack.ref(logical) for logical, _ in self.stack.resources("AWS::Logs::LogGroup")}
        written = 0
        for message_id, (phone, _text) in list(sns_backends[ACCOUNT][REGION].sms_messages.items()):
            if message_id in self._reported:
                continue
            self._reported.add(message_id)
            outcome = self.carrier_outcomes.get(phone, "delivered")
            group = events.delivery_log_group(outcome, region=REGION, account=ACCOUNT)
            if group not in declared:
                continue  # delivery status logging is not set up in this template
            line = events.sns_delivery_log(message_id, phone, outcome, at=self.clock.now())
            stream = "sandbox-sms-delivery"
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                # Ingestion time is the machine's: CloudWatch refuses events >2 h ahead of it, and the
                # story's clock runs days ahead. The line itself carries the story's time, as SNS's would.
                logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(line)}],
            )
            written += 1
        return written

    def _deliver_logs(self) -> int:
        """Subscription filters: new lines of a log group go to the functions it feeds, one batch per
        log stream, read on from where the last batch ended (CloudWatch Logs' forward token)."""
        logs = boto3.client("logs")
        delivered = 0
        for logical, _ in self.stack.resources("AWS::Logs::LogGroup"):
            functions = self.stack.function_for_log_group(logical)
            if not functions:
                continue
            group = self.stack.ref(logical)
            for stream in logs.describe_log_streams(logGroupName=group).get("logStreams", []):
                name = stream["logStreamName"]
                token = self._log_tokens.get((group, name))
                if token:
                    page = logs.get_log_events(
                        logGroupName=group, logStreamName=name, startFromHead=True, nextToken=token
                    )
                else:
                    page = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)
                self._log_tokens[(group, name)] = page["nextForwardToken"]
                new = page["events"]
                if not new:
                    continue
                event = events.cloudwatch_logs_event(
                    group,
                    [e["message"] for e in new],
                    log_stream=name,
                    timestamps=[e["timestamp"] for e in new],
                    first_id=self._log_delivered,
                )
                self._log_delivered += len(new)
                for function in functions:
                    self.invoke(function, event)
                delivered += len(new)
        return delivered

    def pump(self, max_rounds: int = 200) -> int:
        """Deliver everything waiting on topics, queues and log subscriptions until nothing moves."""
        total = 0
        with self._pump_lock:
            for _ in range(max_rounds):
                moved = (
                    self._deliver_sns()
                    + self._deliver_sqs()
                    + self._report_deliveries()
                    + self._deliver_logs()
                )
                total += moved
                if not moved:
                    break
        return total

    def pump_forever(self, interval: float = 0.5) -> None:
        while not self._stop.wait(interval):
            try:
                self.pump()
            except Exception as exc:  # keep the sandbox alive; the error is in the function log
                print(f"sandbox: delivery failed: {type(exc).__name__}: {exc}")

    # -- what a patient and a scheduler do -------------------------------------------------------------
    @property
    def clinic_number(self) -> str:
        return self.stack.parameters.get("OriginationNumber") or "+12065550100"

    def text(self, from_number: str, body: str, *, channel: str = "sms") -> dict[str, Any]:
        """A patient texts the clinic's number, through AWS two-way SMS (``sms``: published to the
        inbound topic) or the Twilio webhook (``twilio``: a signed POST to the HTTP API).

        Returns what the patient would see: ``{"accepted": bool, "kind": str | None, "reason": str |
        None, "replies": [text, ...]}``. ``accepted`` is false when the function refused the text (it
        parks such a text for an operator); ``replies`` are the texts sent back to that number while the
        function handled this one (SNS Publish), or the TwiML reply.
        """
        if channel == "twilio":
            return self._text_via_twilio(from_number, body)
        message = events.two_way_sms_message(from_number, self.clinic_number, body)
        # Held from publish to delivery, so the background pump delivers nothing in between and the
        # texts recorded against this notification are the ones its function sent.
        with self._pump_lock:
            published = boto3.client("sns").publish(
                TopicArn=self.stack.ref("InboundSmsTopic"), Message=json.dumps(message)
            )["MessageId"]
            self.pump()
        result, sent = self._sns_results.get(published, (None, []))
        entries = [e for e in (result or {}).get("processed", []) if isinstance(e, dict)]
        mine = [e for e in entries if e.get("sns_message_id") == published]
        entry = (mine or entries or [{}])[0]
        if entry.get("rejected"):
            return {"accepted": False, "kind": None, "reason": str(entry["rejected"]), "replies": []}
        return {
            "accepted": True,
            "kind": entry.get("kind"),
            "reason": None,
            "replies": [sms["text"] for sms in sent if sms["to"] == from_number],
        }

    def _text_via_twilio(self, from_number: str, body: str) -> dict[str, Any]:
        """Twilio's side of a text: the form it posts, signed for the sandbox's own URL."""
        from twilio.request_validator import RequestValidator

        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": from_number,
            "To": self.clinic_number,
            "Body": body,
            "NumMedia": "0",
        }
        url = f"{self.api_url}/webhooks/twilio"
        headers = {
            "host": urlsplit(self.api_url).netloc,
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": RequestValidator(SANDBOX_TWILIO_TOKEN).compute_signature(url, params),
        }
        status, _, data = self.handle_http("POST", "/webhooks/twilio", headers, urlencode(params).encode())
        if status >= 400:
            return {"accepted": False, "kind": None, "reason": _error_message(data), "replies": []}
        replies = [
            html.unescape(m) for m in re.findall(r"<Message(?:\s[^>]*)?>(.*?)</Message>", data.decode(), re.S)
        ]
        return {"accepted": True, "kind": None, "reason": None, "replies": replies}

    def run_schedule(self, at: datetime, schedule: str = "ReminderSchedule") -> Any:
        """EventBridge Scheduler fires ``schedule`` for the scheduled time ``at``."""
        props = dict(self.stack.schedules())[schedule]
        # <aws.scheduler.scheduled-time> is UTC ("...Z"): convert, or 16:00-08:00 would be read as 16:00Z.
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        self.clock.advance_to(at)
        arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{self.stack.ref(schedule)}"
        event = events.scheduler_event(props["Target"]["Input"], scheduled_time=at, schedule_arn=arn)
        result = self.invoke(self.stack.schedule_target(schedule), event)
        self.pump()
        return result

    def run_reminders(self, start: datetime | None, end: datetime) -> Any:
        """An on-demand fan-out run (a backfill or a missed window): ``{"window": {start, end}}``."""
        window = {"end": end.isoformat(), **({"start": start.isoformat()} if start else {})}
        self.clock.advance_to(end if end.tzinfo else end.replace(tzinfo=UTC))
        result = self.invoke(self.stack.schedule_target("ReminderSchedule"), {"window": window})
        self.pump()
        return result

    def import_csv(self, text: str) -> dict[str, Any]:
        """``clinictext import``: the domain CSV import, run in the appointments function's environment.

        The deployed API has no CSV route; this is the same ``import_csv`` an operator would run with the
        appointments function's configuration. Raises ``CsvRejected`` for a file that cannot be read.
        """
        from infra.local.stack import INVOKE_LOCK, function_environment
        from shared.appointments import wiring
        from shared.appointments.ingest import import_csv

        function = self.stack.functions["AppointmentsApiFunction"]
        with INVOKE_LOCK, function_environment(function.environment), self._captured():
            settings = wiring.reminder_settings()
            report = import_csv(
                text,
                wiring.appointment_book(),
                default_region=settings.default_phone_region,
                offsets=settings.offsets,
            )
        self.pump()
        return report.as_json()

    def outbox(self) -> list[dict[str, str]]:
        from moto.sns.models import sns_backends

        return [
            {"message_id": mid, "to": phone, "text": text}
            for mid, (phone, text) in sns_backends[ACCOUNT][REGION].sms_messages.items()
        ]

    def on_call_pages(self) -> list[dict[str, Any]]:
        """What OnCallTopic was sent (urgent escalations): the JSON messages, which carry no PHI."""
        from moto.sns.models import sns_backends

        topic = sns_backends[ACCOUNT][REGION].topics.get(self.stack.ref("OnCallTopic"))
        return [json.loads(message) for _id, message, *_rest in (topic.sent_notifications if topic else [])]

    # -- staff (the emulated Cognito user pool) ------------------------------------------------------
    def staff_pool(self) -> tuple[str, str]:
        """(user pool id, app client id) of the template's StaffUserPool and StaffAppClient."""
        return self.stack.ref("StaffUserPool"), self.stack.ref("StaffAppClient")

    def add_staff(self, username: str, groups: tuple[str, ...], password: str | None = None) -> str:
        """Create a staff member (as an admin would: AdminCreateUser) with a permanent password, in
        ``groups``; returns the password (generated when not given, never stored)."""
        pool_id, _client = self.staff_pool()
        idp = self.stack.client("cognito-idp")
        password = password or generated_password()
        idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
        return password

    def seed_staff(self) -> dict[str, tuple[tuple[str, ...], str]]:
        """The demo's staff: a nurse, a front-desk person, a billing clerk and an admin, each with a
        generated password (username -> (groups, password)), to be shown once and not kept."""
        return {
            username: (groups, self.add_staff(username, groups)) for username, groups in SEED_STAFF.items()
        }

    def staff_tokens(self, username: str, password: str) -> dict[str, Any]:
        """InitiateAuth USER_PASSWORD_AUTH (the sandbox's app client allows it): the AuthenticationResult."""
        _pool, client_id = self.staff_pool()
        result = self.stack.client("cognito-idp").initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        return dict(result["AuthenticationResult"])

    def web_config(self) -> web_app.WebConfig:
        """The staff web app's config.json for this sandbox: its emulated pool, signing in with a password."""
        pool_id, client_id = self.staff_pool()
        return web_app.WebConfig(REGION, pool_id, client_id, self.aws_endpoint)

    @property
    def web_url(self) -> str:
        return self.api_url + web_app.PREFIX

    # -- the HTTP API ----------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, bool, LocalFunction]]:
        return [
            (method, path, iam, function)
            for function in self.stack.functions.values()
            for method, path, iam in function.http_routes()
        ]

    def _route_auth(self, function: LocalFunction, method: str, path: str) -> tuple[str, list[str]]:
        for route_method, route_path, auth, scopes in function.http_route_auth():
            if (route_method, route_path) == (method, path):
                return auth, scopes
        return "AWS_IAM", []

    def jwt_authorizer(self, name: str) -> JwtAuthorizer:
        """The named JWT authorizer of the template's HTTP API, its JWKS served by the emulated Cognito
        (the issuer's ``/.well-known/jwks.json``, under the local endpoint)."""
        if name not in self._jwt_authorizers:
            config = self.stack.http_authorizers()[name]["JwtConfiguration"]
            issuer = str(config["issuer"])
            pool_id = issuer.rstrip("/").rsplit("/", 1)[1]
            url = f"{self.aws_endpoint}/{pool_id}/.well-known/jwks.json"

            def fetch() -> Any:
                with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310  # local moto  # nosec B310
                    return jwks_from(answer.read().decode())

            audience = config.get("audience") or []
            self._jwt_authorizers[name] = JwtAuthorizer(issuer, list(audience), fetch)
        return self._jwt_authorizers[name]

    def handle_http(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict, bytes]:
        path, _, query = raw_path.partition("?")
        control = self._control(method, path, headers, body)
        if control is not None:
            return control
        page = web_app.serve(method, path, self.web_config()) if path.startswith("/app") else None
        if page is not None:  # the staff web app (web/dist) and its config.json
            return page
        for route_method, route_path, iam, function in self.routes():
            pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route_path) + "$"
            match = re.match(pattern, path)
            if route_method != method or not match:
                continue
            caller = None
            authorizer = None
            auth, scopes = self._route_auth(function, route_method, route_path)
            if iam:
                if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
                    return 403, {"Content-Type": "application/json"}, b'{"message":"Forbidden"}'
                caller = LOCAL_CALLER
            elif auth != "NONE":
                try:
                    authorizer = self.jwt_authorizer(auth).authorize(headers.get("authorization"), scopes)
                except JwtRefused as refused:
                    return refused.answer
            event = events.http_api_event(
                method,
                path,
                route_key=f"{route_method} {route_path}",
                body=body or None,
                headers={**headers, "x-forwarded-proto": "http"},
                query=query,
                path_parameters=match.groupdict() or None,
                iam_caller=caller,
                host=headers.get("host", "127.0.0.1"),
                at=self.clock.now(),  # the request arrives on the story's clock, as every record does
            )
            if authorizer is not None:
                event["requestContext"]["authorizer"] = authorizer
            result = self.invoke(function, event)
            self.pump()
            if len(json.dumps(result, default=str).encode()) > MAX_LAMBDA_RESPONSE:
                # Lambda refuses a response payload over 6 MB; API Gateway then answers 500.
                return 500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}'
            payload = result.get("body", "")
            data = payload.encode() if isinstance(payload, str) else bytes(payload)
            return int(result.get("statusCode", 200)), dict(result.get("headers") or {}), data
        return 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'

    def _control(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict, bytes] | None:
        """Sandbox-only endpoints under /_sandbox for the CLI (not part of the deployed API)."""
        if not path.startswith("/_sandbox/"):
            return None
        ok = {"Content-Type": "application/json"}
        try:
            return self._control_route(method, path, headers, body)
        except _Refused as refused:
            answer = {"message": refused.message, **({"field": refused.field} if refused.field else {})}
            return refused.status, ok, json.dumps(answer).encode()

    def _control_route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict, bytes]:
        ok = {"Content-Type": "application/json"}
        if method == "GET" and path == "/_sandbox/outbox":
            return 200, ok, json.dumps(self.outbox()).encode()
        if method == "GET" and path == "/_sandbox/staff-pool":  # where `clinictext staff` signs in
            pool_id, client_id = self.staff_pool()
            where = {"aws_endpoint": self.aws_endpoint, "region": REGION, "user_pool_id": pool_id}
            return 200, ok, json.dumps({**where, "client_id": client_id}).encode()
        if method == "GET" and path == "/_sandbox/audit":  # where `clinictext audit verify` reads
            where = {
                "aws_endpoint": self.aws_endpoint,
                "region": REGION,
                "audit_table": self.stack.ref("AuditTable"),
                "anchor_bucket": self.stack.ref("AuditAnchorBucket"),
                "data_key_arn": self.stack.arn("DataKey"),
                "keystore_table": self.stack.ref("PhiKeyStoreTable"),
                "branch_key_id": next(iter(self.stack.functions.values())).environment["PHI_BRANCH_KEY_ID"],
            }
            return 200, ok, json.dumps(where).encode()
        if method == "GET" and path == "/_sandbox/clock":  # `clinictext import` plans against this clock
            return 200, ok, json.dumps({"now": self.clock.now().isoformat()}).encode()
        if method == "POST" and path == "/_sandbox/text":
            data = _json_object(headers, body, {"from": str, "body": str, "channel": str}, ("from", "body"))
            channel = data.get("channel", "sms")
            if channel not in ("sms", "twilio"):
                raise _Refused(400, "channel must be 'sms' (AWS two-way SMS) or 'twilio'", "channel")
            try:
                outcome = self.text(data["from"], data["body"], channel=channel)
            except Exception as exc:  # the function failed: the text stays queued, as SNS would retry it
                message = (
                    f"the inbound function failed ({type(exc).__name__}); the text is redelivered, "
                    "see the function log"
                )
                return 502, ok, json.dumps({"message": message}).encode()
            return (200 if outcome["accepted"] else 422), ok, json.dumps(outcome).encode()
        if method == "POST" and path == "/_sandbox/run-reminders":
            from shared.core.errors import InvalidInput

            data = _json_object(headers, body, {"at": str, "start": str, "end": str}, (), empty_ok=True)
            try:
                if data.get("end"):
                    start = _instant(data["start"], "start") if data.get("start") else None
                    result = self.run_reminders(start, _instant(data["end"], "end"))
                else:
                    # Without --at, "now" is the sandbox's now: an earlier scheduled run moved it on.
                    at = _instant(data["at"], "at") if data.get("at") else self.clock.now()
                    result = self.run_schedule(at)
            except (ValueError, InvalidInput) as exc:  # a bad instant, or a window the fan-out refuses
                message = exc.message if isinstance(exc, InvalidInput) else str(exc)
                return 400, ok, json.dumps({"message": message}).encode()
            return 200, ok, json.dumps(result, default=str).encode()
        if method == "GET" and path == "/_sandbox/on-call":
            return 200, ok, json.dumps(self.on_call_pages()).encode()
        if method == "POST" and path == "/_sandbox/run-inbox-sweep":
            from shared.core.errors import InvalidInput

            data = _json_object(headers, body, {"at": str}, (), empty_ok=True)
            try:
                at = _instant(data["at"], "at") if data.get("at") else self.clock.now()
                result = self.run_schedule(at, "InboxSweepSchedule")
            except (ValueError, InvalidInput) as exc:
                message = exc.message if isinstance(exc, InvalidInput) else str(exc)
                return 400, ok, json.dumps({"message": message}).encode()
            return 200, ok, json.dumps(result, default=str).encode()
        if method == "POST" and path == "/_sandbox/import-csv":
            from shared.appointments.csv_import import CsvRejected

            try:
                report = self.import_csv(body.decode("utf-8-sig"))
            except (CsvRejected, UnicodeDecodeError) as exc:
                message = exc.message if isinstance(exc, CsvRejected) else "the file is not UTF-8"
                return 400, ok, json.dumps({"message": message}).encode()
            return 200, ok, json.dumps(report).encode()
        return 404, ok, b'{"message":"unknown sandbox endpoint"}'

    def _serve_api(self) -> None:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            # A per-connection socket timeout: a client that stops sending (a request line, headers, or
            # a body shorter than its Content-Length) is answered or dropped, never waited on forever.
            # ThreadingHTTPServer gives each connection its own thread, so others are served meanwhile.
            timeout = sandbox.read_timeout

            def _dispatch(self) -> None:
                try:
                    body = _read_body(self, sandbox.read_timeout)
                except _Refused as refused:
                    self.close_connection = True
                    error = {"message": refused.message}
                    self._answer(
                        refused.status, {"Content-Type": "application/json"}, json.dumps(error).encode()
                    )
                    return
                self.connection.settimeout(sandbox.read_timeout)  # the answer gets a fresh allowance
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    status, out_headers, data = sandbox.handle_http(self.command, self.path, headers, body)
                except Exception as exc:  # an unhandled function error is a 500, as API Gateway would say
                    status, out_headers = 500, {"Content-Type": "application/json"}
                    data = json.dumps(
                        {"message": "Internal Server Error", "error": type(exc).__name__}
                    ).encode()
                self._answer(status, out_headers, data)

            def _answer(self, status: int, headers: dict, data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._api = ThreadingHTTPServer(("127.0.0.1", self._api_port), Handler)
        self._api.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self._api.server_address[1]}"
        threading.Thread(target=self._api.serve_forever, daemon=True).start()


class _Refused(Exception):
    """A request the sandbox answers with a 4xx before any function sees it."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _read_body(handler: BaseHTTPRequestHandler, timeout: float) -> bytes:
    """The request body, read within ``timeout`` seconds in all (not per byte: a client trickling a
    byte a second is cut off too), at most API Gateway's 10 MB; ``Content-Length`` or chunked."""
    deadline = time.monotonic() + timeout
    encoding = (handler.headers.get("transfer-encoding") or "").strip().lower()
    if encoding == "chunked":
        return _read_chunked(handler, deadline)
    if encoding:
        raise _Refused(501, f"Transfer-Encoding {encoding!r} is not supported; send a Content-Length")
    declared = (handler.headers.get("content-length") or "").strip()
    if not declared:
        return b""
    if not declared.isascii() or not declared.isdigit():
        raise _Refused(400, "Content-Length must be a whole number of bytes")
    length = int(declared)
    if length > MAX_REQUEST_BODY:
        raise _Refused(413, f"the request body is larger than API Gateway's {MAX_REQUEST_BODY} bytes")
    return _read_exactly(handler, length, deadline)


def _read_exactly(handler: BaseHTTPRequestHandler, length: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    remaining = length
    while remaining:
        chunk = _timed(handler, deadline, handler.rfile.read1, min(remaining, 65536))
        if not chunk:
            got = length - remaining
            raise _Refused(400, f"the body ended after {got} of the {length} bytes in its Content-Length")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_chunked(handler: BaseHTTPRequestHandler, deadline: float) -> bytes:
    body = bytearray()
    while True:
        line = _timed(handler, deadline, handler.rfile.readline, 1024)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _Refused(400, "malformed chunk size in a chunked body") from None
        if size == 0:
            while _timed(handler, deadline, handler.rfile.readline, 1024).strip():
                pass  # trailers, read past
            return bytes(body)
        if len(body) + size > MAX_REQUEST_BODY:
            raise _Refused(413, f"the request body is larger than API Gateway's {MAX_REQUEST_BODY} bytes")
        body += _read_exactly(handler, size, deadline)
        _timed(handler, deadline, handler.rfile.readline, 1024)  # the CRLF after the chunk


def _timed(
    handler: BaseHTTPRequestHandler, deadline: float, read: Callable[[int], bytes], size: int
) -> bytes:
    """``read(size)`` on the connection, with what is left of the deadline as the socket timeout."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Refused(408, _TIMEOUT_MESSAGE)
    handler.connection.settimeout(left)
    try:
        return read(size)
    except TimeoutError:
        raise _Refused(408, _TIMEOUT_MESSAGE) from None


_TIMEOUT_MESSAGE = "the request body did not arrive in time (is Content-Length larger than the body sent?)"


def _json_object(
    headers: dict[str, str],
    body: bytes,
    fields: dict[str, type],
    required: tuple[str, ...],
    *,
    empty_ok: bool = False,
) -> dict[str, Any]:
    """A control endpoint's JSON body, read by the API's own body parser (shared.runtime.http: JSON media
    type, size, encoding, depth, numbers, repeated keys), then held to the named fields, each of its JSON
    type. Refused with the field's name (never its value) otherwise."""
    from shared.core.errors import InvalidInput
    from shared.runtime.http import BodyTooLarge, UnsupportedMediaType, json_body

    if not body.strip() and empty_ok:
        return {}
    event = {"headers": headers, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    try:
        data = json_body(event)
    except InvalidInput as exc:
        status = (
            415 if isinstance(exc, UnsupportedMediaType) else 413 if isinstance(exc, BodyTooLarge) else 400
        )
        raise _Refused(status, exc.message, exc.field) from None
    unknown = sorted(set(data) - set(fields))
    if unknown:
        named = [key for key in unknown if _FIELD_NAME.fullmatch(key)]
        listed = f": {', '.join(named)}" if named and len(named) == len(unknown) else ""
        raise _Refused(
            400, f"unknown field(s){listed}; allowed: {', '.join(fields)}", named[0] if named else "body"
        )
    for name in required:
        if name not in data:
            raise _Refused(400, f"{name} is required", name)
    for name, value in data.items():
        kind = fields[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise _Refused(400, f"{name} must be a JSON {_JSON_TYPE[kind]}", name)
    return data


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")  # a key is named back only when it looks like one
_JSON_TYPE = {str: "string", int: "number", bool: "boolean"}


def _error_message(data: bytes) -> str:
    """What an API error response says (``{"error": {"message"}}`` or ``{"message"}``)."""
    try:
        answer = json.loads(data)
    except ValueError:
        return data.decode(errors="replace")[:200]
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict) and error.get("message"):
            field = f"{error['field']}: " if error.get("field") else ""
            return field + str(error["message"])
        if answer.get("message"):
            return str(answer["message"])
    return data.decode(errors="replace")[:200]


def _set_stream(handler: Any, stream: Any) -> Any:
    """``StreamHandler.setStream`` flushes the old stream first, which fails when it was closed (a stopped
    sandbox's log file, a finished test's captured stdout): swap it without flushing then."""
    old = handler.stream
    if getattr(old, "closed", False):
        handler.stream = stream
        return None
    return handler.setStream(stream)


def _instant(value: str, field: str) -> datetime:
    """An ISO 8601 instant from a control request (shared.core.clock's parser and window); one without an
    offset is refused rather than guessed. ``ValueError`` names the field, never the value."""
    from shared.core.clock import check_instant, parse_iso

    example = "e.g. 2026-11-24T15:30:00-08:00"
    try:
        parsed = parse_iso(value)
    except ValueError:
        try:
            datetime.fromisoformat(value.strip())
            reason = "needs a UTC offset"  # it parses, but as a local time of no known zone
        except ValueError:
            reason = "is not an ISO 8601 date-time"
        raise ValueError(f"{field} {reason}, {example}") from None
    try:
        return check_instant(parsed)
    except ValueError as exc:
        raise ValueError(f"{field} {exc}") from None


def run_in_background(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
