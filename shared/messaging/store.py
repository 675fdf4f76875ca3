"""The message log: every text in and out, per conversation thread, with the body encrypted.

Items in MessagesTable:
  pk=<phone_hmac> sk=MSG#<created_at>#<message_id>   direction, kind, channel, status, body_ct, ...
The by_provider_message_id index finds a message from the provider's id (delivery status updates).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from shared.core.clock import iso, parse_iso
from shared.core.errors import AlreadyRecorded
from shared.core.models import Channel, Direction, MessageRecord
from shared.crypto.ports import PhiCipher
from shared.messaging.ports import DeliveryUpdate, MessageKey
from shared.runtime.aws_errors import is_condition_failure


def message_record_ref(message_id: str) -> str:
    return f"message#{message_id}"


def _sk(at: datetime, message_id: str) -> str:
    return f"MSG#{iso(at)}#{message_id}"


def _is_own_write(exc: ClientError, item: dict[str, Any]) -> bool:
    """True when the item that failed ``attribute_not_exists`` is exactly ``item``: the body's ciphertext
    is fresh for every encryption, so only this request's own earlier attempt can have written it."""
    stored = exc.response.get("Item")
    if not isinstance(stored, dict):
        return False
    serializer = TypeSerializer()
    return stored == {name: serializer.serialize(value) for name, value in item.items()}


class DynamoMessageLog:
    def __init__(self, table: Any, cipher: PhiCipher) -> None:
        self._table = table
        self._cipher = cipher

    def append(self, record: MessageRecord) -> None:
        item = self._item(record)
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                if _is_own_write(exc, item):
                    return  # the SDK retried this very request after its first attempt's answer was lost
                raise AlreadyRecorded(f"message {record.message_id} is recorded already") from exc
            raise

    def recorded(self, phone_hmac: str, message_id: str, at: datetime) -> bool:
        key = {"pk": phone_hmac, "sk": _sk(at, message_id)}
        return "Item" in self._table.get_item(Key=key, ConsistentRead=True, ProjectionExpression="pk")

    def put_request(self, record: MessageRecord) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table.name,
                "Item": self._item(record),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

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
        """The number's messages, newest first. Without ``include_body`` nothing is decrypted and
        ``body`` is empty: a status listing needs no PHI and no KMS call."""
        response = self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": phone_hmac, ":prefix": "MSG#"},
            ScanIndexForward=False,
            Limit=limit,
        )
        records = []
        for item in response.get("Items", []):
            body = (
                self._cipher.decrypt(message_record_ref(item["message_id"]), item["body_ct"])["body"]
                if include_body
                else ""
            )
            records.append(
                MessageRecord(
                    message_id=item["message_id"],
                    phone_hmac=phone_hmac,
                    direction=Direction(item["direction"]),
                    kind=item["kind"],
                    channel=Channel(item["channel"]),
                    status=item["status"],
                    created_at=parse_iso(item["created_at"]),
                    body=body,
                    provider_message_id=item.get("provider_message_id"),
                    appointment_id=item.get("appointment_id"),
                    segments=int(item["segments"]) if item.get("segments") is not None else None,
                    detail=item.get("detail"),
                    template=item.get("template"),
                    delivery_status=item.get("delivery_status"),
                    delivery_at=parse_iso(item["delivery_at"]) if item.get("delivery_at") else None,
                    delivery_detail=item.get("delivery_detail"),
                )
            )
        return records

    # -- delivery status ---------------------------------------------------------------------------
    def find_outbound(self, provider_message_id: str) -> MessageKey | None:
        response = self._table.query(
            IndexName="by_provider_message_id",
            KeyConditionExpression=Key("provider_message_id").eq(provider_message_id),
            Limit=10,
        )
        for item in response.get("Items", []):
            sk = str(item["sk"])
            if sk.startswith("MSG#"):
                return MessageKey(str(item["pk"]), sk)
        return None

    def record_delivery(self, key: MessageKey, update: DeliveryUpdate) -> bool:
        names = {"#s": "status", "#d": "direction"}
        values: dict[str, Any] = {
            ":status": update.status,
            ":at": iso(update.at),
            ":detail": update.detail,
            ":outbound": Direction.OUTBOUND.value,
        }
        sets = ["#s = :status", "delivery_status = :status", "delivery_at = :at", "delivery_detail = :detail"]
        if update.parts is not None:
            sets.append("delivered_parts = :parts")
            values[":parts"] = update.parts
        if update.price_usd is not None:
            sets.append("price_usd = :price")
            values[":price"] = update.price_usd
        try:
            self._table.update_item(
                Key={"pk": key.phone_hmac, "sk": key.sk},
                UpdateExpression="SET " + ", ".join(sets),
                # Only outbound records, and never over a later report: carriers report out of order.
                ConditionExpression="attribute_exists(pk) AND #d = :outbound "
                "AND (attribute_not_exists(delivery_at) OR delivery_at <= :at)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
