"""The delivery-status phase, measured: SNS's delivery log lines for texts a stack sent, handed to
DeliveryStatusFunction in CloudWatch Logs subscription batches, with every HTTP attempt counted.

``python -m infra.local.delivery_phase [texts] [batch sizes...]`` prints DynamoDB (and other) requests per
status line for each batch size, and the requests of one thread read (``POST /messages/lookup``). The
bench can call :func:`deliver_reports` inside its own counting, and :func:`http_attempts` counts requests
as HTTP attempts (retries included) for any code run under it.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local import events

THREAD_NUMBERS = 20  # the seeded texts go to this many numbers, so a thread read has a full page
BODY = "Riverside Family Clinic: see you Tue at 3:30 PM. Reply C to confirm, STOP to opt out."


@contextmanager
def http_attempts() -> Iterator[Counter[str]]:
    """Count every HTTP attempt botocore makes (``service:Operation``), retries included, from every
    client in the process: botocore's ``Endpoint._do_get_response`` runs once per attempt, moto's
    answers included."""
    from botocore.endpoint import Endpoint

    counts: Counter[str] = Counter()
    original = getattr(Endpoint, "_do_get_response")  # noqa: B009 - private, not in botocore's stubs

    def counted(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        counts[f"{operation_model.service_model.service_name}:{operation_model.name}"] += 1
        return original(self, request, operation_model, context)

    setattr(Endpoint, "_do_get_response", counted)  # noqa: B010
    try:
        yield counts
    finally:
        setattr(Endpoint, "_do_get_response", original)  # noqa: B010


def seed_texts(stack: Any, count: int, *, at: datetime) -> list[tuple[str, str]]:
    """Log ``count`` outbound texts as SNS-accepted (the way the sender logs a sent reminder), spread over
    :data:`THREAD_NUMBERS` numbers; returns (provider message id, number) per text."""
    from infra.local.stack import function_environment
    from shared.core.models import Channel, Direction, MessageRecord

    sent = []
    with function_environment(stack.functions["ReminderSenderFunction"].environment):
        from shared.crypto import wiring as crypto_wiring
        from shared.messaging import wiring as messaging_wiring

        log = messaging_wiring.message_log()
        index = crypto_wiring.blind_index()
        numbers = [f"+1206555{7000 + n:04d}" for n in range(THREAD_NUMBERS)]
        hmacs = {number: index.phone(number) for number in numbers}
        for n in range(count):
            number = numbers[n % len(numbers)]
            provider_id = str(uuid.uuid4())
            log.append(
                MessageRecord(
                    message_id=uuid.uuid4().hex,
                    phone_hmac=hmacs[number],
                    direction=Direction.OUTBOUND,
                    kind="reminder",
                    channel=Channel.AWS_SMS,
                    status="sent",
                    created_at=at + timedelta(milliseconds=n),
                    body=BODY,
                    provider_message_id=provider_id,
                    segments=1,
                )
            )
            sent.append((provider_id, number))
    return sent


def deliver_reports(
    stack: Any, sent: Sequence[tuple[str, str]], *, batch_size: int, at: datetime, outcome: str = "delivered"
) -> Counter[str]:
    """One delivery log line per text, to DeliveryStatusFunction in subscription batches of
    ``batch_size`` lines; returns the function's summed counts."""
    group = stack.ref("SmsDeliveryLogGroup" if outcome == "delivered" else "SmsDeliveryFailureLogGroup")
    function = stack.functions["DeliveryStatusFunction"]
    totals: Counter[str] = Counter()
    for start in range(0, len(sent), batch_size):
        lines = [
            json.dumps(events.sns_delivery_log(provider_id, number, outcome, at=at))
            for provider_id, number in sent[start : start + batch_size]
        ]
        totals.update(function.invoke(events.cloudwatch_logs_event(group, lines, first_id=start)))
    return totals


def lookup_thread(stack: Any, number: str, limit: int = 50) -> list[dict[str, Any]]:
    event = events.http_api_event(
        "POST",
        "/messages/lookup",
        route_key="POST /messages/lookup",
        body=json.dumps({"phone": number, "limit": limit}),
        headers={"content-type": "application/json"},
        iam_caller="arn:aws:iam::123456789012:user/frontdesk",
    )
    response = stack.functions["MessagesApiFunction"].invoke(event)
    if response["statusCode"] != 200:
        raise RuntimeError(f"lookup failed: {response['body'][:300]}")
    return list(json.loads(response["body"])["messages"])


@dataclass
class Figures:
    lines: int
    batch_size: int
    requests: Counter[str]
    results: Counter[str]

    def per_line(self, service: str) -> float:
        total = sum(n for key, n in self.requests.items() if key.startswith(f"{service}:"))
        return total / self.lines


def measure(texts: int, batch_sizes: Sequence[int]) -> tuple[list[Figures], Counter[str], int]:
    """Delivery-phase figures per batch size, then one thread read's requests and its page size."""
    from moto import mock_aws

    from infra.local.stack import Stack
    from shared.runtime import wiring

    figures = []
    wiring.reset()
    with mock_aws():
        stack = Stack(parameters={"SendRatePartsPerSecond": "1000"}).provision()
        at = datetime.now(UTC).replace(microsecond=0)
        for size in batch_sizes:
            sent = seed_texts(stack, texts, at=at)
            with http_attempts() as counts:
                results = deliver_reports(stack, sent, batch_size=size, at=at + timedelta(seconds=5))
            figures.append(Figures(len(sent), size, counts, results))
        with http_attempts() as read:
            page = lookup_thread(stack, sent[0][1])
        if not all(m["delivery"]["status"] == "delivered" for m in page):
            raise RuntimeError("a thread read lost a delivery status")
    wiring.reset()
    return figures, read, len(page)


def main(argv: Sequence[str]) -> int:
    import os

    # Everything runs on moto in this process: fake credentials and a fixed region, never real AWS.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ClinicText",
    }.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    texts = int(argv[0]) if argv else 500
    sizes = [int(a) for a in argv[1:]] or [1, 10, 100]
    figures, read, page = measure(texts, sizes)
    for f in figures:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(f.requests.items()))
        print(
            f"batch {f.batch_size:>4} lines: {f.lines} status lines, DynamoDB {f.per_line('dynamodb'):.3f} "
            f"requests/line, all AWS {sum(f.requests.values()) / f.lines:.3f}/line ({detail}); "
            f"results {dict(sorted(f.results.items()))}"
        )
    detail = ", ".join(f"{k}={v}" for k, v in sorted(read.items()))
    print(f"thread read of {page} messages: {sum(read.values())} requests ({detail})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
