"""boto3 clients, created lazily and once per container, with retry behaviour chosen per service.

In botocore's retry configuration ``max_attempts`` counts *retries* (``max_attempts: 1`` is two HTTP
requests) and ``total_max_attempts`` counts every request, the first included. Only
``total_max_attempts`` is used here. What each client's callers assume, and why its setting is safe:

* **SNS: one request, never retried by the SDK.** A Publish whose response is lost (read timeout,
  connection reset) may have been accepted: a blind retry can text the patient twice. The sender claims
  a reminder, publishes once, and maps an ambiguous failure to ``SendOutcomeUnknown`` (``unconfirmed``,
  never resent); throttling is retried by our own pacing under the claim. The same client serves the
  account opt-out list: ``OptInPhoneNumber`` succeeds once per 30 days, so a retried success would read
  as a failure; ``CheckIfPhoneNumberIsOptedOut`` is not retried either (its failure is recorded on the
  ledger event as ``carrier_check_failed``).
* **DynamoDB: standard retries, 3 requests.** ``TransactWriteItems`` carries a ``ClientRequestToken``
  that botocore generates once per call and sends with every retry, and DynamoDB answers a repeat of a
  committed token with success (10-minute window), so the ledger, the claim and the mark-sent
  transactions never see their own write as a conflict. A single-item conditional write retried after a
  lost success can: the message log recognises its own item (``ReturnValuesOnConditionCheckFailure``);
  the fan-out's pending->queued update counts it as not queued and the stale-queued sweep re-queues it
  on a later run; the sender's stop/finish/defer updates reach the same end state; a pacing reservation
  retried after success books one extra slot (slower, never faster). Powertools idempotency's
  conditional put sees its own INPROGRESS record and raises ``IdempotencyAlreadyInProgressError``, which
  the inbound handlers treat as transient (the event source retries after the in-progress expiry).
* **SQS: standard retries, 3 requests.** A retried ``SendMessage(Batch)`` may enqueue a reminder twice;
  the reminder queue is at-least-once anyway and the sender's claim sends each reminder once. A parked
  inbound event may be parked twice; both copies replay to the same records (derived ids).
* **KMS: standard retries, 3 requests.** ``GenerateMac``, ``Encrypt``, ``Decrypt`` and
  ``GenerateDataKey`` have no side effects a retry could repeat. (The Encryption SDK's own KMS client and
  Powertools' Secrets Manager / SSM clients are built by those libraries; their calls are reads or
  side-effect free.)
* **EventBridge Scheduler** is only declared in template.yaml; no function calls it.

Timeouts keep the worst case of one call (3 attempts of 3 s connect + 5 s read, plus backoff) near the
20 s the API functions may run, well inside the HTTP API's 30 s.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from shared.errors import ConcurrentChange, SendOutcomeUnknown, SendThrottled

_STANDARD = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=3, read_timeout=5)
# One HTTP request per Publish (see the module docstring); a read timeout must not become a second text.
_SNS = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=10)

RETRY_CONFIG: dict[str, Config] = {"sns": _SNS}


def config_for(service: str) -> Config:
    return RETRY_CONFIG.get(service, _STANDARD)


@functools.cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=config_for(service))  # type: ignore[call-overload]


@functools.cache
def table(name: str) -> Any:
    return boto3.session.Session().resource("dynamodb", config=config_for("dynamodb")).Table(name)


def reset() -> None:
    """Forget cached clients (tests switch endpoints and mocks between cases)."""
    client.cache_clear()
    table.cache_clear()


# -- which failures a later retry may cure --------------------------------------------------------------

# Throttling and capacity codes across the services ClinicText calls (botocore's standard retry mode
# treats the same codes as throttles), plus codes that say "busy now, try again".
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "TransactionInProgressException",
        "TransactionConflictException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KMSInvalidStateException",  # a key being rotated or re-enabled; an alarm catches a lasting one
    }
)


def _transient_client_error(exc: ClientError) -> bool:
    response: dict[str, Any] = dict(exc.response)
    code = str((response.get("Error") or {}).get("Code", ""))
    if code in _TRANSIENT_CODES:
        return True
    if code == "TransactionCanceledException":
        busy = ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded")
        reasons = [r.get("Code") for r in response.get("CancellationReasons") or []]
        return any(reason in busy for reason in reasons)
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return isinstance(status, int) and status >= 500


def _transient_powertools(exc: BaseException) -> bool:
    try:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyInconsistentStateError,
            IdempotencyPersistenceLayerError,
        )
    except ImportError:  # pragma: no cover - Powertools is a runtime dependency
        return False
    return isinstance(
        exc,
        IdempotencyAlreadyInProgressError
        | IdempotencyInconsistentStateError
        | IdempotencyPersistenceLayerError,
    )


def is_transient(exc: BaseException) -> bool:
    """True when the same work may succeed if retried later: throttling, a 5xx, a timeout or a lost
    connection, contention, an outcome that cannot be known yet, or another invocation still at it.

    Anything else (a bug, a refused value, a missing permission) fails the same way every time, so an
    event source must not retry it: it is parked for an operator. Causes and contexts are followed, since
    libraries (the Encryption SDK, Powertools) wrap the botocore error that tells.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, SendThrottled | SendOutcomeUnknown | ConcurrentChange):
            return True
        if isinstance(current, BotoConnectionError | HTTPClientError):  # timeouts, resets, DNS
            return True
        if isinstance(current, ClientError) and _transient_client_error(current):
            return True
        if _transient_powertools(current):
            return True
        pending += [current.__cause__, current.__context__]
    return False
