"""The message log: every text in and out, per conversation thread, with the body encrypted; and the
delivery status of each outbound text, keyed by the provider's message id.

Items in MessagesTable:
  pk=<phone_hmac> sk=MSG#<created_at>#<message_id>   direction, kind, channel, status, body_ct, ...
Items in DeliveryTable (written in the same transaction as their outbound message; no PHI, ids only):
  pk=<provider_message_id>   message_pk, message_sk, message_id, sent_at,
                             delivery_status, delivery_at, delivery_detail, delivered_parts, price_usd
A carrier report names only the provider's id, so the delivery-status function writes the status straight
onto its item (a batch of conditional updates per transaction, no lookup first); a thread read joins the
status items of its page with one BatchGetItem.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from shared.core.clock import iso, parse_iso
from shared.core.errors import AlreadyRecorded, ConcurrentChange, InvalidInput
from shared.core.models import Channel, Direction, MessageRecord
from shared.crypto.ports import PhiCipher
from shared.messaging.ports import (
    STALE,
    UNMATCHED,
    UPDATED,
    DeliveryReport,
    Recipients,
    Recorded,
)
from shared.runtime.aws_errors import is_condition_failure, is_transient

# DynamoDB's limits: actions per TransactWriteItems, keys per BatchGetItem.
TRANSACTION_ITEMS = 100
BATCH_GET_KEYS = 100
# Reasons a transaction item was cancelled that a later attempt may not meet (DynamoDB's codes).
_BUSY = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
# Own back-off (seconds) before each new attempt after throttling or a conflict; then the event is retried.
BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8)
# A request that failed as a whole was retried by the SDK already (3 attempts): only this many more rounds.
WHOLE_REQUEST_ROUNDS = 2
_DELIVERY_FIELDS = "pk, delivery_status, delivery_at, delivery_detail"


def _thread_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _thread_position(cursor: str) -> str:
    """The sort key a thread cursor names: only a message position (``MSG#...``), so a cursor cannot
    steer the query at another item type or another number (the partition is the caller's)."""
    try:
        if not isinstance(cursor, str) or not 1 <= len(cursor) <= 200:
            raise ValueError
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API issued", field="cursor") from None
    if not sk.startswith("MSG#") or not sk.isprintable() or len(sk) > 120:
        raise InvalidInput("cursor is not one this API issued", field="cursor")
    return sk


def message_record_ref(message_id: str) -> str:
    return f"message#{message_id}"


def _sk(at: datetime, message_id: str) -> str:
    return f"MSG#{iso(at)}#{message_id}"


def _serialized(item: dict[str, Any]) -> dict[str, Any]:
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in item.items()}


def _is_own_write(stored: Any, item: dict[str, Any]) -> bool:
    """True when the item that failed ``attribute_not_exists`` is exactly ``item``: the body's ciphertext
    is fresh for every encryption, so only this request's own earlier attempt can have written it."""
    return isinstance(stored, dict) and stored == _serialized(item)


def _sdk_retries(response: Any) -> int:
    """The SDK's own retries of one call (botocore's ``RetryAttempts``), read from an answer or an error."""
    metadata = response.get("ResponseMetadata") if isinstance(response, dict) else None
    return int((metadata or {}).get("RetryAttempts") or 0)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DynamoDeliveryBook:
    """Delivery status of outbound texts in DeliveryTable, one item per provider message id."""

    def __init__(self, table: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._client = table.meta.client
        self._sleep = sleep

    @property
    def table_name(self) -> str:
        return str(self._table.name)

    # -- written with the message -----------------------------------------------------------------
    def put_request(self, record: MessageRecord, message_sk: str) -> dict[str, Any] | None:
        """The ``TransactWriteItems`` Put of ``record``'s status item, or None when the record is not an
        outbound text the provider gave an id (nothing will report on it)."""
        if record.direction is not Direction.OUTBOUND or not record.provider_message_id:
            return None
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {
                    "pk": record.provider_message_id,
                    "record_type": "delivery_status",
                    "message_pk": record.phone_hmac,
                    "message_sk": message_sk,
                    "message_id": record.message_id,
                    "sent_at": iso(record.created_at),
                },
                # A provider id is logged once: a recorded delivery status is never reset.
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    # -- read -------------------------------------------------------------------------------------
    def statuses(self, provider_message_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The delivery fields of each known id's status item (one BatchGetItem per 100 ids)."""
        found, _ = self._batch_get(provider_message_ids, _DELIVERY_FIELDS)
        return found

    def recipients(self, provider_message_ids: Collection[str]) -> Recipients:
        found, retries = self._batch_get(provider_message_ids, "pk, message_pk")
        return Recipients({pid: str(item["message_pk"]) for pid, item in found.items()}, retries)

    def _batch_get(self, ids: Collection[str], projection: str) -> tuple[dict[str, dict[str, Any]], int]:
        found: dict[str, dict[str, Any]] = {}
        retries = 0
        for chunk in _chunks(list(dict.fromkeys(ids)), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.table_name: {"Keys": [{"pk": pid} for pid in chunk], "ProjectionExpression": projection}
            }
            for backoff in (*BACKOFF, None):
                response = self._client.batch_get_item(RequestItems=request)
                retries += _sdk_retries(response)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    found[str(item["pk"])] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if backoff is None:  # still throttled after every back-off: the event is retried later
                    raise ConcurrentChange("delivery status reads kept coming back unprocessed")
                retries += 1
                self._sleep(backoff)
        return found, retries

    # -- carrier reports --------------------------------------------------------------------------
    def record_deliveries(self, reports: Sequence[DeliveryReport]) -> Recorded:
        """One transaction of conditional updates per 100 distinct texts. A report that cannot be recorded
        (a later one is, or the text is unknown) cancels its transaction; DynamoDB names it (with the
        stored item when there is one, so nothing is re-read) and the others are sent again without it.
        Throttled or conflicting items are sent again after a back-off, and only those that were not
        refused. Several reports on one text in a batch: the latest one is written (DynamoDB takes one
        action per item per transaction); an older one is :data:`STALE`, an equal one shares its outcome.
        """
        latest: dict[str, int] = {}
        for index, report in enumerate(reports):
            seen = latest.get(report.provider_message_id)
            if seen is None or reports[seen].update.at <= report.update.at:
                latest[report.provider_message_id] = index
        outcomes: list[str | None] = [None] * len(reports)
        retries = 0
        for chunk in _chunks(sorted(latest.values()), TRANSACTION_ITEMS):
            retries += self._write(reports, list(chunk), outcomes)
        final: list[str] = []
        for index, report in enumerate(reports):
            outcome = outcomes[index]
            if outcome is None:  # an earlier or equal report on a text another report of the batch wrote
                winner = latest[report.provider_message_id]
                same = reports[winner].update.at == report.update.at
                outcome = outcomes[winner] if same or outcomes[winner] == UNMATCHED else STALE
            final.append(str(outcome))
        return Recorded(tuple(final), retries)

    def _write(
        self, reports: Sequence[DeliveryReport], pending: list[int], outcomes: list[str | None]
    ) -> int:
        """Write the reports at ``pending`` (one transaction), settle ``outcomes``; the retries it took."""
        retries = 0
        busy_rounds = 0
        failed_rounds = 0
        sent_before = False
        while pending:
            if sent_before:
                retries += 1
            sent_before = True
            try:
                response = self._client.transact_write_items(
                    TransactItems=[self._update(reports[index]) for index in pending]
                )
            except ClientError as exc:
                retries += _sdk_retries(exc.response)
                reasons = exc.response.get("CancellationReasons") or []
                code = exc.response.get("Error", {}).get("Code")
                if code == "TransactionCanceledException" and len(reasons) == len(pending):
                    settled = self._classify(pending, reasons, outcomes)
                    if settled is None:  # ValidationError and the like: a bug, never cured by retrying
                        raise
                    again, busy = settled
                    if busy:
                        if busy_rounds >= len(BACKOFF):
                            raise ConcurrentChange("delivery status writes stayed throttled") from exc
                        self._sleep(BACKOFF[busy_rounds])
                        busy_rounds += 1
                    pending = again
                    continue
                if not is_transient(exc) or failed_rounds >= WHOLE_REQUEST_ROUNDS:
                    raise
                self._sleep(BACKOFF[failed_rounds])
                failed_rounds += 1
                continue
            retries += _sdk_retries(response)
            for index in pending:
                outcomes[index] = UPDATED
            pending = []
        return retries

    @staticmethod
    def _classify(
        pending: list[int], reasons: Sequence[Any], outcomes: list[str | None]
    ) -> tuple[list[int], bool] | None:
        """Settle the refused items of a cancelled transaction; return the items to send again and
        whether any of them was throttled or in conflict (back off first), or None when an item was
        refused for a reason no retry cures."""
        again: list[int] = []
        busy = False
        for index, reason in zip(pending, reasons, strict=True):
            code = str(reason.get("Code") or "None")
            if code == "ConditionalCheckFailed":
                # The stored item comes back (ALL_OLD) when it exists: then a later report holds it.
                outcomes[index] = STALE if reason.get("Item") else UNMATCHED
            elif code == "None":
                again.append(index)  # would have succeeded: cancelled with the others
            elif code in _BUSY:
                again.append(index)
                busy = True
            else:
                return None
        return again, busy

    def _update(self, report: DeliveryReport) -> dict[str, Any]:
        update = report.update
        values: dict[str, Any] = {":status": update.status, ":at": iso(update.at), ":detail": update.detail}
        sets = ["delivery_status = :status", "delivery_at = :at", "delivery_detail = :detail"]
        if update.parts is not None:
            sets.append("delivered_parts = :parts")
            values[":parts"] = update.parts
        if update.price_usd is not None:
            sets.append("price_usd = :price")
            values[":price"] = update.price_usd
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"pk": report.provider_message_id},
                "UpdateExpression": "SET " + ", ".join(sets),
                # Only a text we logged, and never over a later report: carriers report out of order.
                "ConditionExpression": "attribute_exists(pk) "
                "AND (attribute_not_exists(delivery_at) OR delivery_at <= :at)",
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }


class DynamoMessageLog:
    def __init__(self, table: Any, cipher: PhiCipher, deliveries: DynamoDeliveryBook) -> None:
        self._table = table
        self._cipher = cipher
        self._deliveries = deliveries

    def append(self, record: MessageRecord) -> None:
        """Log one message. An outbound text the provider gave an id is written with its delivery-status
        item in one transaction, so every report SNS sends on it finds it."""
        requests = self.put_requests(record)
        item = requests[0]["Put"]["Item"]
        try:
            if len(requests) == 1:
                self._table.put_item(
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            else:
                requests[0]["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
                self._table.meta.client.transact_write_items(TransactItems=requests)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if is_condition_failure(exc):
                stored = exc.response.get("Item")
            elif code == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                if not any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
                    raise
                stored = reasons[0].get("Item") if reasons else None
            else:
                raise
            if _is_own_write(stored, item):
                return  # the SDK retried this very request after its first attempt's answer was lost
            raise AlreadyRecorded(f"message {record.message_id} is recorded already") from exc

    def recorded(self, phone_hmac: str, message_id: str, at: datetime) -> bool:
        key = {"pk": phone_hmac, "sk": _sk(at, message_id)}
        return "Item" in self._table.get_item(Key=key, ConsistentRead=True, ProjectionExpression="pk")

    def put_requests(self, record: MessageRecord) -> list[dict[str, Any]]:
        item = self._item(record)
        requests: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        status = self._deliveries.put_request(record, str(item["sk"]))
        if status is not None:
            requests.append(status)
        return requests

    def put_request(self, record: MessageRecord) -> dict[str, Any]:
        """The message's Put alone. Deprecated: it leaves out the delivery-status item, so reports on
        the text would find nothing; use :meth:`put_requests`."""
        return self.put_requests(record)[0]

    def _item(self, record: MessageRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": record.phone_hmac,
            "sk": _sk(record.thread_at or record.created_at, record.message_id),
            "record_type": "message",
            "message_id": record.message_id,
            "direction": record.direction.value,
            "kind": record.kind,
            "channel": record.channel.value,
            "status": record.status,
            "created_at": iso(record.created_at),
            "body_ct": self._cipher.encrypt(message_record_ref(record.message_id), {"body": record.body}),
        }
        for optional in ("provider_message_id", "appointment_id", "segments", "detail", "template"):
            value = getattr(record, optional)
            if value is not None:
                item[optional] = value
        return item

    def thread(self, phone_hmac: str, *, limit: int = 50, include_body: bool = True) -> list[MessageRecord]:
        """The number's messages, newest first, each outbound text with its delivery status (one
        BatchGetItem for the page). Without ``include_body`` nothing is decrypted and ``body`` is empty:
        a status listing needs no PHI and no KMS call."""
        return self.thread_page(phone_hmac, limit=limit, include_body=include_body)[0]

    def thread_page(
        self, phone_hmac: str, *, limit: int = 50, cursor: str | None = None, include_body: bool = True
    ) -> tuple[list[MessageRecord], str | None]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": phone_hmac, ":prefix": "MSG#"},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor is not None:
            query["ExclusiveStartKey"] = {"pk": phone_hmac, "sk": _thread_position(cursor)}
        response = self._table.query(**query)
        last = response.get("LastEvaluatedKey")
        following = _thread_cursor(str(last["sk"])) if last else None
        return self._records(phone_hmac, response.get("Items", []), include_body), following

    def _records(
        self, phone_hmac: str, items: list[dict[str, Any]], include_body: bool
    ) -> list[MessageRecord]:
        provider_ids = [
            str(item["provider_message_id"])
            for item in items
            if item.get("direction") == Direction.OUTBOUND.value and item.get("provider_message_id")
        ]
        statuses = self._deliveries.statuses(provider_ids) if provider_ids else {}
        records = []
        for item in items:
            body = (
                self._cipher.decrypt(message_record_ref(item["message_id"]), item["body_ct"])["body"]
                if include_body
                else ""
            )
            delivery = statuses.get(str(item.get("provider_message_id")), {})
            if item.get("direction") != Direction.OUTBOUND.value or not delivery.get("delivery_status"):
                delivery = item  # texts logged before DeliveryTable carried their status on the message
            status = delivery.get("delivery_status") or item["status"]
            records.append(
                MessageRecord(
                    message_id=item["message_id"],
                    phone_hmac=phone_hmac,
                    direction=Direction(item["direction"]),
                    kind=item["kind"],
                    channel=Channel(item["channel"]),
                    status=status,
                    created_at=parse_iso(item["created_at"]),
                    body=body,
                    provider_message_id=item.get("provider_message_id"),
                    appointment_id=item.get("appointment_id"),
                    segments=int(item["segments"]) if item.get("segments") is not None else None,
                    detail=item.get("detail"),
                    template=item.get("template"),
                    delivery_status=delivery.get("delivery_status"),
                    delivery_at=parse_iso(delivery["delivery_at"]) if delivery.get("delivery_at") else None,
                    delivery_detail=delivery.get("delivery_detail"),
                )
            )
        return records
