"""AWS requests per delivered reminder, by service, through the real pipeline on moto (in-process).

N synthetic patients (unique numbers, one appointment each) are posted as FHIR batch Bundles to
AppointmentsApiFunction; then one scheduled fan-out run queues their two-day reminders and
ReminderSenderFunction sends them in SQS batches of 10, as Lambda would deliver them. Every botocore
API call is counted (a wrapper around ``BaseClient._make_api_call``), split into the ingest phase and the
send phase (fan-out + sender), and reported per delivered reminder next to a naive design's 8 requests
(read appointment, read patient, decrypt, publish, write, encrypt, two idempotency writes) and the floor
(one SNS Publish per text). The fan-out's wall time and peak traced Python memory are reported too.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

NAIVE_REQUESTS_PER_REMINDER = 8
FLOOR_REQUESTS_PER_REMINDER = 1
BUNDLE_SIZE = 100  # patients per FHIR Bundle posted
ZONE = ZoneInfo("America/Los_Angeles")


@dataclass
class RequestCounts:
    reminders: int
    delivered: int
    ingest: Counter[str] = field(default_factory=Counter)
    ingest_operations: Counter[str] = field(default_factory=Counter)
    send: Counter[str] = field(default_factory=Counter)
    send_operations: Counter[str] = field(default_factory=Counter)
    fanout_seconds: float = 0.0
    fanout_peak_mib: float = 0.0
    send_seconds: float = 0.0


@contextmanager
def counting(counter: Counter[str], operations: Counter[str] | None = None) -> Iterator[None]:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        service = self.meta.service_model.service_name
        counter[service] += 1
        if operations is not None:
            operations[f"{service}:{operation_name}"] += 1
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


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


def run(reminders: int = 1000) -> RequestCounts:
    import boto3
    from moto import mock_aws

    from infra.demo import reminder_bundle
    from infra.local import events
    from infra.local.moto_speed import item_level_transactions
    from infra.local.stack import Stack
    from shared.core.clock import SystemClock
    from shared.runtime import wiring

    day = (datetime.now(ZONE) + timedelta(days=5)).date()
    send_at = datetime.combine(day - timedelta(days=2), clock_time(16, 30), tzinfo=ZONE)
    result = RequestCounts(reminders=reminders, delivered=0)
    ingest_at = send_at - timedelta(days=1)  # the EHR export arrives before the reminders fall due
    clock = {"now": ingest_at.astimezone(UTC)}
    saved_now = SystemClock.now
    SystemClock.now = lambda _self: clock["now"]  # type: ignore[method-assign, assignment]
    wiring.reset()
    try:
        with mock_aws(), item_level_transactions():
            stack = Stack(parameters={"SendRatePartsPerSecond": "1000"}).provision()
            api = stack.functions["AppointmentsApiFunction"]
            patients = _patients(reminders, day)
            with counting(result.ingest, result.ingest_operations):
                for start in range(0, reminders, BUNDLE_SIZE):
                    bundle = reminder_bundle(day, patients[start : start + BUNDLE_SIZE])
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
            clock["now"] = send_at.astimezone(UTC)
            # The fan-out and the sender run in their own Lambda containers: nothing ingest cached (PHI
            # data keys, blind-index results) may lower the send phase's counts.
            wiring.reset(clients=False)
            logical = "ReminderSchedule"  # the fan-out's (InboxSweepSchedule runs the inbox sweep)
            props = dict(stack.schedules())[logical]
            fanout = events.scheduler_event(
                props["Target"]["Input"], scheduled_time=send_at, schedule_arn=f"arn:bench:{logical}"
            )
            # Only the functions' own calls count: receiving and deleting queue messages is Lambda's
            # event source mapping (played here by the harness, outside the counter).
            tracemalloc.start()
            started = time.perf_counter()
            with counting(result.send, result.send_operations):
                run_result = stack.schedule_target(logical).invoke(fanout)
            result.fanout_seconds = time.perf_counter() - started
            result.fanout_peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            if run_result["queued"] != reminders:
                raise RuntimeError(f"fan-out queued {run_result['queued']} of {reminders}")
            sqs = boto3.client("sqs")
            url, arn = stack.ref("ReminderQueue"), stack.arn("ReminderQueue")
            sender = stack.functions["ReminderSenderFunction"]
            started = time.perf_counter()
            while True:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
                messages = got.get("Messages", [])
                if not messages:
                    break
                with counting(result.send, result.send_operations):
                    outcome = sender.invoke(events.sqs_event(arn, messages))
                failed = {f["itemIdentifier"] for f in outcome.get("batchItemFailures", [])}
                for message in messages:
                    if message["MessageId"] not in failed:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            result.send_seconds = time.perf_counter() - started
            from moto.sns.models import sns_backends

            result.delivered = len(sns_backends["123456789012"]["us-east-1"].sms_messages)
    finally:
        SystemClock.now = saved_now  # type: ignore[method-assign]
        wiring.reset()
    return result


def _operations(operations: Counter[str], service: str) -> str:
    named = [(op.split(":", 1)[1], n) for op, n in operations.most_common() if op.startswith(f"{service}:")]
    total = sum(n for _, n in named)
    return f"{total} requests" + (" (" + ", ".join(f"{op} {n}" for op, n in named) + ")" if named else "")


def table(result: RequestCounts) -> str:
    delivered = max(result.delivered, 1)
    services = ["dynamodb", "sqs", "sns", "kms"]
    lines = [
        f"Reminders due: {result.reminders}; delivered (SNS Publish accepted): {result.delivered}",
        "",
        "| phase | " + " | ".join(services) + " | other | total | per delivered reminder |",
        "|---|" + "---|" * (len(services) + 3),
    ]
    for label, counts in (("ingest (FHIR bundles)", result.ingest), ("send (fan-out + sender)", result.send)):
        other = sum(v for k, v in counts.items() if k not in services)
        total = sum(counts.values())
        lines.append(
            f"| {label} | "
            + " | ".join(str(counts.get(s, 0)) for s in services)
            + f" | {other} | {total} | {total / delivered:.2f} |"
        )
    per = {s: result.send.get(s, 0) / delivered for s in services}
    lines += [
        "",
        "| send phase, per delivered reminder | requests |",
        "|---|---|",
        *[f"| {s} | {per[s]:.2f} |" for s in services],
        f"| all services | {sum(result.send.values()) / delivered:.2f} |",
        f"| naive design (read appointment, read patient, decrypt, publish, write, encrypt, "
        f"2 idempotency writes) | {NAIVE_REQUESTS_PER_REMINDER} |",
        f"| floor (one Publish per text) | {FLOOR_REQUESTS_PER_REMINDER} |",
        f"| KMS requests per 1,000 reminders (send phase) | {1000 * per['kms']:.1f} |",
        "",
        f"KMS in the send phase: {_operations(result.send_operations, 'kms')} for {result.delivered} texts "
        "(one Decrypt per data key the contacts were written under and one GenerateDataKey per cache window, "
        "per container; not per text). "
        f"Ingest: {_operations(result.ingest_operations, 'kms')} for {result.reminders} appointments.",
        "",
        "Send-phase operations: " + ", ".join(f"{op} {n}" for op, n in result.send_operations.most_common()),
        "",
        f"Fan-out of {result.reminders} due reminders: {result.fanout_seconds:.2f} s, "
        f"peak traced Python memory {result.fanout_peak_mib:.1f} MiB; "
        f"sender: {result.send_seconds:.2f} s for {result.delivered} texts (moto in-process).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run()))
