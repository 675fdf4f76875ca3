"""Issue 4: frequency caps and SNS throttling on the real reminder pipeline (template on moto)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from shared.core.clock import SystemClock
from tests.fixtures.fhir_samples import MAGGIE_MOBILE, resource_at
from tests.integration.harness import outbox, texts_to
from tests.integration.test_reminders import (
    FIRST_RUN,
    START,
    deliver,
    future_bundle,
    post_bundle,
    receive,
    reminders,
    scheduled_run,
)


def deliver_due(stack) -> dict[str, Any]:
    messages = receive(stack)
    return deliver(stack, messages) if messages else {"batchItemFailures": []}


def pin(monkeypatch, at) -> None:
    monkeypatch.setattr(SystemClock, "now", lambda self: at)


def shared_phone_bundle() -> dict[str, Any]:
    """Maggie and Thanh share one phone (a family number): two appointments an hour apart."""
    bundle = future_bundle()
    for telecom in resource_at(bundle, 1).get("telecom", []):
        if telecom.get("system") in ("phone", "sms"):
            telecom["value"] = MAGGIE_MOBILE
    return bundle


def cap_sends(stack) -> dict[str, str]:
    """Every automated text recorded against any number's caps (claim token -> time)."""
    items = [i for i in stack.table("ControlTable").scan()["Items"] if str(i["pk"]).startswith("cap#")]
    return {token: at for item in items for token, at in item["sends"].items()}


def test_one_a_day_holds_the_second_text_then_sends_it_then_drops_what_only_fits_after_the_start(
    stack, monkeypatch
):
    post_bundle(stack, shared_phone_bundle())
    pin(monkeypatch, FIRST_RUN)
    assert scheduled_run(stack, FIRST_RUN)["queued"] == 2
    assert deliver_due(stack) == {"batchItemFailures": []}
    assert len(texts_to(MAGGIE_MOBILE)) == 1  # two reminders due for one phone: one text today
    held = [r for r in reminders(stack).values() if r.get("deferred_reason") == "frequency_cap"]
    assert len(held) == 1 and held[0]["status"] == "pending"
    assert held[0]["due_at"].startswith((FIRST_RUN + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    assert len(cap_sends(stack)) == 1

    # A run before the day is over leaves it alone; the first run after the day is up sends it.
    pin(monkeypatch, FIRST_RUN + timedelta(hours=23))
    scheduled_run(stack, FIRST_RUN + timedelta(hours=23))
    deliver_due(stack)
    assert len(texts_to(MAGGIE_MOBILE)) == 1
    next_day = FIRST_RUN + timedelta(days=1, minutes=5)
    pin(monkeypatch, next_day)
    scheduled_run(stack, next_day)
    assert deliver_due(stack) == {"batchItemFailures": []}
    assert len(texts_to(MAGGIE_MOBILE)) == 2
    assert reminders(stack)[held[0]["pk"]]["status"] == "sent"

    # The two-hour reminders fall due less than a day after that text: the cap would only free the
    # phone after both appointments have started, so they are dropped with the reason recorded.
    late = START - timedelta(minutes=50)
    pin(monkeypatch, late)
    scheduled_run(stack, late)
    deliver_due(stack)
    assert len(texts_to(MAGGIE_MOBILE)) == 2
    for pk in ("rem#appt-5001#120", "rem#appt-5002#120"):
        dropped = reminders(stack)[pk]
        assert dropped["status"] == "skipped_frequency_cap"
        assert dropped["detail"] == "frequency_cap_until_after_start"
        assert "due_bucket" not in dropped
    assert len(cap_sends(stack)) == 2  # dropped texts use no allowance


def test_replies_are_not_capped(stack, monkeypatch):
    from tests.integration.harness import text_via_sns

    post_bundle(stack, future_bundle())
    pin(monkeypatch, FIRST_RUN)
    scheduled_run(stack, FIRST_RUN)
    deliver_due(stack)
    assert len(texts_to(MAGGIE_MOBILE)) == 1
    text_via_sns(stack, MAGGIE_MOBILE, "C")
    text_via_sns(stack, MAGGIE_MOBILE, "HELP")
    assert len(texts_to(MAGGIE_MOBILE)) == 3  # the confirmation and the HELP answer go out regardless
    assert len(cap_sends(stack)) == 2  # Maggie's and Thanh's reminders; replies do not count


class ThrottleSns:
    """SNS answers ``ThrottledException`` to the next ``times`` Publish calls (a botocore hook, so the
    production client and its error handling are exercised unchanged)."""

    def __init__(self, times: int) -> None:
        self.remaining = times
        self.throttled = 0

    def __call__(self, model, params, **kwargs):  # type: ignore[no-untyped-def]
        if model.name != "Publish" or self.remaining <= 0:
            return None
        self.remaining -= 1
        self.throttled += 1
        error = {"Error": {"Code": "ThrottledException", "Message": "Rate exceeded"}}
        response = AWSResponse("https://sns.us-east-1.amazonaws.com/", 400, {}, None)
        return (response, {**error, "ResponseMetadata": {"HTTPStatusCode": 400}})


@pytest.fixture
def throttle(stack):
    from shared.runtime import aws

    client = aws.client("sns")
    hooks: list[ThrottleSns] = []

    def install(times: int) -> ThrottleSns:
        hook = ThrottleSns(times)
        client.meta.events.register("before-call.sns.Publish", hook)
        hooks.append(hook)
        return hook

    yield install
    for hook in hooks:
        client.meta.events.unregister("before-call.sns.Publish", hook)


def test_throttled_publish_backs_off_and_sends_once(stack, monkeypatch, throttle):
    from shared.appointments.store import sender

    monkeypatch.setattr(sender, "THROTTLE_BACKOFF", (0.0, 0.0, 0.0))
    post_bundle(stack, future_bundle())
    pin(monkeypatch, FIRST_RUN)
    scheduled_run(stack, FIRST_RUN)
    hook = throttle(2)
    assert deliver_due(stack) == {"batchItemFailures": []}
    assert hook.throttled == 2
    assert len(outbox()) == 2  # both reminders, each once
    assert {r["status"] for r in reminders(stack).values() if r["offset_minutes"] == 2880} == {"sent"}


def test_throttled_beyond_the_retries_goes_back_to_the_queue_then_sends_once(stack, monkeypatch, throttle):
    from shared.appointments.store import sender

    monkeypatch.setattr(sender, "THROTTLE_BACKOFF", (0.0, 0.0, 0.0))
    post_bundle(stack, future_bundle())
    pin(monkeypatch, FIRST_RUN)
    scheduled_run(stack, FIRST_RUN)
    messages = receive(stack)
    hook = throttle(100)
    result = deliver(stack, messages)
    assert len(result["batchItemFailures"]) == 2  # neither accepted: both returned to the queue
    assert hook.throttled == 8  # one try and three retries each
    assert outbox() == []
    due = [r for r in reminders(stack).values() if r["offset_minutes"] == 2880]
    assert {r["status"] for r in due} == {"queued"} and not any("claim_token" in r for r in due)
    assert cap_sends(stack) == {}  # the allowances were given back with the claims
    hook.remaining = 0
    assert deliver(stack, messages) == {"batchItemFailures": []}  # the queue redelivers
    assert deliver(stack, messages) == {"batchItemFailures": []}  # and once more, as a duplicate
    assert len(outbox()) == 2


def test_sender_gets_the_rate_caps_and_concurrency_from_the_template():
    from tests.template.cfn import function_props

    sender = function_props("ReminderSenderFunction")
    variables = sender["Environment"]["Variables"]
    for name, parameter in {
        "FREQUENCY_CAP_PER_DAY": "FrequencyCapPerDay",
        "FREQUENCY_CAP_PER_WEEK": "FrequencyCapPerWeek",
        "ORIGINATION_TYPE": "OriginationType",
        "SEND_RATE_PARTS_PER_SECOND": "SendRatePartsPerSecond",
    }.items():
        assert variables[name] == {"Ref": parameter}
    scaling = sender["Events"]["Queue"]["Properties"]["ScalingConfig"]
    assert scaling["MaximumConcurrency"]["Fn::If"][2] == {"Ref": "SenderConcurrency"}
    control = [s for s in sender["Policies"][0]["Statement"] if s.get("Sid") == "SendControl"]
    assert control and control[0]["Resource"] == {"Fn::GetAtt": ["ControlTable", "Arn"]}


def test_sender_concurrency_follows_the_origination_type_unless_it_is_set():
    """SenderConcurrency 0 (the default) picks the senders by OriginationType: two for a 1 part/s
    10DLC number, whose one batch books ten seconds of slots; a set value is used as it is."""
    from infra.local.stack import Stack

    def concurrency(**parameters: str) -> int:
        stack = Stack(parameters=parameters)
        event = stack.template["Resources"]["ReminderSenderFunction"]["Properties"]["Events"]["Queue"]
        return int(stack.resolve(event["Properties"]["ScalingConfig"]["MaximumConcurrency"]))

    assert concurrency() == 5  # TollFree, 3 parts/s
    assert concurrency(OriginationType="TenDLC") == 2
    assert concurrency(OriginationType="ShortCode") == 10
    assert concurrency(OriginationType="TenDLC", SenderConcurrency="7") == 7
