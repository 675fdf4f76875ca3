"""Faults the fault-injection suite found, each pinned by a test: one throttled write no longer stops a
fan-out run, and a sender whose claim cannot be given back at once does not strand the reminder."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.integration.harness import outbox
from tests.integration.test_reminders import (
    FIRST_RUN,
    START,
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


def _twelve_appointments() -> dict[str, Any]:
    """Twelve patients whose two-day reminders all fall due by FIRST_RUN: two fan-out groups of ten."""
    from zoneinfo import ZoneInfo

    from infra.demo import reminder_bundle

    zone = ZoneInfo("America/Los_Angeles")
    local = [(START + timedelta(minutes=5 * i)).astimezone(zone) for i in range(12)]
    patients = [
        (f"pat-f{i}", "Sam", f"Fault{i}", f"+1206555{1000 + i:04d}", f"appt-f{i}", at.time())
        for i, at in enumerate(local)
    ]
    return reminder_bundle(local[0].date(), patients)


def test_a_throttled_write_leaves_that_group_for_the_next_run_and_the_run_goes_on(stack, monkeypatch):
    status, _ = post_bundle(stack, _twelve_appointments())
    assert status == 200
    # The fan-out marks each group of ten pending -> queued in one transaction; the first group's is
    # throttled beyond the SDK's retries. The run goes on with the second group.
    FailNext("TransactWriteItems").install(monkeypatch)
    first = scheduled_run(stack, FIRST_RUN)
    assert first["found"] == 12 and first["queued"] == 2 and first["left_for_next_run"] == 10
    two_day = [r["status"] for r in reminders(stack).values() if r["offset_minutes"] == 2880]
    assert sorted(two_day) == ["pending"] * 10 + ["queued"] * 2
    second = scheduled_run(stack, FIRST_RUN)  # the next scheduled run queues the rest, and only them
    assert second["queued"] == 10 and second["already_queued"] == 2 and second["left_for_next_run"] == 0
    assert deliver(stack, receive(stack)) == {"batchItemFailures": []}
    assert len(outbox()) == 12


def test_a_group_with_reminders_queued_elsewhere_marks_the_others_in_a_second_transaction(stack, monkeypatch):
    """A cancelled group transaction names the items whose condition failed: only the others are
    retried, without reading anything back."""
    post_bundle(stack, future_bundle())
    calls: list[str] = []
    original = BaseClient._make_api_call

    def call(client: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(client, operation, params)

    first = scheduled_run(stack, FIRST_RUN)
    assert first["queued"] == 2
    # Make one of the two queued reminders pending again: an overlapping run now finds one still queued
    # (its condition fails) and one to queue.
    import boto3

    table = boto3.resource("dynamodb").Table(stack.ref("RemindersTable"))
    pk = next(pk for pk, r in reminders(stack).items() if r["offset_minutes"] == 2880)
    table.update_item(
        Key={"pk": pk},
        UpdateExpression="SET #s = :p",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": "pending"},
    )
    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    again = scheduled_run(stack, FIRST_RUN)
    assert again["found"] == 2 and again["queued"] == 1 and again["already_queued"] == 1
    assert calls.count("TransactWriteItems") == 2 and "GetItem" not in calls


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
    # (The batch's own slots are one booking, `book`; a Publish tried again after throttling `acquire`s.)
    from infra.local.stack import function_environment

    with function_environment(stack.functions["ReminderSenderFunction"].environment):
        pacer = reminder_sender()._pacer
    bookings = {"n": 0}
    original_acquire = pacer.acquire

    def acquire(parts, **kwargs):  # type: ignore[no-untyped-def]
        bookings["n"] += 1
        if bookings["n"] == 1:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
        return original_acquire(parts, **kwargs)

    monkeypatch.setattr(pacer, "acquire", acquire)
    result = deliver(stack, messages[:1])
    aws.client("sns").meta.events.unregister("before-call.sns.Publish", hook)
    assert len(result["batchItemFailures"]) == 1 and bookings["n"] == 1  # back to the queue
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
