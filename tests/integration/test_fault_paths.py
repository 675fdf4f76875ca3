"""Faults the fault-injection suite found, each pinned by a test: one throttled write no longer stops a
fan-out run, and a sender whose claim cannot be given back at once does not strand the reminder."""

from __future__ import annotations

from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.integration.harness import outbox
from tests.integration.test_reminders import (
    FIRST_RUN,
    deliver,
    future_bundle,
    pinned_clock,  # noqa: F401 - autouse: the functions' clock is pinned
    post_bundle,
    receive,
    reminders,
    scheduled_run,
)
from tests.integration.test_sending import ThrottleSns


class FailNext:
    """The next ``times`` calls of ``operation`` fail as if DynamoDB throttled beyond the SDK's retries."""

    def __init__(self, operation: str, times: int = 1, *, skip: int = 0) -> None:
        self.operation, self.remaining, self.skip = operation, times, skip

    def install(self, monkeypatch) -> None:
        original = BaseClient._make_api_call
        hook = self

        def call(client: Any, operation: str, params: Any) -> Any:
            if operation == hook.operation and hook.skip > 0:
                hook.skip -= 1
            elif operation == hook.operation and hook.remaining > 0:
                hook.remaining -= 1
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"}},
                    operation,
                )
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", call)


def test_a_throttled_write_leaves_that_reminder_for_the_next_run_and_the_run_goes_on(stack, monkeypatch):
    post_bundle(stack, future_bundle())
    # The run record's UpdateItem passes; the first pending->queued write is throttled.
    FailNext("UpdateItem", skip=1).install(monkeypatch)
    first = scheduled_run(stack, FIRST_RUN)
    assert first["found"] == 2 and first["queued"] == 1 and first["left_for_next_run"] == 1
    assert sorted(r["status"] for r in reminders(stack).values() if r["offset_minutes"] == 2880) == [
        "pending",
        "queued",
    ]
    second = scheduled_run(stack, FIRST_RUN)  # the next scheduled run queues it
    assert second["queued"] == 1 and second["left_for_next_run"] == 0
    assert deliver(stack, receive(stack)) == {"batchItemFailures": []}
    assert len(outbox()) == 2


def test_sns_throttling_then_no_send_slot_gives_the_claim_back(stack, monkeypatch):
    import json

    from shared.appointments.store import sender
    from shared.appointments.wiring import reminder_sender
    from shared.runtime import aws

    monkeypatch.setattr(sender, "THROTTLE_BACKOFF", (0.0, 0.0, 0.0))
    post_bundle(stack, future_bundle())
    scheduled_run(stack, FIRST_RUN)
    messages = receive(stack)
    hook = ThrottleSns(1)
    aws.client("sns").meta.events.register("before-call.sns.Publish", hook)
    # SNS throttles the first Publish, then booking the next send slot fails (DynamoDB throttled):
    # before, that error left the reminder `sending`, later closed `unconfirmed`, and the text was lost.
    from infra.local.stack import function_environment

    with function_environment(stack.functions["ReminderSenderFunction"].environment):
        pacer = reminder_sender()._pacer
    bookings = {"n": 0}
    original_acquire = pacer.acquire

    def acquire(parts, **kwargs):  # type: ignore[no-untyped-def]
        bookings["n"] += 1
        if bookings["n"] == 2:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
        return original_acquire(parts, **kwargs)

    monkeypatch.setattr(pacer, "acquire", acquire)
    result = deliver(stack, messages[:1])
    aws.client("sns").meta.events.unregister("before-call.sns.Publish", hook)
    assert len(result["batchItemFailures"]) == 1 and bookings["n"] == 2  # back to the queue
    pk = json.loads(messages[0]["Body"])["reminder_pk"]
    claimed = reminders(stack)[pk]
    assert claimed["status"] == "queued" and "claim_token" not in claimed
    assert outbox() == []
    assert deliver(stack, messages[:1]) == {"batchItemFailures": []}  # the redelivery sends it, once
    assert len(outbox()) == 1


def test_a_release_that_fails_once_is_retried(stack, monkeypatch):
    from shared.appointments.store import sender
    from shared.runtime import aws

    monkeypatch.setattr(sender, "THROTTLE_BACKOFF", (0.0, 0.0, 0.0))
    post_bundle(stack, future_bundle())
    scheduled_run(stack, FIRST_RUN)
    messages = receive(stack)
    hook = ThrottleSns(4)  # every attempt of the first text throttled: the claim is given back
    aws.client("sns").meta.events.register("before-call.sns.Publish", hook)
    original_release = sender.ReminderSender._release
    failing = FailNext("TransactWriteItems", times=1)

    def release(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        failing.install(monkeypatch)
        return original_release(self, *args, **kwargs)

    monkeypatch.setattr(sender.ReminderSender, "_release", release)
    result = deliver(stack, messages[:1])
    aws.client("sns").meta.events.unregister("before-call.sns.Publish", hook)
    assert len(result["batchItemFailures"]) == 1 and failing.remaining == 0
    assert {r["status"] for r in reminders(stack).values() if r["offset_minutes"] == 2880} == {"queued"}
    assert not any("claim_token" in r for r in reminders(stack).values())
