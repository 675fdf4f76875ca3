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
import botocore.session
from botocore.config import Config

_STANDARD = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=3, read_timeout=5)
# One HTTP request per Publish (see the module docstring); a read timeout must not become a second text.
_SNS = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=10)

RETRY_CONFIG: dict[str, Config] = {"sns": _SNS}


def config_for(service: str) -> Config:
    return RETRY_CONFIG.get(service, _STANDARD)


@functools.cache
def botocore_session() -> botocore.session.Session:
    """The container's one botocore session. It holds the parsed service models, endpoint rules and the
    credential chain; every client below is made from it, and so is the Encryption SDK's KMS client
    (``shared.crypto.kms``). A session per client would parse botocore's data again for each one.
    Making it reads no credentials: botocore resolves them when the first client is made, on an
    invocation (see :func:`preload`)."""
    return botocore.session.Session()


@functools.cache
def session() -> boto3.session.Session:
    """The boto3 face of :func:`botocore_session` (same models, same credentials)."""
    return boto3.session.Session(botocore_session=botocore_session())


@functools.cache
def client(service: str) -> Any:
    # Not the tables' client for "dynamodb": a resource's client translates Python values to attribute
    # values, and low-level callers (Powertools idempotency) pass attribute values already.
    if service == "s3":
        # The Encryption SDK wraps the shared botocore session in a boto3 session of its own, which
        # registers boto3's S3 class injection a second time; an S3 client made from it then fails
        # ("Cannot inject class attribute upload_file"). S3 gets a session of its own (the audit anchors).
        return boto3.session.Session().client("s3", config=config_for(service))
    return session().client(service, config=config_for(service))  # type: ignore[call-overload]


@functools.cache
def dynamodb() -> Any:
    """The container's one DynamoDB resource; every :func:`table` shares its client."""
    return session().resource("dynamodb", config=config_for("dynamodb"))


@functools.cache
def table(name: str) -> Any:
    return dynamodb().Table(name)


def preload(*services: str) -> None:
    """Parse botocore's data for ``services`` into the container's session now: the endpoints file, each
    service's model and endpoint rule set, and DynamoDB's resource model. For the SnapStart functions'
    import (Lambda's init), so the snapshot holds the parsed data and a restored container's first
    invocation does not parse it again. Nothing here is unique to a container: no client is made, no
    credentials are resolved, no connection is opened (those happen on the first invocation)."""
    boto = session()  # adds boto3's resource models to the loader's search path
    loader = botocore_session().get_component("data_loader")
    # Called as botocore and boto3 call them: the loader caches each result under its arguments.
    loader.load_data_with_path("endpoints")  # the endpoint resolver's file
    for name in ("partitions", "_retry", "sdk-default-configuration"):
        loader.load_data(name)
    for service in services:
        loader.load_service_model(service, "service-2", api_version=None)
        loader.load_service_model(service, "endpoint-rule-set-1", api_version=None)
        if service in boto.get_available_resources():
            loader.load_service_model(service, "resources-1", None)


def reset() -> None:
    """Forget the session and cached clients (tests switch endpoints and mocks between cases)."""
    for cache in (client, table, dynamodb, session, botocore_session):
        cache.cache_clear()
