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
import types
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
        models.copy = types.SimpleNamespace(deepcopy=no_table_copies)  # type: ignore[assignment]
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

    backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        backend_class.transact_write_items = original  # type: ignore[method-assign]
