"""AWS error codes as adapters and handlers need them: a failed condition is an answer, not an error."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from shared.core.errors import ConcurrentChange, SendOutcomeUnknown, SendThrottled


def is_condition_failure(exc: BaseException) -> bool:
    """True for DynamoDB's ``ConditionalCheckFailedException`` (a botocore ``ClientError``)."""
    response = getattr(exc, "response", None)
    return (
        isinstance(response, dict)
        and response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
    )


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


# -- cancelled transactions -----------------------------------------------------------------------------

CONDITION_FAILED = "ConditionalCheckFailed"


def cancellation_codes(exc: BaseException) -> list[str] | None:
    """The per-item codes of a cancelled ``TransactWriteItems`` (``"None"`` for an item that was fine),
    in the order the items were sent; ``None`` when the error is not a cancellation with reasons."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    if (response.get("Error") or {}).get("Code") != "TransactionCanceledException":
        return None
    reasons = response.get("CancellationReasons") or []
    if not reasons:
        return None
    return [str(reason.get("Code") or "None") for reason in reasons]
