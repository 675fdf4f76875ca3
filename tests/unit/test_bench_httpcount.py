"""The bench's request counter counts HTTP attempts (retries included), not client calls.

A stub answers on ``before-send`` (as moto does): the first attempt is throttled, the retry succeeds.
One client call, two HTTP requests: the counter must say 2. Counting ``_make_api_call`` says 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config

from bench.httpcount import UNPHASED, HttpCounter


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body


JSON = {"Content-Type": "application/x-amz-json-1.0"}
THROTTLED = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}'


class ThrottleOnce:
    def __init__(self) -> None:
        self.attempts = 0

    def __call__(self, request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse:
        self.attempts += 1
        if self.attempts == 1:
            return AWSResponse(request.url, 400, JSON, _Raw(THROTTLED))
        return AWSResponse(request.url, 200, JSON, _Raw(b'{"Item": {"pk": {"S": "x"}}}'))


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, ThrottleOnce]]:
    monkeypatch.setattr("time.sleep", lambda _seconds: None)  # botocore's back-off, not under test
    stub = ThrottleOnce()
    client = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).client("dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    client.meta.events.register_first("before-send.dynamodb", stub)
    yield client, stub
    client.close()


def test_a_throttled_first_attempt_counts_two(dynamodb: tuple[Any, ThrottleOnce]) -> None:
    client, stub = dynamodb
    counter = HttpCounter()
    with counter.installed(), counter.phase("sender"):
        got = client.get_item(TableName="t", Key={"pk": {"S": "x"}})
    assert got["ResponseMetadata"]["RetryAttempts"] == 1  # botocore did retry
    assert stub.attempts == 2
    assert counter.counts["sender"] == {"dynamodb:GetItem": 2}
    assert counter.by_service("sender") == {"dynamodb": 2}
    assert counter.total() == 2


def test_requests_outside_a_phase_are_kept_not_dropped(dynamodb: tuple[Any, ThrottleOnce]) -> None:
    client, _stub = dynamodb
    counter = HttpCounter()
    with counter.installed():
        client.get_item(TableName="t", Key={"pk": {"S": "x"}})
    assert counter.counts[UNPHASED] == {"dynamodb:GetItem": 2}


def test_nothing_is_counted_once_uninstalled(dynamodb: tuple[Any, ThrottleOnce]) -> None:
    client, _stub = dynamodb
    counter = HttpCounter()
    with counter.installed():
        pass
    client.get_item(TableName="t", Key={"pk": {"S": "x"}})
    assert counter.total() == 0
