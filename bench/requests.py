"""AWS requests per delivered reminder, all in, counted at the HTTP layer, at two send rates.

N synthetic patients (unique numbers, one appointment each) go through the deployed pipeline on moto,
in-process, built from template.yaml:

1. **ingest**: FHIR batch Bundles of 100 posted to AppointmentsApiFunction;
2. **fan-out**: the scheduled ReminderFanoutFunction run that queues the due reminders, and again every
   ``ReminderScheduleRate`` (5 minutes) for as long as the send lasts, as EventBridge Scheduler would;
3. **sender**: ReminderSenderFunction invocations with the SQS batches Lambda hands it;
4. **lambda-sqs-polling**: Lambda's SQS event source mapping, played by the harness against the real moto
   queue through the counted client (the model is below);
5. **delivery-status**: the SNS SMS delivery-status log lines for every text moto recorded, in SNS's
   format (``infra.local.events.sns_delivery_log``, as in ``events/delivery_status.json``), fed to
   DeliveryStatusFunction in CloudWatch Logs subscription batches.

Every HTTP attempt any botocore client makes is counted (``bench.httpcount``: retries included), by
phase, service and operation. "All in" is phases 2-5 per delivered reminder (the issue's "13.3": the send
phase plus Lambda's polling plus delivery status); ingest is reported per appointment.

**Time is virtual** (``bench.virtualtime``). The domain clock (``SystemClock``), the pacer's and the
sender's ``time`` (``time.time``/``time.sleep``, also where they were bound as default arguments), the
Lambda context's remaining time, moto's SQS visibility clock and the Encryption SDK's and MPL's
cache ages all read one virtual clock. Concurrent senders are cooperative tasks that run one at a
time and switch only where real ones would wait: in the pacer's sleep. So a 1 part/s run of 1,000
texts (about 18 virtual minutes) takes as long as the 100 parts/s one, and the pacing code runs as
deployed.

**Containers.** Each poller's invocations run in their own simulated Lambda container
(``bench.containers``): own wiring caches (so own PHI data-key cache), own handler module. KMS is per
container and cache window, and that is what is counted.

**The event source mapping model** (what Lambda does for an SQS trigger; AWS does not bill these to the
function, it bills them as SQS requests of the account):

* ``pollers`` = the event source's ``ScalingConfig.MaximumConcurrency`` as template.yaml resolves it for
  the run's parameters (``SenderConcurrency`` 0, the default, picks it by ``OriginationType``: ShortCode
  10, TenDLC 2; a value given to the bench is passed as ``SenderConcurrency``); each poller runs one
  invocation at a time with the batch it received (``BatchSize`` 10);
* a poller long-polls (``ReceiveMessage``, 20 s wait, up to 10 messages). If messages are visible it gets
  them at once; if some become visible within the 20 s (a failed message's visibility timeout ends) the
  same request returns them then; otherwise it is one empty receive and the poller polls again;
* after an invocation: one ``DeleteMessageBatch`` for the items that succeeded, and one
  ``ChangeMessageVisibility`` per failed item (``batchItemFailures``; the queue's visibility timeout
  again). This last one is a conservative assumption: Lambda may instead leave the message to time out;
* the run lasts from the first fan-out until the queue is empty; each poller's last (empty) receive is
  counted. Between runs the pollers keep long-polling an empty queue; that idle cost is the same however
  many reminders are sent, so it is printed separately (per hour), not divided into the per-reminder figure.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from bench.httpcount import UNPHASED, HttpCounter
from bench.virtualtime import VirtualTime

NAIVE_REQUESTS_PER_REMINDER = 8
FLOOR_REQUESTS_PER_REMINDER = 1
BUNDLE_SIZE = 100  # patients per FHIR Bundle posted
ZONE = ZoneInfo("America/Los_Angeles")
LONG_POLL_SECONDS = 20.0
SCHEDULE_SECONDS = 300.0  # ReminderScheduleRate's default, rate(5 minutes)
DELIVERY_REPORT_SECONDS = 1.5  # SNS's log line arrives about this long after Publish
SETUP = "(harness set-up, not counted)"

PHASES = ["ingest", "fan-out", "sender", "lambda-sqs-polling", "delivery-status"]
ALL_IN = PHASES[1:]
SERVICES = ["dynamodb", "sqs", "sns", "kms", "logs"]

# The targets (issue 11, "Requests and KMS").
TARGET_ALL_IN = {100.0: 3.0, 1.0: 5.0}
TARGET_INGEST = 1.5
TARGET_KMS_PER_1000 = 1.0
CACHE_WINDOW_SECONDS = 600.0  # PHI_CACHE_MAX_AGE_SECONDS's default: the PHI key caches' window


@dataclass
class EsmStats:
    pollers: int = 0
    receives_with_messages: int = 0
    empty_receives: int = 0
    invocations: int = 0
    failed_items: int = 0
    redeliveries: int = 0
    over_timeout: int = 0
    fanout_runs: int = 0


@dataclass
class RateRun:
    label: str
    parts_per_second: float
    reminders: int
    delivered: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    esm: EsmStats = field(default_factory=EsmStats)
    virtual_seconds: float = 0.0  # first fan-out to the last batch's bookkeeping
    polling_seconds: float = 0.0  # until the pollers' last long polls of the run ended
    wall_seconds: dict[str, float] = field(default_factory=dict)
    texts_per_container: Counter[str] = field(default_factory=Counter)
    kms_per_container: Counter[str] = field(default_factory=Counter)
    # First and last virtual time each container made a KMS request or published: the windows it spans.
    container_span: dict[str, list[float]] = field(default_factory=dict)
    delivery_batches: int = 0
    delivery_outcomes: Counter[str] = field(default_factory=Counter)
    patched: list[str] = field(default_factory=list)

    def phase_total(self, phase: str) -> int:
        return sum(self.counts.get(phase, Counter()).values())

    def all_in(self) -> int:
        return sum(self.phase_total(p) for p in ALL_IN)

    def service(self, phase: str, service: str) -> int:
        return sum(n for op, n in self.counts.get(phase, Counter()).items() if op.split(":")[0] == service)

    def kms_per_sender_window(self) -> float:
        """The most KMS requests any sender container made per cache window it was busy in."""
        worst = 0.0
        for container, kms in self.kms_per_container.items():
            if not container.startswith("sender-"):
                continue
            first, last = self.container_span.get(container, [0.0, 0.0])
            windows = int((last - first) // CACHE_WINDOW_SECONDS) + 1
            worst = max(worst, kms / windows)
        return worst


def _patients(count: int, day: date) -> list[tuple[str, str, str, str, str, clock_time]]:
    rows = []
    for i in range(count):
        minutes = 10 * 60 + (i % 360)  # 10:00 - 15:59 local: every reminder inside the quiet-hours window
        rows.append(
            (
                f"pat-b{i}",
                "Sam",
                f"Bench{i}",
                f"+1206{200 + i // 10000:03d}{i % 10000:04d}",
                f"appt-b{i}",
                clock_time(minutes // 60, minutes % 60),
            )
        )
    return rows


class _TimeShim:
    """The ``time`` module as the send path sees it: virtual ``time``/``sleep``/``monotonic``."""

    def __init__(self, clock: VirtualTime) -> None:
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def time(self) -> float:
        return self._clock.time()

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)

    def monotonic(self) -> float:
        return self._clock.time()


def _is_time_source(value: Any, real: dict[Any, Any]) -> bool:
    try:
        return callable(value) and value in real
    except TypeError:  # unhashable
        return False


@contextmanager
def virtual_time_sources(clock: VirtualTime, patched: list[str]) -> Iterator[None]:
    """Point every time source the send path reads at ``clock``; undo on exit. ``patched`` lists them."""
    import importlib
    import inspect
    import sys

    import moto.sqs.models as sqs_models

    from shared.core.clock import SystemClock

    undo: list[tuple[Any, str, Any]] = []

    def swap(owner: Any, name: str, value: Any, label: str) -> None:
        undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)
        patched.append(label)

    shim = _TimeShim(clock)
    swap(SystemClock, "now", lambda _self: clock.datetime(), "shared.core.clock.SystemClock.now")
    real = {time.time: shim.time, time.sleep: shim.sleep, time.monotonic: shim.monotonic}
    for name, module in sorted(sys.modules.items()):
        if not name.startswith("shared.") or module is None:
            continue
        if getattr(module, "time", None) is time:
            swap(module, "time", shim, f"{name}.time")
        for attr, value in list(vars(module).items()):
            if not inspect.isclass(value) or value.__module__ != name:
                continue
            for method_name, method in list(vars(value).items()):
                if not inspect.isfunction(method):
                    continue
                defaults = method.__kwdefaults__ or {}
                hits = {k: real[v] for k, v in defaults.items() if _is_time_source(v, real)}
                if hits:
                    swap(
                        method,
                        "__kwdefaults__",
                        {**defaults, **hits},
                        f"{name}.{attr}.{method_name}({', '.join(hits)})",
                    )
                positional = method.__defaults__ or ()
                if any(_is_time_source(v, real) for v in positional):
                    new = tuple(real[v] if _is_time_source(v, real) else v for v in positional)
                    swap(method, "__defaults__", new, f"{name}.{attr}.{method_name}(positional defaults)")
    swap(sqs_models, "unix_time", lambda *_a: clock.time(), "moto.sqs.models.unix_time")
    swap(
        sqs_models, "unix_time_millis", lambda *_a: clock.time() * 1000.0, "moto.sqs.models.unix_time_millis"
    )
    try:
        caches = importlib.import_module("aws_encryption_sdk.caches")
        if getattr(caches, "time", None) is time:
            swap(caches, "time", shim, "aws_encryption_sdk.caches.time (data-key cache age)")
    except ImportError:
        pass
    try:  # the hierarchical keyring's cache (PHI format 3) reads the Dafny standard library's clock
        dafny_time = importlib.import_module("smithy_dafny_standard_library.internaldafny.generated.Time")
        swap(
            dafny_time.default__,
            "CurrentRelativeTime",
            staticmethod(lambda: round(clock.time())),
            "MPL keyring cache age (Dafny Time.CurrentRelativeTime)",
        )
        swap(
            dafny_time.default__,
            "CurrentRelativeTimeMilli",
            staticmethod(lambda: round(clock.time() * 1000)),
            "MPL keyring cache age (Dafny Time.CurrentRelativeTimeMilli)",
        )
    except ImportError:
        pass
    try:
        yield
    finally:
        for owner, name, value in reversed(undo):
            setattr(owner, name, value)


class VirtualContext:
    """What Lambda passes as ``context``, its remaining time on the virtual clock."""

    def __init__(self, clock: VirtualTime, function_name: str, timeout: float, memory: int) -> None:
        import uuid

        self._clock = clock
        self._deadline = clock.time() + timeout
        self.function_name = function_name
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.time()) * 1000))


def sender_pollers(stack: Any) -> int:
    """Lambda's concurrent pollers of ReminderQueue: the sender's ``ScalingConfig.MaximumConcurrency``
    as template.yaml resolves it for the stack's parameters."""
    event = stack.template["Resources"]["ReminderSenderFunction"]["Properties"]["Events"]["Queue"]
    return int(stack.resolve(event["Properties"]["ScalingConfig"]["MaximumConcurrency"]))


def run_rate(reminders: int, parts_per_second: float, pollers: int | None, label: str) -> RateRun:
    import importlib

    # Import every function's handler (and so every package it wires) first: the time sources and
    # the per-container caches are patched where these modules hold them.
    import pkgutil

    import boto3
    from moto import mock_aws
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    import shared
    from bench.containers import Containers
    from infra.demo import reminder_bundle
    from infra.local import events
    from infra.local.moto_speed import item_level_transactions, json_dynamodb_responses, linear_sqs
    from infra.local.stack import Stack, function_environment
    from shared.core.segments import analyze
    from shared.runtime import wiring

    for _logical, spec in Stack().resources("AWS::Serverless::Function"):
        importlib.import_module(str(spec["Properties"]["Handler"]).rsplit(".", 1)[0])
    # Handlers import some modules at first use (cold start): import the whole package up front.
    for module in pkgutil.walk_packages(shared.__path__, "shared."):
        importlib.import_module(module.name)
    result = RateRun(label=label, parts_per_second=parts_per_second, reminders=reminders)
    day = (datetime.now(ZONE) + timedelta(days=5)).date()
    send_at = datetime.combine(day - timedelta(days=2), clock_time(16, 30), tzinfo=ZONE)
    ingest_at = send_at - timedelta(days=1)  # the EHR export arrives before the reminders fall due
    clock = VirtualTime(ingest_at.timestamp())
    counter = HttpCounter()
    published: dict[str, float] = {}

    def on_publish(service: str, operation: str, parsed: Any) -> None:
        if service == "kms" and counter.current_phase() != SETUP:
            result.kms_per_container[clock.container()] += 1
            _span(clock.container(), clock.time())
        if service == "sns" and operation == "Publish" and parsed and parsed.get("MessageId"):
            published[parsed["MessageId"]] = clock.time()
            result.texts_per_container[clock.container()] += 1
            _span(clock.container(), clock.time())

    def _span(container: str, at: float) -> None:
        span = result.container_span.setdefault(container, [at, at])
        span[0], span[1] = min(span[0], at), max(span[1], at)

    counter.observe(on_publish)
    wiring.reset()
    origination = "ShortCode" if parts_per_second >= 100 else "TenDLC"
    try:
        with (
            mock_aws(),
            item_level_transactions(),
            linear_sqs(),
            json_dynamodb_responses(),
            counter.installed(),
            virtual_time_sources(clock, result.patched),
            Containers(clock) as containers,
        ):
            with counter.phase(SETUP):
                parameters = {
                    "SendRatePartsPerSecond": f"{parts_per_second:g}",
                    "OriginationType": origination,
                }
                if pollers is not None:
                    parameters["SenderConcurrency"] = str(pollers)
                stack = Stack(parameters=parameters).provision()
                pollers = sender_pollers(stack)
                result.esm.pollers = pollers
                sqs = boto3.client("sqs")
            url, arn = stack.ref("ReminderQueue"), stack.arn("ReminderQueue")
            queue_name = url.rsplit("/", 1)[-1]
            visibility = int(
                stack.template["Resources"]["ReminderQueue"]["Properties"].get("VisibilityTimeout", 30)
            )
            api = stack.functions["AppointmentsApiFunction"]
            patients = _patients(reminders, day)

            # 1. ingest
            started = time.perf_counter()
            clock.set_main_container("ingest")
            with counter.phase("ingest"):
                for first in range(0, reminders, BUNDLE_SIZE):
                    bundle = reminder_bundle(day, patients[first : first + BUNDLE_SIZE])
                    event = events.http_api_event(
                        "POST",
                        "/appointments",
                        body=json.dumps(bundle),
                        headers={"content-type": "application/fhir+json"},
                        iam_caller="arn:aws:iam::123456789012:user/bench",
                        base64_body=False,
                    )
                    response = api.invoke(event)
                    if response["statusCode"] != 200:
                        raise RuntimeError(f"ingest failed: {response['body'][:300]}")
            result.wall_seconds["ingest"] = time.perf_counter() - started

            # 2. the first scheduled fan-out
            clock.set(send_at.timestamp())
            run_started = clock.time()
            logical = "ReminderSchedule"  # the fan-out's (InboxSweepSchedule runs the inbox sweep)
            props = dict(stack.schedules())[logical]
            fanout_function = stack.schedule_target(logical)

            def fan_out(at: float) -> Any:
                event = events.scheduler_event(
                    props["Target"]["Input"],
                    scheduled_time=datetime.fromtimestamp(at, UTC),
                    schedule_arn=f"arn:bench:{logical}",
                )
                with counter.phase("fan-out"):
                    result.esm.fanout_runs += 1
                    return fanout_function.invoke(event)

            started = time.perf_counter()
            clock.set_main_container("fanout")
            queued = fan_out(clock.time())
            if queued["queued"] != reminders:
                raise RuntimeError(f"fan-out queued {queued['queued']} of {reminders}")
            result.wall_seconds["fan-out"] = time.perf_counter() - started

            # 3 and 4: pollers, sender invocations and the rescheduled fan-out, on the virtual clock
            queue = sqs_backends["123456789012"]["us-east-1"].queues[queue_name]
            sender = stack.functions["ReminderSenderFunction"]
            busy = {"invocations": 0}

            def queue_empty() -> bool:
                return not queue._messages

            def next_visible() -> float | None:
                hidden = [m.visible_at / 1000.0 for m in queue._messages if not m.visible]
                return min(hidden) if hidden else None

            def visible_now() -> bool:
                return any(m.visible and not m.delayed for m in queue._messages)

            def poller(index: int) -> None:
                stats = result.esm
                while True:
                    with counter.phase("lambda-sqs-polling"):
                        if not visible_now():
                            soonest = next_visible()
                            if soonest is not None and soonest <= clock.time() + LONG_POLL_SECONDS:
                                clock.sleep(soonest - clock.time() + 0.001)  # the long poll is answered
                            elif not queue_empty() or busy["invocations"]:
                                sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                                stats.empty_receives += 1
                                clock.sleep(LONG_POLL_SECONDS)
                                if queue_empty() and not busy["invocations"]:
                                    return  # that empty long poll was this poller's last in the run
                                continue
                        got = sqs.receive_message(
                            QueueUrl=url,
                            MaxNumberOfMessages=10,
                            WaitTimeSeconds=0,
                            AttributeNames=["All"],
                            MessageAttributeNames=["All"],
                        )
                    messages = got.get("Messages", [])
                    if not messages:
                        result.esm.empty_receives += 1
                        if queue_empty() and not busy["invocations"]:
                            return  # the run is over: this was the poller's last long poll
                        clock.sleep(LONG_POLL_SECONDS)
                        continue
                    stats.receives_with_messages += 1
                    stats.invocations += 1
                    stats.redeliveries += sum(
                        int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")) > 1 for m in messages
                    )
                    handler = containers.handler(sender.handler)
                    context = VirtualContext(clock, sender.logical_id, sender.timeout, sender.memory)
                    began = clock.time()
                    busy["invocations"] += 1
                    try:
                        with counter.phase("sender"):
                            outcome = handler(events.sqs_event(arn, messages), context)
                    finally:
                        busy["invocations"] -= 1
                    if clock.time() - began > sender.timeout:
                        stats.over_timeout += 1
                    failed = {f["itemIdentifier"] for f in (outcome or {}).get("batchItemFailures", [])}
                    stats.failed_items += len(failed)
                    done = [m for m in messages if m["MessageId"] not in failed]
                    with counter.phase("lambda-sqs-polling"):
                        last_delete["at"] = clock.time()
                        if done:
                            sqs.delete_message_batch(
                                QueueUrl=url,
                                Entries=[
                                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                                    for n, m in enumerate(done)
                                ],
                            )
                        for m in messages:
                            if m["MessageId"] in failed:
                                sqs.change_message_visibility(
                                    QueueUrl=url,
                                    ReceiptHandle=m["ReceiptHandle"],
                                    VisibilityTimeout=visibility,
                                )

            pollers_left = {"n": pollers}

            ended = {"at": clock.time()}
            last_delete = {"at": clock.time()}

            def poller_task(index: int) -> Any:
                def body() -> None:
                    try:
                        poller(index)
                    finally:
                        pollers_left["n"] -= 1
                        ended["at"] = max(ended["at"], clock.time())

                return body

            def scheduler() -> None:
                next_run = run_started + SCHEDULE_SECONDS
                while True:
                    clock.sleep(next_run - clock.time())
                    if pollers_left["n"] == 0:
                        return
                    fan_out(next_run)
                    next_run += SCHEDULE_SECONDS

            started = time.perf_counter()
            with function_environment(sender.environment):
                for index in range(pollers):
                    clock.spawn(f"poller-{index}", poller_task(index), container=f"sender-{index}")
                clock.spawn("scheduler", scheduler, container="fanout")
                clock.run()
            result.wall_seconds["sender + polling"] = time.perf_counter() - started
            result.virtual_seconds = last_delete["at"] - run_started
            result.polling_seconds = ended["at"] - run_started

            # 5. delivery status: SNS's log line for each text, in CloudWatch Logs subscription batches
            started = time.perf_counter()
            clock.set_main_container("delivery-status")
            texts = sns_backends["123456789012"]["us-east-1"].sms_messages
            result.delivered = len(texts)
            by_second: dict[int, list[str]] = {}
            for message_id, (phone, body) in texts.items():
                at = published.get(message_id, clock.time()) + DELIVERY_REPORT_SECONDS
                line = events.sns_delivery_log(
                    message_id,
                    phone,
                    "delivered",
                    at=datetime.fromtimestamp(at, UTC),
                    parts=max(1, analyze(body).segments),
                )
                by_second.setdefault(int(at), []).append(json.dumps(line))
            status_function = stack.functions["DeliveryStatusFunction"]
            group = stack.ref("SmsDeliveryLogGroup")
            with counter.phase("delivery-status"):
                for second in sorted(by_second):
                    clock.set(second + 1.0)
                    lines = by_second[second]
                    for first in range(0, len(lines), 10_000):
                        answer = status_function.invoke(
                            events.cloudwatch_logs_event(
                                group,
                                lines[first : first + 10_000],
                                timestamps=[second * 1000] * len(lines[first : first + 10_000]),
                                first_id=first,
                            )
                        )
                        result.delivery_batches += 1
                        for outcome, n in (answer or {}).items():
                            result.delivery_outcomes[outcome] += int(n)
            result.wall_seconds["delivery-status"] = time.perf_counter() - started
    finally:
        wiring.reset()
    result.counts = {phase: Counter(ops) for phase, ops in counter.counts.items()}
    return result


def run(
    reminders: int = 1000, *, fast_pollers: int | None = None, slow_pollers: int | None = None
) -> list[RateRun]:
    """The two rates of issue 11: a short code (100 parts/s) and 1 part/s (10DLC); pollers as the
    template declares them unless given."""
    return [
        run_rate(reminders, 100.0, fast_pollers, "short code, 100 parts/s"),
        run_rate(reminders, 1.0, slow_pollers, "10DLC, 1 part/s"),
    ]


# --- the report ---------------------------------------------------------------------------------------


def _per(n: float, d: int) -> str:
    return f"{n / max(d, 1):.2f}"


def _met(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def targets_table(runs: list[RateRun]) -> str:
    lines = [
        "| rate | figure | measured | target | |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        all_in = r.all_in() / max(r.delivered, 1)
        target = TARGET_ALL_IN.get(r.parts_per_second, TARGET_ALL_IN[1.0])
        ingest = r.phase_total("ingest") / max(r.reminders, 1)
        kms = r.kms_per_sender_window()
        lines += [
            f"| {r.label} | all-in requests per delivered reminder | {all_in:.2f} | ≤ {target:g} "
            f"| {_met(all_in, target)} |",
            f"| {r.label} | ingest requests per appointment | {ingest:.2f} | ≤ {TARGET_INGEST:g} "
            f"| {_met(ingest, TARGET_INGEST)} |",
            f"| {r.label} | KMS requests per sender container and cache window (so per 1,000 texts "
            f"once a container sends 1,000 in a window) | {kms:.1f} | ≤ {TARGET_KMS_PER_1000:g} "
            f"| {_met(kms, TARGET_KMS_PER_1000)} |",
        ]
    return "\n".join(lines)


def phase_table(r: RateRun) -> str:
    delivered = max(r.delivered, 1)
    lines = [
        "| phase | " + " | ".join(SERVICES) + " | other | total | per delivered reminder |",
        "|---|" + "---|" * (len(SERVICES) + 3),
    ]
    for phase in [*PHASES, "all in (fan-out to delivery status)"]:
        phases = ALL_IN if phase.startswith("all in") else [phase]
        per_service = [sum(r.service(p, s) for p in phases) for s in SERVICES]
        total = sum(r.phase_total(p) for p in phases)
        other = total - sum(per_service)
        label = f"**{phase}**" if phase.startswith("all in") else phase
        lines.append(
            f"| {label} | "
            + " | ".join(str(n) for n in per_service)
            + f" | {other} | {total} | {_per(total, delivered)} |"
        )
    return "\n".join(lines)


def operations_lines(r: RateRun) -> str:
    lines = []
    for phase in PHASES:
        ops = r.counts.get(phase, Counter())
        listed = ", ".join(f"{op} {n}" for op, n in ops.most_common()) or "none"
        lines.append(f"* {phase}: {listed}")
    outside = r.counts.get(UNPHASED, Counter())
    if outside:
        lines.append("* outside any phase: " + ", ".join(f"{op} {n}" for op, n in outside.most_common()))
    return "\n".join(lines)


def esm_lines(r: RateRun) -> str:
    e = r.esm
    idle_per_hour = e.pollers * 3600 / LONG_POLL_SECONDS
    containers = sorted(k for k in r.texts_per_container if k.startswith("sender-"))
    spread = ", ".join(f"{r.texts_per_container[k]} ({r.kms_per_container[k]} KMS)" for k in containers)
    others = ", ".join(
        f"{k} {n}" for k, n in sorted(r.kms_per_container.items()) if not k.startswith("sender-") and n
    )
    return "\n".join(
        [
            f"* {e.pollers} pollers; the send took {r.virtual_seconds:.1f} s of virtual time "
            f"({r.delivered} texts, {r.delivered / max(r.virtual_seconds, 1e-9):.1f} texts/s), the pollers' "
            f"last long polls ended at {r.polling_seconds:.1f} s; "
            f"scheduled fan-out runs: {e.fanout_runs}.",
            f"* ReceiveMessage with messages {e.receives_with_messages}, empty {e.empty_receives}; "
            f"sender invocations {e.invocations}; failed items returned to the queue {e.failed_items}; "
            f"messages received more than once {e.redeliveries}; invocations longer than the function "
            f"timeout {e.over_timeout}.",
            f"* Texts (and KMS requests) per sender container: {spread or 'none'}; KMS elsewhere: "
            f"{others or 'none'}. KMS is paid per container and cache window, so it falls per text as "
            "each container sends more.",
            f"* Delivery status: {r.delivery_batches} subscription batches; outcomes "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.delivery_outcomes.items()) if v)
            + ".",
            f"* Idle polling between runs (not in the figures above): {e.pollers} pollers x 3 empty "
            f"long polls a minute = {idle_per_hour:,.0f} ReceiveMessage an hour, however many reminders.",
            "* Wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in r.wall_seconds.items()) + ".",
        ]
    )


MODEL = """\
### How this is counted

* **HTTP attempts.** Every request any botocore client makes is counted where botocore sends it
  (`Endpoint._do_get_response`, where moto answers), so SDK retries count;
  `tests/unit/test_bench_httpcount.py` proves a throttled first attempt counts 2. Harness set-up
  (provisioning the stack) is not counted.
* **All in** = fan-out + sender + Lambda's SQS polling + delivery status, per delivered reminder (SNS
  Publish accepted). Ingest is its own target, per appointment.
* **Virtual time.** The domain clock, the pacer's and the sender's `time`/`sleep` (also where bound as
  default arguments), the Lambda context's remaining time, moto's SQS visibility clock and the Encryption
  SDK's cache age read one virtual clock (the list is printed below). Concurrent senders are cooperative
  tasks that switch only where a real sender waits (the pacer's sleep), so the pacing code runs as
  deployed and a 1 part/s run takes no longer than a 100 parts/s one.
* **Containers.** Each poller's invocations run in their own simulated Lambda container: own wiring
  caches (so its own PHI data-key cache) and own handler module. KMS is counted per container and cache
  window, as AWS would bill it.
* **Lambda's SQS event source mapping** (billed as SQS requests): pollers = the sender's
  `ScalingConfig.MaximumConcurrency` as template.yaml resolves it for the run (`SenderConcurrency` 0
  picks it by `OriginationType`: ShortCode 10, TenDLC 2), each running one invocation at a time with a
  batch of up to 10.
  A poller long-polls (`ReceiveMessage`, 20 s): visible messages are returned at once; messages that
  become visible within the 20 s (a failed item's visibility timeout ends) are returned by the same
  request; otherwise it is one empty receive and it polls again. After an invocation: one
  `DeleteMessageBatch` for the items that succeeded and one `ChangeMessageVisibility` per failed item
  (conservative: Lambda may instead let the visibility timeout run out). The run lasts from the first
  fan-out until the queue is empty, each poller's last empty receive included. Between runs the pollers
  keep polling an empty queue whatever is sent; that idle cost is printed per hour, not per reminder.
* **Fan-out** runs at the start and again every 5 minutes (`ReminderScheduleRate`) while the send lasts.
* **Delivery status.** For each text moto recorded, SNS's delivery-status log line (the shape of
  `events/delivery_status.json`, `infra.local.events.sns_delivery_log`), 1.5 s after its Publish, fed to
  DeliveryStatusFunction in CloudWatch Logs subscription batches of the lines of each second (at most
  10,000 a batch)."""


def table(runs: list[RateRun]) -> str:
    out = [
        "Counted at the HTTP layer (every botocore attempt, retries included), on a virtual clock; "
        f"{runs[0].reminders if runs else 0} reminders per rate.",
        "",
        "### Against the issue's targets",
        "",
        targets_table(runs),
    ]
    for r in runs:
        out += [
            "",
            f"### {r.label}: {r.reminders} due, {r.delivered} delivered (SNS Publish accepted)",
            "",
            phase_table(r),
            "",
            "By operation:",
            "",
            operations_lines(r),
            "",
            "Event source mapping and run:",
            "",
            esm_lines(r),
        ]
    if runs:
        out += [
            "",
            f"Naive design: {NAIVE_REQUESTS_PER_REMINDER} requests per reminder in the send phase alone; "
            f"floor: {FLOOR_REQUESTS_PER_REMINDER} (one Publish). Time sources on the virtual clock: "
            + "; ".join(sorted(set(runs[0].patched)))
            + ".",
        ]
    out += ["", MODEL]
    return "\n".join(out)


if __name__ == "__main__":
    print(table(run()))
