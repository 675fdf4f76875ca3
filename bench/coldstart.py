"""Cold start of each function in template.yaml: Lambda's init phase (import the handler module) plus the
first invocation (which builds settings, the boto3 session, clients and services, and makes the function's
first AWS requests), next to a Powertools Logger + Metrics + Tracer "hello" handler measured in the same
run, as a ratio.

Every measurement is a fresh interpreter that sees the function's environment as the template resolves it,
talking to a moto server in this process (never AWS). Before each one the server is reset and the stack
provisioned again from template.yaml, and the state a sample needs is seeded (the sample bundle ingested
for the fan-out and the sender; the Twilio sample's token stored), so every run of a function does the same
work. The event is the function's sample from ``events/``. Reported: the median over ``runs`` of the init
time, the first invocation's time, their sum, the share of the invocation spent waiting on moto's answers
(the requests a real first invocation makes too, but moto's latency is not AWS's), the AWS requests made,
and the process's peak resident memory. CPU time (the child's own, ``time.process_time``) is reported
beside wall time: on a shared machine wall time grows with the load, CPU time much less.

The hello handler is measured interleaved with the functions (one hello interpreter before each function's
interpreter), and each function's ratios are against the hello runs made next to its own, so a change of
load during the run moves both sides alike.

    python -m bench.coldstart [--runs 5] [--python PATH] [--only FUNCTION ...]

``--python`` runs the measured interpreters (hello's and the functions') with another interpreter, for
example a Python 3.12 virtualenv made from requirements/runtime.txt (Lambda's runtime is python3.12); it
needs only the runtime requirements, as moto runs in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import statistics
import subprocess  # nosec B404 - runs this interpreter on fixed code
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"
HELLO = "hello (Powertools Logger + Metrics + Tracer)"
MARKER = "COLDSTART-RESULT "
TARGET_RATIO = 1.3

# The event each function's first invocation handles: its sample from events/, or (for the fan-out and the
# sender, whose samples name past times) a live one the seeding writes: a reminder due now for an opted-in
# patient, found by the fan-out's window, or queued for the sender.
SAMPLES: dict[str, str] = {
    "AppointmentsApiFunction": "appointments_ingest.json",
    "ConsentApiFunction": "consent_api_record.json",
    "DeliveryStatusFunction": "delivery_status.json",
    "InboundSmsFunction": "inbound_sms.json",
    "InboxApiFunction": "inbox_api_me.json",
    "InboxSweepFunction": "inbox_sweep_scheduled.json",
    "MessagesApiFunction": "messages_api_lookup.json",
    "ReminderFanoutFunction": "live: a window holding one due reminder",
    "ReminderSenderFunction": "live: one queued reminder, due now, patient opted in",
    "SecurePageFunction": "secure_page_open.json",
    "TwilioWebhookFunction": "twilio_webhook.json",
}
LIVE_PHONE = "+12065550123"  # fictional 555-01xx

# Lambda's init phase is the module import (plus, for hello, building its three Powertools objects); the
# invocation is one call of the handler with the sample event. Wire time: botocore's HTTP send, patched
# after the import so the import is measured untouched.
_CHILD = r"""
import importlib, json, sys, time, uuid

spec = json.loads(sys.argv[1])
started, started_cpu = time.perf_counter(), time.process_time()
if spec["module"] in ("hello", "floor"):
    from aws_lambda_powertools import Logger, Metrics, Tracer

    logger, metrics, tracer = Logger(), Metrics(), Tracer()

    def work():
        pass

    if spec["module"] == "floor":
        # The least any ClinicText handler does beyond hello: one boto3 client making one request and
        # one pydantic model validating its input (what issue 11 requires: boto3, Powertools' validation).
        import boto3
        from pydantic import BaseModel

        client = boto3.session.Session().client("dynamodb")

        class Body(BaseModel):
            phone: str
            body: str

        def work():
            Body.model_validate({"phone": "+12065550123", "body": "hello"})
            client.list_tables(Limit=1)

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event, context):
        logger.info("hello")
        work()
        metrics.add_metric(name="Hello", unit="Count", value=1)
        return {"statusCode": 200, "body": "hello"}
else:
    handler = getattr(importlib.import_module(spec["module"]), "lambda_handler")
initialised, initialised_cpu = time.perf_counter(), time.process_time()

wire = {"seconds": 0.0, "requests": 0}
if "botocore.httpsession" in sys.modules:
    from botocore.httpsession import URLLib3Session

    _send = URLLib3Session.send

    def send(self, request):
        begun = time.perf_counter()
        try:
            return _send(self, request)
        finally:
            wire["seconds"] += time.perf_counter() - begun
            wire["requests"] += 1

    URLLib3Session.send = send


class Context:
    function_name = spec["function"]
    function_version = "1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function"] + ":live"
    memory_limit_in_mb = 512
    aws_request_id = str(uuid.uuid4())
    log_group_name = "/aws/lambda/" + spec["function"]
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 20000


event = json.loads(open(spec["event"], encoding="utf-8").read()) if spec["event"] else {}
invoking, invoking_cpu = time.perf_counter(), time.process_time()
result = handler(event, Context())
done, done_cpu = time.perf_counter(), time.process_time()
if isinstance(result, dict) and "statusCode" in result:
    outcome = "HTTP %s" % result["statusCode"]
elif isinstance(result, dict) and "batchItemFailures" in result:
    outcome = "%d failed" % len(result["batchItemFailures"])
else:
    outcome = ", ".join("%s=%s" % (k, v) for k, v in (result or {}).items() if isinstance(v, (int, str)))[:60]
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(__MARKER__ + json.dumps({
    "init": initialised - started, "invoke": done - invoking, "wire": wire["seconds"],
    "init_cpu": initialised_cpu - started_cpu, "invoke_cpu": done_cpu - invoking_cpu,
    "requests": wire["requests"], "rss_kib": peak, "outcome": outcome,
    "python": sys.version.split()[0],
}), flush=True)
""".replace("__MARKER__", repr(MARKER))


@dataclass(frozen=True)
class ColdStart:
    name: str
    init: float
    invoke: float
    wire: float
    requests: int
    rss_mib: float
    outcome: str
    cpu: float  # init + first invocation, the child's CPU time
    python: str
    hello_total: float  # the hello runs interleaved with this one's: what its ratios are against
    hello_cpu: float
    hello_rss_mib: float

    @property
    def total(self) -> float:
        return self.init + self.invoke


class _Moto:
    """A moto server in this process and template.yaml provisioned into it, fresh for every measurement."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._saved_environment = dict(os.environ)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",  # moto accepts any key; no AWS is reached  # nosec B105
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "ClinicText",
                "POWERTOOLS_SERVICE_NAME": "bench",
            }
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)

    def fresh_stack(self, logical: str, scratch: Path) -> tuple[Any, Path]:
        """An empty AWS with template.yaml provisioned, seeded for ``logical``'s event; that event's file."""
        import boto3

        from infra.local import make_events
        from infra.local.stack import Stack
        from shared.runtime import wiring

        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=30).close()  # the local moto server  # nosec B310
        wiring.reset()  # new keys and queues: this process's seeding must not reuse the last stack's clients
        secret = boto3.session.Session().client("secretsmanager", region_name="us-east-1")
        secret_arn = secret.create_secret(
            Name="clinictext/twilio-auth-token", SecretString=make_events.SAMPLE_TWILIO_AUTH_TOKEN
        )["ARN"]
        stack = Stack(parameters={"TwilioAuthTokenSecretArn": secret_arn}).provision()
        if not SAMPLES[logical].startswith("live"):
            return stack, EVENTS / SAMPLES[logical]
        with contextlib.redirect_stdout(io.StringIO()):  # the seeding functions' JSON logs
            event = _seed_due_reminder(stack, queue=logical == "ReminderSenderFunction")
        path = scratch / f"{logical}.json"
        path.write_text(json.dumps(event), encoding="utf-8")
        return stack, path

    def stop(self) -> None:
        """Stop the server and give the process its environment back: the benchmarks after this one must
        not send their requests to a stopped server's endpoint (the pacing bench did)."""
        self._server.stop()
        os.environ.clear()
        os.environ.update(self._saved_environment)


def _seed_due_reminder(stack: Any, *, queue: bool) -> dict[str, Any]:
    """Ingest one appointment whose two-hour reminder falls due a few minutes ago and opt its patient in
    (with this process's clock set back, as an EHR export arrives before the reminder is due); for the
    sender, run the fan-out too and return the SQS batch it queued, else return the fan-out's window."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    import boto3

    from infra.demo import reminder_bundle
    from infra.local import events
    from shared.core.clock import SystemClock, iso

    zone = ZoneInfo("America/Los_Angeles")
    now = datetime.now(UTC)
    due = now - timedelta(minutes=5)
    start = (due + timedelta(minutes=120)).astimezone(zone).replace(second=0, microsecond=0)
    patient = ("pat-cold", "Sam", "Coldstart", LIVE_PHONE, "appt-cold", start.time())
    saved = SystemClock.now
    SystemClock.now = lambda _self: due - timedelta(minutes=30)  # type: ignore[method-assign, assignment]
    try:
        consent = events.http_api_event(
            "POST",
            "/consent",
            body=json.dumps(
                {
                    "phone": LIVE_PHONE,
                    "action": "opt_in",
                    "source": "intake_form",
                    "consented_at": iso(due - timedelta(days=1)),
                    "reference": "bench/coldstart",
                }
            ),
            headers={"content-type": "application/json"},
            iam_caller="arn:aws:iam::123456789012:user/bench",
            base64_body=False,
        )
        bundle = events.http_api_event(
            "POST",
            "/appointments",
            body=json.dumps(reminder_bundle(start.date(), [patient])),
            headers={"content-type": "application/fhir+json"},
            iam_caller="arn:aws:iam::123456789012:user/bench",
            base64_body=False,
        )
        for function, event in (("ConsentApiFunction", consent), ("AppointmentsApiFunction", bundle)):
            response = stack.functions[function].invoke(event)
            if response["statusCode"] not in (200, 201):
                raise RuntimeError(f"seeding {function} failed: {response['body'][:300]}")
        window = {"window": {"start": iso(due - timedelta(minutes=5)), "end": iso(now)}}
        if not queue:
            return window
        SystemClock.now = lambda _self: now  # type: ignore[method-assign, assignment]
        ran = stack.functions["ReminderFanoutFunction"].invoke(window)
        if ran.get("queued") != 1:
            raise RuntimeError(f"seeding the sender: the fan-out queued {ran.get('queued')} reminders, not 1")
    finally:
        SystemClock.now = saved  # type: ignore[method-assign]
    sqs = boto3.session.Session().client("sqs", region_name="us-east-1")
    got = sqs.receive_message(
        QueueUrl=stack.ref("ReminderQueue"), MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    return events.sqs_event(stack.arn("ReminderQueue"), got["Messages"])


def _child(spec: dict[str, Any], environment: dict[str, str], python: str) -> dict[str, Any]:
    env = {
        **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}},
        **environment,
        "PYTHONPATH": str(REPO),
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",  # nosec B105 - moto's placeholder
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": spec["function"],
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ClinicText",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    env.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    env["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    done = subprocess.run(  # our interpreter (or --python's), fixed child code  # nosec B603
        [python, "-c", _CHILD, json.dumps(spec)], capture_output=True, text=True, env=env, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode or not lines:
        raise RuntimeError(f"{spec['function']} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return dict(json.loads(lines[-1][len(MARKER) :]))


def _median(figures: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(f[key] for f in figures))


def _total(figure: dict[str, Any]) -> float:
    return float(figure["init"] + figure["invoke"])


def _cpu(figure: dict[str, Any]) -> float:
    return float(figure["init_cpu"] + figure["invoke_cpu"])


def _summary(name: str, figures: list[dict[str, Any]], hello: list[dict[str, Any]]) -> ColdStart:
    return ColdStart(
        name,
        _median(figures, "init"),
        _median(figures, "invoke"),
        _median(figures, "wire"),
        int(_median(figures, "requests")),
        _median(figures, "rss_kib") / 1024,
        statistics.mode(f["outcome"] for f in figures),
        cpu=float(statistics.median(_cpu(f) for f in figures)),
        python=figures[0]["python"],
        hello_total=float(statistics.median(_total(f) for f in hello)),
        hello_cpu=float(statistics.median(_cpu(f) for f in hello)),
        hello_rss_mib=_median(hello, "rss_kib") / 1024,
    )


def _functions() -> list[tuple[str, str]]:
    from infra.local.cfn_yaml import load_template

    resources = load_template(REPO / "template.yaml")["Resources"]
    return sorted(
        (logical, str(spec["Properties"]["Handler"]).rsplit(".", 1)[0])
        for logical, spec in resources.items()
        if spec["Type"] == "AWS::Serverless::Function"
    )


HELLO_SPEC = {"module": "hello", "function": "hello", "event": ""}
FLOOR = "floor: hello + one boto3 client and request + one pydantic model"
FLOOR_SPEC = {"module": "floor", "function": "floor", "event": ""}


def run(runs: int = 5, *, python: str = sys.executable, only: list[str] | None = None) -> list[ColdStart]:
    """The hello row first, then one row per function; every function's run comes right after a hello run."""
    functions = [(logical, module) for logical, module in _functions() if not only or logical in only]
    if only and len(functions) != len(set(only)):
        raise RuntimeError(f"--only names a function template.yaml does not have: {sorted(only)}")
    moto = _Moto()
    try:
        every_hello: list[dict[str, Any]] = []
        rows = []
        floor, floor_hello = [], []
        for _ in range(runs):  # what no handler can go below, measured the same way
            floor_hello.append(_child(HELLO_SPEC, {}, python))
            floor.append(_child(FLOOR_SPEC, {}, python))
        rows.append(_summary(FLOOR, floor, floor_hello))
        every_hello += floor_hello
        with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
            for logical, module in functions:
                if logical not in SAMPLES:
                    raise RuntimeError(f"{logical} has no cold-start event in bench/coldstart.py SAMPLES")
                figures, hello = [], []
                for _ in range(runs):
                    stack, event = moto.fresh_stack(logical, Path(scratch))
                    hello.append(_child(HELLO_SPEC, {}, python))
                    spec = {"module": module, "function": logical, "event": str(event)}
                    figures.append(_child(spec, stack.functions[logical].environment, python))
                rows.append(_summary(logical, figures, hello))
                every_hello += hello
        return [_summary(HELLO, every_hello, every_hello), *rows]
    finally:
        moto.stop()


def table(results: list[ColdStart], runs: int = 5) -> str:
    lines = [
        f"Median of {runs} fresh interpreters each (Python {results[0].python}), each function on a freshly "
        f"provisioned moto stack with its sample event, each run right after a run of {HELLO}; a function's "
        f"ratios are against the hello runs made next to its own (target <= {TARGET_RATIO}x for init + first "
        "invocation). 'wire': the part of the invocation spent waiting on moto's answers. 'CPU': the "
        "interpreter's own CPU time for init + first invocation (less moved by other load on the machine). "
        f"'{FLOOR}': Powertools' three objects, one boto3 client and one request, one pydantic model, "
        "and nothing of ClinicText: what any handler that reads AWS and validates its input pays.",
        "",
        "| function | init ms | 1st invoke ms | (wire ms) | AWS requests | init + 1st ms | x hello "
        "| x hello w/o wire | CPU ms | x hello CPU | peak RSS MiB | x hello | 1st invocation |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.init * 1000:.0f} | {r.invoke * 1000:.0f} | {r.wire * 1000:.0f} | {r.requests} "
            f"| {r.total * 1000:.0f} | {r.total / r.hello_total:.2f} "
            f"| {(r.total - r.wire) / r.hello_total:.2f} "
            f"| {r.cpu * 1000:.0f} | {r.cpu / r.hello_cpu:.2f} "
            f"| {r.rss_mib:.1f} | {r.rss_mib / r.hello_rss_mib:.2f} | {r.outcome} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per function (median)")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter of the measured processes, e.g. a Python 3.12 venv of requirements/runtime.txt",
    )
    parser.add_argument("--only", nargs="+", metavar="FUNCTION", help="measure only these functions")
    args = parser.parse_args(argv)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    print(table(run(args.runs, python=args.python, only=args.only), args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
