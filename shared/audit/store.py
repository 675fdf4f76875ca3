"""The audit trail in AuditTable: one chain of numbered records and its head, append-only.

Items (no PHI in any key or index; the break-glass reason is the one free text and is encrypted):
  pk=CHAIN sk=0           the chain head: last_sequence, last_hash, last_at
  pk=CHAIN sk=<sequence>  one record: sequence, at, user_id, username, action, source_ip, user_agent,
                          client_id, conversation_id, detail, reason_ct, previous_hash, hash, day,
                          at_sequence
Indexes: by_conversation (conversation_id, at_sequence), by_user (user_id, at_sequence), by_day (day,
at_sequence). ``conversation_id`` is the conversation's random id and ``user_id`` the staff member's
Cognito ``sub``: neither says anything about a patient.

Appends are serialized through the head: one transaction puts the head on condition that it still names
the sequence this writer read (or does not exist yet) and puts the record on condition that its position
is free. A writer that loses the race re-reads the head and seals its record again on top of the winner's,
up to :data:`MAX_ATTEMPTS` times (each retry is counted). Nothing here updates or deletes an item, and
the template grants no function UpdateItem, DeleteItem or BatchWriteItem on the table.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from shared.audit.domain import (
    ANCHOR_PREFIX,
    EMPTY_HEAD,
    GENESIS,
    Anchor,
    AuditEvent,
    AuditRecord,
    ChainHead,
    anchor_key,
    seal,
)
from shared.audit.ports import MAX_PAGE, AuditPage, ChainPage
from shared.core.clock import Clock, iso, parse_iso
from shared.core.errors import ConcurrentChange, IntegrityError, InvalidInput
from shared.core.metrics import Counter, NullCounter
from shared.crypto.ports import PhiCipher
from shared.runtime.observability import logger

CHAIN = "CHAIN"
HEAD_SK = 0
MAX_ATTEMPTS = 8
MAX_PERIOD = timedelta(days=366)
UNREADABLE = "\ufffdunreadable"  # stands in for an attribute that does not read back; never verifies


def audit_record_ref(sequence: int) -> str:
    return f"audit#{sequence}"


def _at_sequence(at: str, sequence: int) -> str:
    return f"{at}#{sequence:012d}"


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return value if isinstance(value, str) else UNREADABLE


def _number(value: Any) -> int | None:
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


class DynamoAuditLog:
    def __init__(
        self, table: Any, cipher: PhiCipher, clock: Clock, *, counter: Counter | None = None
    ) -> None:
        self._table = table
        self._client = table.meta.client
        self._cipher = cipher
        self._clock = clock
        self._counter = counter or NullCounter()
        self.retries = 0  # lost races since this log was built (also counted as AuditAppendRetries)

    # -- appending ------------------------------------------------------------------------------
    def _read_head(self) -> tuple[ChainHead, str | None]:
        item = self._table.get_item(Key={"pk": CHAIN, "sk": HEAD_SK}, ConsistentRead=True).get("Item")
        if not item:
            return EMPTY_HEAD, None
        sequence = _number(item.get("last_sequence"))
        last_hash = item.get("last_hash")
        if sequence is None or sequence < 1 or not isinstance(last_hash, str):
            # Appending on a head that does not read back would fork the chain: stop and say so.
            raise ConcurrentChange("the audit chain head cannot be read; run clinictext audit verify")
        last_at = item.get("last_at")
        return ChainHead(sequence, last_hash), last_at if isinstance(last_at, str) else None

    def append(self, event: AuditEvent) -> AuditRecord:
        for attempt in range(MAX_ATTEMPTS):
            head, last_at = self._read_head()
            now = self._clock.now()
            if last_at is not None:  # stamps never go back along the chain, whatever the clocks say
                now = max(now, parse_iso(last_at))
            record = seal(event, sequence=head.sequence + 1, previous_hash=head.hash, at=now)
            try:
                self._client.transact_write_items(TransactItems=self._append_items(record, head))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" not in reasons:
                    raise
                if reasons[:1] != ["ConditionalCheckFailed"]:
                    # The head took the write but the position is taken: the head is behind its records
                    # (deleted or rolled back). Retrying cannot help, and appending elsewhere would fork.
                    self._counter.count("AuditHeadBehind")
                    logger.error(
                        "audit chain head is behind its records", extra={"sequence": record.sequence}
                    )
                    raise IntegrityError(
                        "the audit chain head is behind its records; appends are stopped until an operator "
                        "runs clinictext audit verify and repairs the head"
                    ) from exc
                self.retries += 1
                self._counter.count("AuditAppendRetries")
                logger.info("audit append lost a race; retrying", extra={"attempt": attempt + 1})
                continue
            return record
        raise ConcurrentChange("the audit trail was busy; the request may be retried")

    def _append_items(self, record: AuditRecord, head: ChainHead) -> list[dict[str, Any]]:
        head_put: dict[str, Any] = {
            "TableName": self._table.name,
            "Item": {
                "pk": CHAIN,
                "sk": HEAD_SK,
                "record_type": "audit_head",
                "last_sequence": record.sequence,
                "last_hash": record.hash,
                "last_at": record.at,
            },
        }
        if head.sequence == 0:
            head_put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            head_put["ConditionExpression"] = "last_sequence = :expected AND last_hash = :expected_hash"
            head_put["ExpressionAttributeValues"] = {":expected": head.sequence, ":expected_hash": head.hash}
        return [
            {"Put": head_put},
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": self._item(record),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]

    def _item(self, record: AuditRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": CHAIN,
            "sk": record.sequence,
            "record_type": "audit_record",
            "sequence": record.sequence,
            "at": record.at,
            "day": record.at[:10],
            "at_sequence": _at_sequence(record.at, record.sequence),
            "user_id": record.user_id,
            "username": record.username,
            "action": record.action,
            "source_ip": record.source_ip,
            "user_agent": record.user_agent,
            "client_id": record.client_id,
            "detail": dict(record.detail),
            "previous_hash": record.previous_hash,
            "hash": record.hash,
        }
        if record.conversation_id is not None:
            item["conversation_id"] = record.conversation_id
        if record.reason is not None:
            item["reason_ct"] = self._cipher.encrypt(
                audit_record_ref(record.sequence), {"reason": record.reason}
            )
        return item

    # -- reading --------------------------------------------------------------------------------
    def _record(self, item: dict[str, Any]) -> AuditRecord:
        """The record an item holds, as stored: an attribute that does not read back becomes a value
        that cannot verify, so a damaged item is reported by ``verify``, never skipped or fatal here."""
        sequence = _number(item.get("sequence"))
        if sequence is None:
            sequence = _number(item.get("sk")) or -1
        conversation = item.get("conversation_id")
        detail_raw = item.get("detail")
        detail = (
            tuple(sorted((str(k), v if isinstance(v, str) else UNREADABLE) for k, v in detail_raw.items()))
            if isinstance(detail_raw, dict)
            else (("detail", UNREADABLE),)
        )
        reason: str | None = None
        if "reason_ct" in item:
            try:
                reason = str(
                    self._cipher.decrypt(audit_record_ref(sequence), str(item["reason_ct"]))["reason"]
                )
            except Exception as exc:  # a ciphertext moved or altered: the record then fails verification
                logger.warning(
                    "audit reason does not decrypt", extra={"sequence": sequence, "error": type(exc).__name__}
                )
                reason = UNREADABLE
        return AuditRecord(
            sequence=sequence,
            at=_text(item, "at"),
            user_id=_text(item, "user_id"),
            username=_text(item, "username"),
            action=_text(item, "action"),
            source_ip=_text(item, "source_ip"),
            user_agent=_text(item, "user_agent"),
            client_id=_text(item, "client_id") if "client_id" in item else "",
            conversation_id=conversation if isinstance(conversation, str) else None,
            detail=detail,
            reason=reason,
            previous_hash=_text(item, "previous_hash"),
            hash=_text(item, "hash"),
        )

    def head(self) -> ChainHead:
        return self._read_head()[0]

    def chain(self, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        return list(self.chain_page(after_position=after, limit=limit).records)

    def chain_page(self, *, after_position: int = 0, limit: int = 1000) -> ChainPage:
        records: list[AuditRecord] = []
        positions: list[int] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(CHAIN) & Key("sk").gt(max(after_position, HEAD_SK)),
            "ConsistentRead": True,
            "Limit": min(limit, 1000),
        }
        while len(records) < limit:
            query["Limit"] = min(limit - len(records), 1000)
            response = self._table.query(**query)
            for item in response.get("Items", []):
                records.append(self._record(item))
                positions.append(_number(item.get("sk")) or 0)
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return ChainPage(tuple(records), tuple(positions))

    def by_conversation(
        self,
        conversation_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage:
        return self._by_index(
            "by_conversation",
            "conversation_id",
            conversation_id,
            start=start,
            end=end,
            limit=limit,
            cursor=cursor,
        )

    def by_user(
        self,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage:
        return self._by_index("by_user", "user_id", user_id, start=start, end=end, limit=limit, cursor=cursor)

    def by_period(
        self, start: datetime, end: datetime, *, limit: int = 50, cursor: str | None = None
    ) -> AuditPage:
        _check_period(start, end)
        limit = _check_limit(limit)
        state = _decode_cursor(cursor, "by_day")
        day = state.get("day") if state else iso(end - timedelta(microseconds=1))[:10]
        first_day = iso(start)[:10]
        if not isinstance(day, str) or not (first_day <= day <= iso(end)[:10]):
            raise InvalidInput("cursor does not belong to this query", field="cursor")
        start_key = state.get("key") if state else None
        records: list[AuditRecord] = []
        while True:
            query: dict[str, Any] = {
                "IndexName": "by_day",
                "KeyConditionExpression": Key("day").eq(day)
                & Key("at_sequence").between(iso(start), iso(end)),
                "ScanIndexForward": False,
                "Limit": limit - len(records),
            }
            if start_key:
                query["ExclusiveStartKey"] = _check_key(start_key, "day", day)
            response = self._query(query)
            records += [self._record(item) for item in response.get("Items", [])]
            start_key = response.get("LastEvaluatedKey")
            if len(records) >= limit:
                next_state = {"day": day, "key": start_key} if start_key else _previous_day(day, first_day)
                return AuditPage(tuple(records), _encode_cursor("by_day", next_state) if next_state else None)
            if not start_key:
                following = _previous_day(day, first_day)
                if following is None:
                    return AuditPage(tuple(records), None)
                day = following["day"]

    def _query(self, query: dict[str, Any]) -> dict[str, Any]:
        """One Query; a start key DynamoDB refuses (outside the key condition's range: a cursor from the
        same index but another period) is the caller's cursor at fault, a 400 naming it."""
        try:
            response: dict[str, Any] = self._table.query(**query)
        except ClientError as exc:
            refused = exc.response.get("Error", {}).get("Code") == "ValidationException"
            if refused and "ExclusiveStartKey" in query:
                raise InvalidInput("cursor does not belong to this query", field="cursor") from exc
            raise
        return response

    def _by_index(
        self,
        index: str,
        attribute: str,
        value: str,
        *,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> AuditPage:
        if not isinstance(value, str) or not value or len(value) > 128:
            raise InvalidInput(f"{attribute} must be an id", field=attribute)
        limit = _check_limit(limit)
        low = iso(start) if start is not None else "0"
        high = iso(end) if end is not None else "9"
        if start is not None and end is not None:
            _check_period(start, end, bounded=False)
        query: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": Key(attribute).eq(value) & Key("at_sequence").between(low, high),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        state = _decode_cursor(cursor, index)
        if state:
            query["ExclusiveStartKey"] = _check_key(state.get("key"), attribute, value)
        response = self._query(query)
        records = tuple(self._record(item) for item in response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        return AuditPage(records, _encode_cursor(index, {"key": last}) if last else None)


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
    return limit


def _check_period(start: datetime, end: datetime, *, bounded: bool = True) -> None:
    if end <= start:
        raise InvalidInput("to must be after from", field="to")
    if bounded and end - start > MAX_PERIOD:
        raise InvalidInput("a period query covers at most 366 days; page through longer periods", field="to")


def _previous_day(day: str, first_day: str) -> dict[str, Any] | None:
    previous = (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()
    return {"day": previous, "key": None} if previous >= first_day else None


def _encode_cursor(query: str, state: dict[str, Any]) -> str:
    plain = {k: (int(v) if isinstance(v, Decimal) else v) for k, v in (state.get("key") or {}).items()}
    payload = json.dumps({"q": query, **state, "key": plain or None}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, query: str) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        if not isinstance(cursor, str) or len(cursor) > 2048:
            raise ValueError
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API issued", field="cursor") from None
    if not isinstance(state, dict) or state.get("q") != query:
        raise InvalidInput("cursor does not belong to this query", field="cursor")
    return state


def _check_key(key: Any, attribute: str, value: str) -> dict[str, Any]:
    """An ExclusiveStartKey from a cursor: exactly the index's and table's key attributes, of their types,
    in the partition being queried (so a cursor cannot steer the query anywhere else)."""
    expected = {"pk", "sk", attribute, "at_sequence"}
    if (
        not isinstance(key, dict)
        or set(key) != expected
        or key["pk"] != CHAIN
        or not isinstance(key["sk"], int)
        or isinstance(key["sk"], bool)
        or not 0 < key["sk"] < 10**15  # DynamoDB numbers hold 38 digits; a sequence never nears 15
        or key[attribute] != value
        or not isinstance(key["at_sequence"], str)
        or len(key["at_sequence"]) > 64
    ):
        raise InvalidInput("cursor does not belong to this query", field="cursor")
    return key


class S3AuditAnchors:
    """Anchors in AuditAnchorBucket (Object Lock, compliance mode: no one, root included, can delete or
    overwrite an anchor's version before its retention ends). One object per anchored sequence, written
    once: the put is conditional (``If-None-Match: *``), so a later head at the same sequence (after a
    rewind) cannot add a version that would hide the first one from a plain read."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def put(self, anchor: Anchor) -> bool:
        try:
            # Object Lock buckets require an integrity checksum on every put.
            self._s3.put_object(
                Bucket=self._bucket,
                Key=anchor.key,
                Body=anchor.body(),
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            # 412: the key exists; 409: a concurrent conditional put of the same key won.
            if exc.response.get("Error", {}).get("Code") in _EXISTS:
                return False
            raise
        return True

    def get(self, sequence: int) -> Anchor | None:
        key = anchor_key(sequence)
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return Anchor.parse(key, body)

    def newest(self, count: int) -> list[Anchor]:
        if count < 1:
            return []
        listed = self._s3.list_objects_v2(Bucket=self._bucket, Prefix=ANCHOR_PREFIX, MaxKeys=count)
        anchors = []
        for entry in listed.get("Contents", []):
            body = self._s3.get_object(Bucket=self._bucket, Key=entry["Key"])["Body"].read()
            anchors.append(Anchor.parse(entry["Key"], body))
        return sorted(anchors, key=lambda a: a.sequence, reverse=True)


# A conditional put refused: the key exists (412), or a concurrent put of it won (409).
_EXISTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})

__all__ = ["GENESIS", "DynamoAuditLog", "S3AuditAnchors", "audit_record_ref"]
