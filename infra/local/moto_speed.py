"""Item-level rollback for moto's DynamoDB ``TransactWriteItems`` (a faster fake, same semantics).

moto backs up a transaction by deep-copying every table it touches, whole, before each
``TransactWriteItems``: the cost of one transaction grows with the table, and a run of thousands of
reminders (each claimed and marked sent in a transaction) becomes quadratic. This keeps moto's own
transaction logic (conditions, cancellation reasons, the all-or-nothing rule) and replaces only the
backup: the items the transaction names are copied before it runs and put back (or deleted again) if
it is cancelled. The fault-injection suite and the benchmarks use it; ``test_moto_speed`` checks that a
cancelled transaction still leaves every item as it was.
"""

from __future__ import annotations

import contextlib
import copy
import json
import types
from collections import Counter
from collections.abc import Iterator
from typing import Any


def _key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


@contextlib.contextmanager
def item_level_transactions() -> Iterator[None]:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend_class = models.DynamoDBBackend
    original = backend_class.transact_write_items
    real_copy = models.copy

    def no_table_copies(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[str, dict[str, Any], Any]] = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            name = op.get("TableName")
            if not name or name not in self.tables:
                continue
            key = _key(self.tables[name], op_type, op)
            current = self.get_item(name, key)
            saved.append((name, key, None if current is None else current.to_json()["Attributes"]))
        models.copy = types.SimpleNamespace(deepcopy=no_table_copies)
        try:
            original(self, transact_items)
        except Exception:
            for name, key, attributes in reversed(saved):
                if attributes is None:
                    with contextlib.suppress(Exception):
                        self.delete_item(name, key)
                else:
                    self.put_item(name, copy.deepcopy(attributes))
            raise
        finally:
            models.copy = real_copy

    backend_class.transact_write_items = transact_write_items
    try:
        yield
    finally:
        backend_class.transact_write_items = original


@contextlib.contextmanager
def reused_unused_key_material() -> Iterator[None]:
    """Skip two costs moto pays on every stack that nothing here ever uses or could tell apart.

    * ``CreateKey`` generates a 2048-bit RSA private key for every KMS key, symmetric and HMAC keys
      included (moto falls back to RSA for any spec it does not sign with); only asymmetric RSA/ECC keys
      ever use it. Keys of those specs get one RSA key per process; asymmetric specs still get their own.
    * ``CreateUserPool`` parses the same bundled JWK file (``jwks-private.json``, one fixed key for every
      pool) into an RSA key, recovering its primes in Python; the parsed key is kept per process.
    """
    from moto.cognitoidp import models as cognito_models
    from moto.kms import models as kms_models
    from moto.kms.utils import KeySpec

    real_generate = kms_models.generate_private_key
    rsa_key_class = cognito_models.jwk.RSAKey
    real_import = rsa_key_class.import_key
    real_descriptor = rsa_key_class.__dict__["import_key"]
    shared_rsa: list[Any] = []
    parsed: dict[str, Any] = {}
    signing_specs = {*KeySpec.rsa_key_specs(), *KeySpec.ecc_key_specs(), "SM2"}

    def generate_private_key(key_spec: str) -> Any:
        if key_spec in signing_specs:
            return real_generate(key_spec)
        if not shared_rsa:
            shared_rsa.append(real_generate(key_spec))
        return shared_rsa[0]

    def import_key(value: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(value, dict):
            return real_import(value, *args, **kwargs)
        text = json.dumps(value, sort_keys=True)
        if text not in parsed:
            parsed[text] = real_import(value)
        return parsed[text]

    kms_models.generate_private_key = generate_private_key
    rsa_key_class.import_key = staticmethod(import_key)
    try:
        yield
    finally:
        kms_models.generate_private_key = real_generate
        rsa_key_class.import_key = real_descriptor


@contextlib.contextmanager
def linear_sqs() -> Iterator[None]:
    """``SendMessage`` and ``ReceiveMessage`` in time linear in the queue, not quadratic.

    moto reads a queue's settings (``ContentBasedDeduplication`` on every send, ``MessageRetentionPeriod``
    for every message a receive considers) through ``Queue.attributes``, which also computes the three
    ``ApproximateNumberOfMessages*`` counts, each a pass over every message in the queue. With 2,000
    reminders queued that is millions of steps per call: most of the fault-injection suite's time.
    Inside moto's send and receive, ``attributes`` leaves the counts out (nothing there reads them);
    ``GetQueueAttributes`` still computes them, and every rule is moto's own, unchanged.
    """
    import threading

    from moto.core.utils import camelcase_to_underscores
    from moto.sqs.models import Queue, SQSBackend

    counts = {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }
    inside = threading.local()
    real_attributes = Queue.__dict__["attributes"]
    real_send = SQSBackend.__dict__["send_message"]
    real_receive = SQSBackend.__dict__["receive_message"]

    def attributes(self: Any) -> dict[str, Any]:
        if not getattr(inside, "depth", 0):
            return dict(real_attributes.fget(self))
        # moto's Queue.attributes (5.x), without the three counts.
        names = [name for name in self.BASE_ATTRIBUTES if name not in counts]
        if self.fifo_queue:
            names += self.FIFO_ATTRIBUTES
        if self.kms_master_key_id:
            names += self.KMS_ATTRIBUTES
        result = {name: getattr(self, camelcase_to_underscores(name)) for name in names}
        if self.policy:
            result["Policy"] = self.policy
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy)
        return {key: str(v).lower() if isinstance(v, bool) else v for key, v in result.items()}

    def counted_out(real: Any) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            inside.depth = getattr(inside, "depth", 0) + 1
            try:
                return real(self, *args, **kwargs)
            finally:
                inside.depth -= 1

        return call

    Queue.attributes = property(attributes)
    SQSBackend.send_message = counted_out(real_send)
    SQSBackend.receive_message = counted_out(real_receive)
    try:
        yield
    finally:
        Queue.attributes = real_attributes
        SQSBackend.send_message = real_send
        SQSBackend.receive_message = real_receive


# DynamoDB operations whose outputs moto holds as plain JSON: items, counts, keys, table descriptions.
_JSON_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
        # and the table operations a stack's provisioning makes (ten tables per test's stack)
        "CreateTable",
        "DescribeTable",
        "UpdateTimeToLive",
        "UpdateContinuousBackups",
    }
)


def _epoch_seconds(value: Any) -> float:
    """A timestamp as DynamoDB's JSON protocol writes it (seconds since the epoch); nothing else."""
    import datetime

    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"not plain JSON: {type(value).__name__}")


# How many answers json_dynamodb_responses wrote itself, by operation (the rest went to moto's serializer).
JSON_ANSWERS: Counter[str] = Counter()


@contextlib.contextmanager
def json_dynamodb_responses() -> Iterator[None]:
    """moto's answers to DynamoDB's item operations written with ``json.dumps``, not its shape walker.

    moto serializes every response by walking the operation's output shape, looking up each member under
    several spellings (``AttributePicker``): for a ``Query`` page of items that is most of the request's
    time (about 15% of the fault-injection suite). The output of the item operations above is already
    DynamoDB's JSON (attribute values as ``{"S": ...}`` maps, numbers as strings), so it is dumped as it
    is (dates as epoch seconds, as the protocol writes them). Anything else ``json.dumps`` cannot write
    (bytes) goes to moto's serializer, as do errors and every other operation. ``test_moto_speed`` checks
    that botocore parses the same answers.
    """
    from moto import settings
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    original = ActionResult.__dict__["execute_result"]
    plain = (ActionResult, DynamoResult)  # not moto's paginated or empty results

    def execute_result(self: Any, context: Any) -> Any:
        result = self.result
        if (
            type(self) in plain
            and context.service_model.service_name == "dynamodb"
            and context.operation_model.name in _JSON_OPERATIONS
            and isinstance(result, dict)
            and not settings.PRETTIFY_RESPONSES
        ):
            try:
                body = json.dumps(result, default=_epoch_seconds)
            except (TypeError, ValueError):
                pass  # not plain JSON: moto's serializer knows the shape
            else:
                JSON_ANSWERS[context.operation_model.name] += 1
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original(self, context)

    execute_result.__wrapped__ = original  # type: ignore[attr-defined]  # moto's own, for tests
    ActionResult.execute_result = execute_result
    try:
        yield
    finally:
        ActionResult.execute_result = original
