"""AWS requests per inbound text that lands in the staff inbox, by case, through InboundSmsFunction on
moto (in-process) with every resource built from template.yaml. Figures only, never pass/fail.

    python -m bench.inbox_landing [--texts N]

Each botocore API call is counted (a wrapper around ``BaseClient._make_api_call``). On moto nothing is
throttled, so no SDK retry happens and calls equal HTTP attempts here; against AWS a retried call costs
one more attempt each. Every text comes from its own number (a warm container: the blind index and the
data key are cached after the first text, as in Lambda). Cases: a question during hours (lands, no
reply), after hours (lands + the one after-hours reply through the outbound pipeline), urgent (lands +
911 reply + on-call page), and a late redelivery of an after-hours text (its idempotency record gone).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ClinicText",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

OPEN = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)  # Monday 10:00 in Los Angeles
CLOSED = datetime(2027, 3, 2, 6, 0, tzinfo=UTC)  # Monday 22:00
CASES = {
    "in hours, no reply": (OPEN, "Can I get a refill of my prescription?"),
    "after hours, one reply": (CLOSED, "Can I get a refill of my prescription?"),
    "urgent: 911 reply + page": (OPEN, "my incision is bleeding a lot"),
}


def run(texts: int) -> dict[str, tuple[float, Counter[str]]]:
    import warnings

    from botocore.client import BaseClient
    from moto import mock_aws

    from infra.local import events
    from infra.local.stack import Stack
    from shared.core.clock import SystemClock, iso
    from shared.outbound import store as outbound_store
    from shared.runtime import wiring

    warnings.filterwarnings("ignore")
    outbound_store.LATE_TOLERANCE = 5.0  # moto is slower per write than DynamoDB (see the pacing bench)
    results: dict[str, tuple[float, Counter[str]]] = {}
    original = BaseClient._make_api_call
    counter: Counter[str] = Counter()

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        counter[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
        return original(self, operation_name, api_params)

    wiring.reset(clients=False)
    with mock_aws():
        stack = Stack(parameters={"SendRatePartsPerSecond": "1000"}).provision()
        function = stack.functions["InboundSmsFunction"]
        now = {"at": OPEN}
        SystemClock.now = lambda self: now["at"]  # type: ignore[method-assign]

        def send(number: str, at: datetime, body: str, message_id: str) -> None:
            now["at"] = at
            message = events.two_way_sms_message(number, "+12065550100", body, message_id=message_id)
            function.invoke(
                events.sns_event(stack.ref("InboundSmsTopic"), json.dumps(message), timestamp=iso(at))
            )

        send("+12065559999", OPEN, "warm up the container", "warm")
        BaseClient._make_api_call = counted  # type: ignore[method-assign]
        try:
            for case, (at, body) in CASES.items():
                counter.clear()
                for i in range(texts):
                    send(f"+1206555{1000 + i:04d}", at + timedelta(seconds=i), body, f"{case}-{i}")
                results[case] = (sum(counter.values()) / texts, Counter(counter))
            BaseClient._make_api_call = original  # type: ignore[method-assign]
            table = stack.table("IdempotencyTable")
            for item in table.scan()["Items"]:
                table.delete_item(Key={"id": item["id"]})
            counter.clear()
            BaseClient._make_api_call = counted  # type: ignore[method-assign]
            at, body = CASES["after hours, one reply"]
            for i in range(texts):
                send(
                    f"+1206555{1000 + i:04d}", at + timedelta(seconds=i), body, f"after hours, one reply-{i}"
                )
            results["late redelivery (after hours)"] = (sum(counter.values()) / texts, Counter(counter))
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=10)
    args = parser.parse_args()
    started = time.perf_counter()
    results = run(args.texts)
    print(
        f"AWS requests per inbound text landing in the inbox ({args.texts} texts per case, moto in-process)"
    )
    for case, (per_text, calls) in results.items():
        top = ", ".join(f"{name} {count / args.texts:.1f}" for name, count in sorted(calls.items()))
        print(f"  {case:32s} {per_text:5.1f}   [{top}]")
    print(f"  ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
