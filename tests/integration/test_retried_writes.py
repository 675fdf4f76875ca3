"""Issue 10 §8 on DynamoDB: a conditional write the SDK retries after its first answer was lost must not
read its own success as someone else's record.

The fault is injected at the HTTP layer of the production client (botocore ``before-send``): the first
attempt is really applied (forwarded to moto) and then its answer is lost (a read timeout), so botocore's
standard retry sends the same request again, exactly as after a network blip in AWS.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from tests.integration.harness import texts_to
from tests.integration.test_consent_api import PATIENT, call, consent_event, opt_in


class AppliedThenLost:
    """The first ``operation`` request on ``table`` (a transaction: its first item's) is applied, then its
    answer lost; later attempts pass through. The container shares one botocore session, so the hook sees
    every table's requests: the others are left alone."""

    def __init__(self, operation: str, table: str) -> None:
        self.operation = operation
        self.table = table
        self.attempts = 0

    def __call__(self, request: Any, **_kwargs: Any) -> None:
        params = json.loads(request.body)
        first = next(iter((params.get("TransactItems") or [{}])[0].values()), {})
        if self.table not in (params.get("TableName"), first.get("TableName")):
            return None
        self.attempts += 1
        if self.attempts == 1:
            getattr(boto3.client("dynamodb"), self.operation)(**params)  # the write happens...
            raise ReadTimeoutError(endpoint_url=request.url)  # ...and its answer never arrives
        return None


@pytest.fixture
def lose_first_answer(stack):  # type: ignore[no-untyped-def]
    from shared.runtime import aws

    installed: list[tuple[Any, str, AppliedThenLost]] = []

    def install(table_logical_id: str, operation: str, event: str) -> AppliedThenLost:
        client = aws.table(stack.ref(table_logical_id)).meta.client
        fault = AppliedThenLost(operation, stack.ref(table_logical_id))
        client.meta.events.register_first(f"before-send.dynamodb.{event}", fault)
        installed.append((client, f"before-send.dynamodb.{event}", fault))
        return fault

    yield install
    for client, event, fault in installed:
        client.meta.events.unregister(event, fault)


def test_a_retried_message_log_write_is_not_a_conflict(stack, lose_first_answer):
    """POST /consent logs its confirmation text; a lost answer to that write used to turn a recorded
    consent and a sent confirmation into a 409 "already recorded". The text SNS accepted is logged with
    its delivery-status item in one TransactWriteItems; moto keeps no request tokens, so the retry meets
    its own message (the stored item comes back with the cancellation) and must read it as its own."""
    fault = lose_first_answer("MessagesTable", "transact_write_items", "TransactWriteItems")
    status, body = call(stack, consent_event(opt_in()))
    assert status == 201, body
    assert body["confirmation"] == "sent"
    assert fault.attempts == 2  # the SDK did retry, and the retry met the first attempt's item
    [confirmation] = texts_to(PATIENT)
    logged = [m for m in stack.table("MessagesTable").scan()["Items"] if m["direction"] == "outbound"]
    assert len(logged) == 1 and logged[0]["kind"] == "consent_confirmation" and confirmation
    [status] = stack.table("DeliveryTable").scan()["Items"]
    assert status["pk"] == logged[0]["provider_message_id"] and status["message_sk"] == logged[0]["sk"]


def test_a_retried_ledger_transaction_is_recorded_once(stack, lose_first_answer):
    """The ledger's TransactWriteItems: botocore resends the same ClientRequestToken. moto does not keep
    tokens, so the retry meets the event it wrote; the ledger reads that as "recorded already"."""
    fault = lose_first_answer("ConsentTable", "transact_write_items", "TransactWriteItems")
    status, body = call(stack, consent_event(opt_in(action="opt_out", source="staff")))
    assert status == 201, body
    assert body["consent"]["status"] == "opted_out"
    assert fault.attempts == 2
    items = stack.table("ConsentTable").scan()["Items"]
    assert len([i for i in items if i["sk"].startswith("EVENT#")]) == 1
    [state] = [i for i in items if i["sk"] == "STATE"]
    assert state["status"] == "opted_out" and state["version"] == 1
