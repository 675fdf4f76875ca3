"""The message log: every text in and out, per conversation thread, with the body encrypted.

Items in MessagesTable:
  pk=<phone_hmac> sk=MSG#<created_at>#<message_id>   direction, kind, channel, status, body_ct, ...
The by_provider_message_id index finds a message from the provider's id (delivery status updates).
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import ClientError

from shared.clock import iso, parse_iso
from shared.crypto import PhiCipher
from shared.errors import AlreadyRecorded, is_condition_failure
from shared.models import Channel, Direction, MessageRecord


class MessageLog(Protocol):
    def append(self, record: MessageRecord) -> None:
        """Write one message; raises AlreadyRecorded when that message id and position exist."""
        ...

    def thread(self, phone_hmac: str, *, limit: int = 50) -> list[MessageRecord]: ...


def message_record_ref(message_id: str) -> str:
    return f"message#{message_id}"


class DynamoMessageLog:
    def __init__(self, table: Any, cipher: PhiCipher) -> None:
        self._table = table
        self._cipher = cipher

    def append(self, record: MessageRecord) -> None:
        item: dict[str, Any] = {
            "pk": record.phone_hmac,
            "sk": f"MSG#{iso(record.thread_at or record.created_at)}#{record.message_id}",
            "record_type": "message",
            "message_id": record.message_id,
            "direction": record.direction.value,
            "kind": record.kind,
            "channel": record.channel.value,
            "status": record.status,
            "created_at": iso(record.created_at),
            "body_ct": self._cipher.encrypt(message_record_ref(record.message_id), {"body": record.body}),
        }
        for optional in ("provider_message_id", "appointment_id", "segments", "detail"):
            value = getattr(record, optional)
            if value is not None:
                item[optional] = value
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if is_condition_failure(exc):
                raise AlreadyRecorded(f"message {record.message_id} is recorded already") from exc
            raise

    def thread(self, phone_hmac: str, *, limit: int = 50) -> list[MessageRecord]:
        response = self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": phone_hmac, ":prefix": "MSG#"},
            ScanIndexForward=False,
            Limit=limit,
        )
        records = []
        for item in response.get("Items", []):
            body = self._cipher.decrypt(message_record_ref(item["message_id"]), item["body_ct"])["body"]
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
                )
            )
        return records
