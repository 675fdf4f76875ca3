"""Issue 11 §3: delivery status in batches. A CloudWatch Logs subscription batch of SNS delivery log lines
is recorded with one conditional transaction per 100 texts (no Query per line), keeping the guarantees:
an older report never overwrites a newer one, a repeated one changes nothing, an unknown id is counted
and dropped, a refused or throttled item is settled or sent again on its own, and every retry is counted.

Requests are counted as HTTP attempts (``infra.local.delivery_phase.http_attempts``); faults are
injected with botocore ``before-call`` hooks on the production clients.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient

from infra.local import events
from infra.local.delivery_phase import http_attempts
from tests.fixtures.fhir_samples import MAGGIE_MOBILE, THANH_MOBILE
from tests.integration.test_delivery_and_templates import lookup, rejected_messages, report, sent_ids
from tests.integration.test_reminders import (
    FIRST_RUN,
    SENDER_NOW,
    deliver,
    future_bundle,
    pinned_clock,  # noqa: F401 - the autouse fixture pins the functions' clock here too
    post_bundle,
    receive,
    scheduled_run,
)
from tests.template import cfn


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):  # type: ignore[no-untyped-def]
    from shared.messaging import store

    monkeypatch.setattr(store, "BACKOFF", (0.0,) * len(store.BACKOFF))


def send_two_day_reminders(stack) -> None:  # type: ignore[no-untyped-def]
    post_bundle(stack, future_bundle())
    assert scheduled_run(stack, FIRST_RUN)["queued"] == 2
    assert deliver(stack, receive(stack)) == {"batchItemFailures": []}
    assert len(sent_ids()) == 2


def dynamodb(counts: Counter[str]) -> Counter[str]:
    return Counter({k.split(":", 1)[1]: n for k, n in counts.items() if k.startswith("dynamodb:")})


def line(provider_id: str, number: str, outcome: str = "delivered", **kwargs: Any) -> dict[str, Any]:
    return events.sns_delivery_log(provider_id, number, outcome, **kwargs)


def status_items(stack) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    return {str(i["pk"]): i for i in stack.table("DeliveryTable").scan()["Items"]}


def seed_status_items(stack, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Status items as the message log writes them for ``count`` sent texts (the delivery function
    reads nothing else)."""
    ids = [f"0f5c2a9e-0000-4000-8000-{n:012d}" for n in range(count)]
    with stack.table("DeliveryTable").batch_writer() as batch:
        for n, pid in enumerate(ids):
            batch.put_item(
                Item={
                    "pk": pid,
                    "record_type": "delivery_status",
                    "message_pk": "a" * 64,
                    "message_sk": f"MSG#2026-11-23T17:00:00.000Z#m{n}",
                    "message_id": f"m{n}",
                    "sent_at": "2026-11-23T17:00:00.000Z",
                }
            )
    return ids


class Answers:
    """The next DynamoDB ``operation`` calls of the production client get the answers given (an error
    body, or None to pass through); the parameters of every call are kept."""

    def __init__(self, operation: str, answers: list[dict[str, Any] | None]) -> None:
        self.operation = operation
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, model: Any, params: Any, **_kwargs: Any) -> Any:
        if model.name != self.operation:
            return None
        self.calls.append(json.loads(params["body"]))  # the serialized request
        if not self.answers:
            return None
        answer = self.answers.pop(0)
        if answer is None:
            return None
        status = int(answer.pop("status", 400))
        response = AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", status, {}, None)
        return response, {**answer, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.fixture
def answer(stack):  # type: ignore[no-untyped-def]
    from shared.runtime import aws

    installed = []

    def install(table: str, operation: str, answers: list[dict[str, Any] | None]) -> Answers:
        client = aws.table(stack.ref(table)).meta.client
        hook = Answers(operation, answers)
        client.meta.events.register_first(f"before-call.dynamodb.{operation}", hook)
        installed.append((client, f"before-call.dynamodb.{operation}", hook))
        return hook

    yield install
    for client, event, hook in installed:
        client.meta.events.unregister(event, hook)


def cancelled(*codes: str) -> dict[str, Any]:
    return {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "CancellationReasons": [{"Code": code} for code in codes],
    }


# -- the batch -------------------------------------------------------------------------------------------


def test_one_batch_out_of_order_duplicate_unknown_and_malformed_lines_in_two_requests(stack):
    send_two_day_reminders(stack)
    ids = {phone: mid for mid, phone in sent_ids().items()}
    at = SENDER_NOW.replace(microsecond=0)
    lines = [
        json.dumps(line(ids[MAGGIE_MOBILE], MAGGIE_MOBILE, at=at)),
        json.dumps(line(ids[MAGGIE_MOBILE], MAGGIE_MOBILE, "unreachable", at=at - timedelta(minutes=5))),
        json.dumps(line(ids[THANH_MOBILE], THANH_MOBILE, at=at)),
        json.dumps(line(ids[THANH_MOBILE], THANH_MOBILE, at=at)),  # SNS wrote the line twice
        json.dumps(line("no-such-message", MAGGIE_MOBILE, at=at)),
        "not json at all",
    ]
    with http_attempts() as counts:
        result = stack.functions["DeliveryStatusFunction"].invoke(
            events.cloudwatch_logs_event(stack.ref("SmsDeliveryLogGroup"), lines)
        )
    assert result == {
        "delivered": 4,
        "failed": 1,
        "opted_out": 0,
        "unmatched": 1,
        "stale": 1,  # the older report on Maggie's text, behind the newer one in the same batch
        "rejected": 1,
        "retries": 1,  # the unknown id cancelled the transaction; the other two went again without it
    }
    # No Query and no read: one transaction, refused for the unknown id, and the same without it.
    assert dynamodb(counts) == {"TransactWriteItems": 2}
    assert len(rejected_messages(stack)) == 1
    [maggie] = lookup(stack, MAGGIE_MOBILE)
    assert maggie["status"] == "delivered" and maggie["delivery"]["at"].startswith(at.date().isoformat())
    [thanh] = lookup(stack, THANH_MOBILE)
    assert thanh["status"] == "delivered"
    assert "no-such-message" not in status_items(stack)  # nothing written for a text that is not ours

    # Later batches: an older report is stale, a repeat of the recorded one changes nothing, a newer wins.
    before = status_items(stack)
    result = report(
        stack,
        [
            line(ids[MAGGIE_MOBILE], MAGGIE_MOBILE, "unreachable", at=at - timedelta(minutes=10)),
            line(ids[THANH_MOBILE], THANH_MOBILE, at=at),
        ],
        failure=True,
    )
    assert result["stale"] == 1 and result["delivered"] == 1 and result["failed"] == 1
    assert status_items(stack) == before
    result = report(
        stack, [line(ids[MAGGIE_MOBILE], MAGGIE_MOBILE, "unreachable", at=at + timedelta(minutes=1))]
    )
    assert result["failed"] == 1 and result["stale"] == 0
    [maggie] = lookup(stack, MAGGIE_MOBILE)
    assert maggie["status"] == "failed"
    assert maggie["delivery"]["detail"] == "Phone is currently unreachable/unavailable"


def test_more_than_a_transaction_holds_goes_in_transactions_of_100(stack):
    ids = seed_status_items(stack, 150)
    lines = [json.dumps(line(pid, MAGGIE_MOBILE)) for pid in ids]
    with http_attempts() as counts:
        result = stack.functions["DeliveryStatusFunction"].invoke(
            events.cloudwatch_logs_event(stack.ref("SmsDeliveryLogGroup"), lines)
        )
    assert result["delivered"] == 150 and result["unmatched"] == 0 and result["retries"] == 0
    assert dynamodb(counts) == {"TransactWriteItems": 2}
    assert all(item.get("delivery_status") == "delivered" for item in status_items(stack).values())


def test_opt_outs_in_a_batch_are_checked_with_one_read_and_a_forged_one_is_refused(stack):
    send_two_day_reminders(stack)
    ids = {phone: mid for mid, phone in sent_ids().items()}
    lines = [
        line(ids[THANH_MOBILE], THANH_MOBILE, "opted_out"),
        line(ids[MAGGIE_MOBILE], THANH_MOBILE, "opted_out"),  # names another number than its text's
        line("other-sender-msg", MAGGIE_MOBILE, "opted_out"),  # not ours: the opt-out still counts
    ]
    with http_attempts() as counts:
        result = report(stack, lines, failure=True)
    assert result["opted_out"] == 2 and result["rejected"] == 1 and result["unmatched"] == 1
    assert dynamodb(counts)["BatchGetItem"] == 1
    [thanh] = lookup(stack, THANH_MOBILE)
    [maggie] = lookup(stack, MAGGIE_MOBILE)
    assert thanh["status"] == "opted_out" and maggie["status"] == "sent"
    carrier = [i for i in stack.table("ConsentTable").scan()["Items"] if i.get("source") == "carrier"]
    assert len(carrier) == 2  # Thanh's, and the one for the number another sender's text went to


# -- partial failures and throttling -------------------------------------------------------------------


def test_a_throttled_item_is_sent_again_alone_with_those_that_were_not_refused(stack, answer):
    ids = seed_status_items(stack, 3)
    hook = answer("DeliveryTable", "TransactWriteItems", [cancelled("ThrottlingError", "None", "None")])
    result = report(stack, [line(pid, MAGGIE_MOBILE) for pid in ids])
    assert result["delivered"] == 3 and result["unmatched"] == 0 and result["retries"] == 1
    assert [len(call["TransactItems"]) for call in hook.calls] == [3, 3]
    assert all(item["delivery_status"] == "delivered" for item in status_items(stack).values())


def test_a_refused_item_is_settled_from_the_cancellation_and_only_the_rest_is_sent_again(stack, answer):
    ids = seed_status_items(stack, 3)
    stale = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "CancellationReasons": [
            {"Code": "None"},
            {"Code": "ConditionalCheckFailed", "Item": {"pk": {"S": ids[1]}}},  # a later report is in
            {"Code": "TransactionConflict"},
        ],
    }
    hook = answer("DeliveryTable", "TransactWriteItems", [stale])
    result = report(stack, [line(pid, MAGGIE_MOBILE) for pid in ids])
    assert result["delivered"] == 3 and result["stale"] == 1 and result["retries"] == 1
    second = [item["Update"]["Key"]["pk"]["S"] for item in hook.calls[1]["TransactItems"]]
    assert second == [ids[0], ids[2]]  # the refused one is not sent again, and nothing was re-read
    items = status_items(stack)
    assert "delivery_status" not in items[ids[1]] and items[ids[0]]["delivery_status"] == "delivered"


def test_throttling_of_the_whole_request_is_retried_and_counted(stack, answer):
    ids = seed_status_items(stack, 2)
    throttled = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
    hook = answer("DeliveryTable", "TransactWriteItems", [throttled])
    result = report(stack, [line(pid, MAGGIE_MOBILE) for pid in ids])
    assert result["delivered"] == 2 and result["retries"] == 1 and len(hook.calls) == 2
    assert all(item["delivery_status"] == "delivered" for item in status_items(stack).values())


def test_lasting_throttling_fails_the_invocation_so_the_batch_is_retried_and_nothing_is_lost(stack, answer):
    from shared.messaging.store import WHOLE_REQUEST_ROUNDS

    ids = seed_status_items(stack, 2)
    throttled = {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}
    hook = answer("DeliveryTable", "TransactWriteItems", [dict(throttled) for _ in range(10)])
    with pytest.raises(Exception, match="ThrottlingException"):
        report(stack, [line(pid, MAGGIE_MOBILE) for pid in ids])
    assert len(hook.calls) == 1 + WHOLE_REQUEST_ROUNDS
    assert not any("delivery_status" in item for item in status_items(stack).values())
    hook.answers.clear()  # Lambda retries the asynchronous event: this time DynamoDB takes it
    assert report(stack, [line(pid, MAGGIE_MOBILE) for pid in ids])["delivered"] == 2


def test_unprocessed_keys_of_a_thread_read_are_read_again(stack, answer):
    send_two_day_reminders(stack)
    ids = {phone: mid for mid, phone in sent_ids().items()}
    report(stack, [line(ids[MAGGIE_MOBILE], MAGGIE_MOBILE)])
    name = stack.ref("DeliveryTable")
    unprocessed = {
        "status": 200,
        "Responses": {name: []},
        "UnprocessedKeys": {name: {"Keys": [{"pk": {"S": ids[MAGGIE_MOBILE]}}]}},
    }
    hook = answer("DeliveryTable", "BatchGetItem", [unprocessed])
    [maggie] = lookup(stack, MAGGIE_MOBILE)
    assert maggie["status"] == "delivered" and len(hook.calls) == 2


# -- least privilege: what the function calls is what the template grants ---------------------------


def _granted(function: str, stack) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    granted = set()
    for _owner, statement in cfn.function_statements(function):
        if statement.get("Effect") != "Allow":
            continue
        for resource in cfn.as_list(statement.get("Resource")):
            table = cfn.target(resource)
            for action in cfn.as_list(statement.get("Action")):
                if table is not None and str(action).startswith("dynamodb:"):
                    granted.add((str(action), stack.ref(table)))
    return granted


def _needed(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    if operation == "TransactWriteItems":
        return [
            (
                f"dynamodb:{kind}Item" if kind != "ConditionCheck" else "dynamodb:ConditionCheckItem",
                body["TableName"],
            )
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table) for table in params["RequestItems"]]
    return [(f"dynamodb:{operation}", params["TableName"])]


def test_the_delivery_function_calls_only_what_its_policy_grants_and_never_the_message_log(
    stack, monkeypatch
):
    send_two_day_reminders(stack)
    ids = {phone: mid for mid, phone in sent_ids().items()}
    calls: list[tuple[str, str]] = []
    original = BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: Any) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls.extend(_needed(operation, params))
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    report(
        stack,
        [line(ids[THANH_MOBILE], THANH_MOBILE, "opted_out"), line("unknown-id", MAGGIE_MOBILE, "opted_out")],
        failure=True,
    )
    report(stack, [line(ids[MAGGIE_MOBILE], MAGGIE_MOBILE)])
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    granted = _granted("DeliveryStatusFunction", stack)
    assert calls and set(calls) <= granted, set(calls) - granted
    assert stack.ref("MessagesTable") not in {table for _action, table in granted}
    assert ("dynamodb:BatchGetItem", stack.ref("DeliveryTable")) in set(calls)


def test_a_text_logged_before_delivery_table_still_shows_the_status_on_its_record(stack):
    """Texts logged before this change carry their delivery status on the message item itself."""
    send_two_day_reminders(stack)
    ids = {phone: mid for mid, phone in sent_ids().items()}
    stack.table("DeliveryTable").delete_item(Key={"pk": ids[MAGGIE_MOBILE]})
    messages = stack.table("MessagesTable")
    [item] = [i for i in messages.scan()["Items"] if i.get("provider_message_id") == ids[MAGGIE_MOBILE]]
    messages.update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET #s = :s, delivery_status = :s, delivery_at = :at, delivery_detail = :d",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "delivered", ":at": "2026-11-23T17:04:05.123Z", ":d": "accepted"},
    )
    [maggie] = lookup(stack, MAGGIE_MOBILE)
    assert maggie["status"] == "delivered" and maggie["delivery"]["detail"] == "accepted"
    [thanh] = lookup(stack, THANH_MOBILE)
    assert thanh["status"] == "sent" and thanh["delivery"]["status"] is None
