"""Issue 10 §8: exactly once down to the SDK.

HTTP attempts are counted with botocore's ``before-send`` event, which fires once per request the client
would put on the wire (a retry fires it again), and the handler answers every request itself: no
network, no AWS. Counting client calls would miss exactly what matters here, the SDK's own retries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from shared.core.errors import SendOutcomeUnknown
from shared.outbound.sns import SnsSmsSender
from shared.runtime import aws, aws_errors

SERVICES = ["sns", "dynamodb", "sqs", "kms", "scheduler", "secretsmanager", "ssm"]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body


class Wire:
    """Answers each HTTP request with the next of ``answers`` (the last one repeats) and keeps them all."""

    def __init__(self, *answers: Callable[[AWSPreparedRequest], AWSResponse | None]) -> None:
        self.requests: list[AWSPreparedRequest] = []
        self._answers = answers

    def __call__(self, request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse | None:
        self.requests.append(request)
        return self._answers[min(len(self.requests), len(self._answers)) - 1](request)


def read_timeout(request: AWSPreparedRequest) -> AWSResponse | None:
    """The request went out and no answer came back: it may or may not have been acted on."""
    raise ReadTimeoutError(endpoint_url=request.url)


def status(code: int, body: bytes, content_type: str) -> Callable[[AWSPreparedRequest], AWSResponse]:
    def answer(request: AWSPreparedRequest) -> AWSResponse:
        return AWSResponse(request.url, code, {"Content-Type": content_type}, _Raw(body))

    return answer


SNS_500 = status(
    500,
    b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code>"
    b"<Message>try again</Message></Error></ErrorResponse>",
    "text/xml",
)
DYNAMODB_500 = status(
    500, b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}', "application/x-amz-json-1.0"
)
DYNAMODB_OK = status(200, b"{}", "application/x-amz-json-1.0")


@pytest.fixture
def client() -> Iterator[Callable[[str, Wire], Any]]:
    """A client of ``service`` built exactly as production builds it (shared.runtime.aws), wired to
    ``wire``."""
    made: list[Any] = []

    def build(service: str, wire: Wire) -> Any:
        made.append(
            boto3.session.Session(region_name="us-east-1").client(service, config=aws.config_for(service))
        )
        made[-1].meta.events.register_first(
            f"before-send.{made[-1].meta.service_model.service_id.hyphenize()}", wire
        )
        return made[-1]

    yield build
    for built in made:
        built.close()


def publish(sns: Any) -> Any:
    return sns.publish(PhoneNumber="+12065550123", Message="Riverside Family Clinic: reminder")


# -- SNS Publish: one HTTP attempt per claim -----------------------------------------------------------------


@pytest.mark.parametrize("answer", [read_timeout, SNS_500], ids=["read-timeout", "http-500"])
def test_a_publish_is_attempted_exactly_once(client, answer) -> None:  # type: ignore[no-untyped-def]
    wire = Wire(answer)
    sns = client("sns", wire)
    with pytest.raises((ReadTimeoutError, ClientError)):
        publish(sns)
    assert len(wire.requests) == 1  # a second attempt after a lost answer can text the patient twice


def test_the_sender_reports_a_lost_answer_as_unknown_after_one_attempt(client) -> None:  # type: ignore[no-untyped-def]
    wire = Wire(read_timeout)
    sender = SnsSmsSender(client("sns", wire), default_origination="+12065550100")
    with pytest.raises(SendOutcomeUnknown):
        sender.send("+12065550123", "Riverside Family Clinic: reminder")
    assert len(wire.requests) == 1


def test_the_old_setting_made_two_attempts_because_max_attempts_counts_retries() -> None:
    """Why ``total_max_attempts``: ``max_attempts: 1`` (the setting shared/runtime/aws.py had) means one
    *retry*."""
    wire = Wire(read_timeout)
    old = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=3, read_timeout=10)
    sns = boto3.session.Session(region_name="us-east-1").client("sns", config=old)
    sns.meta.events.register_first("before-send.sns", wire)
    with pytest.raises(ReadTimeoutError):
        publish(sns)
    assert len(wire.requests) == 2


def test_the_production_sns_client_is_the_single_attempt_one() -> None:
    aws.reset()
    try:
        retries = aws.client("sns").meta.config.retries
    finally:
        aws.reset()
    assert retries["total_max_attempts"] == 1 and "max_attempts" not in retries


# -- every other client: what its callers assume -------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_every_client_counts_attempts_in_total_not_in_retries(service: str) -> None:
    retries = aws.config_for(service).retries
    assert retries["mode"] == "standard"
    assert "max_attempts" not in retries and 1 <= retries["total_max_attempts"] <= 3


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "sns"])
def test_a_call_that_keeps_failing_gives_up_inside_the_http_apis_30_seconds(service: str) -> None:
    config = aws.config_for(service)
    per_attempt = config.connect_timeout + config.read_timeout
    # Standard mode's backoff is at most 1 s, then 2 s, before the second and third attempts (throttling).
    assert config.retries["total_max_attempts"] * per_attempt + 3 <= 30


def test_dynamodb_is_retried_and_bounded(client) -> None:  # type: ignore[no-untyped-def]
    wire = Wire(DYNAMODB_500)
    dynamodb = client("dynamodb", wire)
    with pytest.raises(ClientError):
        dynamodb.get_item(TableName="t", Key={"pk": {"S": "x"}})
    assert len(wire.requests) == 3


def test_a_retried_transaction_carries_the_same_client_request_token(client) -> None:  # type: ignore[no-untyped-def]
    """DynamoDB answers a repeat of a committed token with success, so a transaction the SDK retries
    after a lost answer (the consent ledger, the send claim, mark-sent) never meets its own write."""
    wire = Wire(read_timeout, DYNAMODB_500, DYNAMODB_OK)
    dynamodb = client("dynamodb", wire)
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": "t",
                    "Item": {"pk": {"S": "x"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
    )
    assert len(wire.requests) == 3
    tokens = {json.loads(request.body)["ClientRequestToken"] for request in wire.requests}
    assert len(tokens) == 1 and all(tokens)


# -- which failures an event source should retry ------------------------------------------------------------


def _client_error(code: str, status_code: int = 400, **extra: Any) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "x"},
            "ResponseMetadata": {"HTTPStatusCode": status_code},
            **extra,
        },
        "Op",
    )


@pytest.mark.parametrize(
    "exc",
    [
        _client_error("ProvisionedThroughputExceededException"),
        _client_error("ThrottlingException"),
        _client_error("InternalServerError", 500),
        _client_error("WhateverBroke", 503),
        _client_error("TransactionCanceledException", CancellationReasons=[{"Code": "TransactionConflict"}]),
        ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/"),
    ],
    ids=[
        "provisioned-throughput",
        "throttling",
        "internal-500",
        "any-503",
        "transaction-conflict",
        "timeout",
    ],
)
def test_transient_failures_are_retried(exc: Exception) -> None:
    assert aws_errors.is_transient(exc)


def test_a_library_error_wrapping_a_throttle_is_transient() -> None:
    try:
        try:
            raise _client_error("ThrottlingException")
        except ClientError:
            raise RuntimeError("GenerateKeyError: master key failed")  # noqa: B904 - as the Encryption SDK does
    except RuntimeError as wrapped:
        assert aws_errors.is_transient(wrapped)


@pytest.mark.parametrize(
    "exc",
    [
        _client_error("AccessDeniedException"),
        _client_error("ValidationException"),
        _client_error(
            "TransactionCanceledException", CancellationReasons=[{"Code": "ConditionalCheckFailed"}]
        ),
        ValueError("a bug"),
        KeyError("status"),
    ],
    ids=["access-denied", "validation", "condition", "value-error", "key-error"],
)
def test_failures_no_retry_can_cure_are_not_transient(exc: Exception) -> None:
    assert not aws_errors.is_transient(exc)
