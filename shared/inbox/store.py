"""The inbox's DynamoDB side: conversations, department settings, landings and the automated replies' claims.

Items in ConversationsTable (no key or index attribute holds PHI: ids are random, numbers are blind
indexes, departments are group names):

  pk=<conversation_id>                 sk=conversation  the conversation (see :func:`_item`)
  pk=<conversation_id>                 sk=msg#<at>#<id>  a reference to a logged message (no body)
  pk=number#<phone_hmac>#<department>  sk=conversation  the one conversation of a number and department
  pk=inbound#<message_id>              sk=landed        an inbound text landed (redelivery lands nothing)
  pk=reply#<key>                       sk=claim         an automated reply's exactly-once claim
  pk=settings#departments              sk=<department>  the department's settings (JSON)

Indexes: ``by_number`` (phone_hmac, department), ``by_department`` (department, activity_key) and the
sparse ``attention`` (attention, activity_key) holding only open conversations awaiting a reply or under
an urgent escalation. ``activity_key`` is ``<last activity>#<conversation_id>``, so newest first is a
descending Query.

The conversation's notes, labels and change history are PHI or may be (a note's text; a label such as a
condition; the labels and note ids in the history's details): they are kept in one ciphertext
(``sealed``), encrypted with the PHI cipher bound to the conversation (``inbox-conversation#<id>``).
Message bodies stay in the message log; a conversation holds references only.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from shared.core.clock import iso, parse_iso
from shared.core.errors import ConcurrentChange, InvalidInput
from shared.core.models import Channel, Direction, MessageRecord
from shared.crypto.ports import PhiCipher
from shared.inbox.conversation import (
    Assignee,
    AssigneeKind,
    Change,
    ChangeKind,
    Conversation,
    ConversationStatus,
    Note,
    is_conversation_id,
)
from shared.inbox.departments import DepartmentSettings
from shared.inbox.ports import (
    AlreadyLanded,
    Escalation,
    InboxConversation,
    LandedAlready,
    Landing,
    MessageRef,
    Page,
)
from shared.inbox.sla import ConversationSummary
from shared.outbound.pipeline import OutboundText, Outcome
from shared.outbound.ports import TransactionCancelled, Transactions
from shared.runtime.aws_errors import is_condition_failure

CONVERSATION = "conversation"
SETTINGS_PK = "settings#departments"
MAX_PAGE = 100
_CURSOR_FIELDS = {
    "by_department": ("pk", "sk", "department", "activity_key"),
    "attention": ("pk", "sk", "attention", "activity_key"),
}


# Attributes a conversation item may lack (None in the model, or nothing recorded yet).
_OPTIONAL_ATTRIBUTES = (
    "first_inbound_at",
    "first_response_at",
    "last_inbound_at",
    "awaiting_reply_since",
    "closed_at",
    "after_hours_key",
    "attention",
)
_ESCALATION_ATTRIBUTES = ("urgent_at", "escalations", "escalated_at", "escalation_ended", "urgent_category")


def conversation_record_ref(conversation_id: str) -> str:
    return f"inbox-conversation#{conversation_id}"


def _guard_key(phone_hmac: str, department: str) -> dict[str, str]:
    return {"pk": f"number#{phone_hmac}#{department}", "sk": CONVERSATION}


def _opt(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _when(value: Any) -> datetime | None:
    return parse_iso(str(value)) if value else None


def _started_by_staff(item: Mapping[str, Any]) -> bool:
    """Whether staff started the conversation: its ``started_by``; an item written before that attribute
    was staff-started when no patient text created it (a patient's first text creates a conversation at
    that very instant, so a later first text, or none, means a staff member began it)."""
    if "started_by" in item:
        return item["started_by"] == "staff"
    first = _when(item.get("first_inbound_at"))
    return first is None or first > parse_iso(str(item["created_at"]))


def _change(change: Change) -> dict[str, Any]:
    return {
        "v": change.version,
        "k": change.kind.value,
        "at": iso(change.at),
        "by": change.by,
        "d": change.detail,
    }


def _change_of(raw: Mapping[str, Any]) -> Change:
    return Change(
        int(raw["v"]), ChangeKind(raw["k"]), parse_iso(raw["at"]), str(raw["by"]), str(raw.get("d", ""))
    )


def _assignee_of(raw: str) -> Assignee:
    kind, _, ident = raw.partition(":")
    return Assignee(AssigneeKind(kind), ident)


def needs_attention(record: InboxConversation) -> bool:
    """Whether the sweep should look at it: open, and awaiting a reply or under an urgent escalation."""
    conversation = record.conversation
    if conversation.status is not ConversationStatus.OPEN:
        return False
    escalating = conversation.urgent and record.escalation is not None and record.escalation.ended is None
    return conversation.awaiting_reply_since is not None or escalating


class DynamoConversationStore:
    """:class:`shared.inbox.ports.ConversationStore` on ConversationsTable."""

    def __init__(self, table: Any, cipher: PhiCipher, transactions: Transactions) -> None:
        self._table = table
        self._cipher = cipher
        self._transactions = transactions

    # -- items -----------------------------------------------------------------------------------------
    def _item(self, record: InboxConversation) -> dict[str, Any]:
        c = record.conversation
        sealed = self._cipher.encrypt(
            conversation_record_ref(c.conversation_id),
            {
                "notes": [
                    {"id": n.note_id, "author": n.author, "at": iso(n.at), "body": n.body} for n in c.notes
                ],
                "labels": sorted(c.labels),
                "history": [_change(h) for h in c.history],
                "assignments": [_change(a) for a in c.assignments],
            },
        )
        item: dict[str, Any] = {
            "pk": c.conversation_id,
            "sk": CONVERSATION,
            "record_type": CONVERSATION,
            "conversation_id": c.conversation_id,
            "phone_hmac": c.phone_hmac,
            "department": c.department,
            "status": c.status.value,
            "assignee": str(c.assignee),
            "created_at": iso(c.created_at),
            "last_activity_at": iso(c.last_activity_at),
            "activity_key": f"{iso(c.last_activity_at)}#{c.conversation_id}",
            "version": c.version,
            "urgent": c.urgent,
            "overdue": c.overdue,
            "patient_messages": c.patient_messages,
            "staff_replies": c.staff_replies,
            "read_markers": {user: iso(at) for user, at in c.read_markers},
            "started_by": "staff" if c.started_by_staff else "patient",
            "sealed": sealed,
        }
        for name in (
            "first_inbound_at",
            "first_response_at",
            "last_inbound_at",
            "awaiting_reply_since",
            "closed_at",
        ):
            value = getattr(c, name)
            if value is not None:
                item[name] = iso(value)
        if record.after_hours_key:
            item["after_hours_key"] = record.after_hours_key
        if record.contact_ct:
            item["contact_ct"] = record.contact_ct  # sealed by the service (contact_record_ref)
        if record.escalation is not None:
            item.update(self._escalation_attributes(record.escalation))
        if needs_attention(record):
            item["attention"] = "open"
        return item

    @staticmethod
    def _escalation_attributes(escalation: Escalation) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "urgent_at": iso(escalation.urgent_at),
            "escalations": escalation.attempts,
        }
        if escalation.last_at is not None:
            attributes["escalated_at"] = iso(escalation.last_at)
        if escalation.ended is not None:
            attributes["escalation_ended"] = escalation.ended
        if escalation.category is not None:
            attributes["urgent_category"] = escalation.category
        return attributes

    def _record(self, item: Mapping[str, Any]) -> InboxConversation:
        conversation_id = str(item["conversation_id"])
        sealed = self._cipher.decrypt(conversation_record_ref(conversation_id), str(item["sealed"]))
        markers = item.get("read_markers") or {}
        conversation = Conversation(
            conversation_id=conversation_id,
            phone_hmac=str(item["phone_hmac"]),
            department=str(item["department"]),
            status=ConversationStatus(str(item["status"])),
            assignee=_assignee_of(str(item["assignee"])),
            created_at=parse_iso(str(item["created_at"])),
            last_activity_at=parse_iso(str(item["last_activity_at"])),
            version=int(item["version"]),
            labels=frozenset(sealed.get("labels") or ()),
            notes=tuple(
                Note(n["id"], n["author"], parse_iso(n["at"]), n["body"]) for n in sealed.get("notes") or ()
            ),
            urgent=bool(item.get("urgent")),
            overdue=bool(item.get("overdue")),
            first_inbound_at=_when(item.get("first_inbound_at")),
            first_response_at=_when(item.get("first_response_at")),
            last_inbound_at=_when(item.get("last_inbound_at")),
            awaiting_reply_since=_when(item.get("awaiting_reply_since")),
            closed_at=_when(item.get("closed_at")),
            patient_messages=int(item.get("patient_messages", 0)),
            staff_replies=int(item.get("staff_replies", 0)),
            assignments=tuple(_change_of(a) for a in sealed.get("assignments") or ()),
            history=tuple(_change_of(h) for h in sealed.get("history") or ()),
            read_markers=tuple(sorted((str(u), parse_iso(str(at))) for u, at in markers.items())),
            started_by_staff=_started_by_staff(item),
        )
        escalation = None
        if item.get("urgent_at"):
            escalation = Escalation(
                urgent_at=parse_iso(str(item["urgent_at"])),
                attempts=int(item.get("escalations", 0)),
                last_at=_when(item.get("escalated_at")),
                ended=str(item["escalation_ended"]) if item.get("escalation_ended") else None,
                category=str(item["urgent_category"]) if item.get("urgent_category") else None,
            )
        contact = item.get("contact_ct")
        return InboxConversation(
            conversation, item.get("after_hours_key"), escalation, str(contact) if contact else None
        )

    def _write_conversation(
        self, record: InboxConversation, expected_version: int | None, *, escalation: bool = False
    ) -> dict[str, Any]:
        """The transaction item writing ``record``: a Put of a new conversation, else an Update on the
        version read. An Update leaves the escalation's attributes alone unless ``escalation`` (a text
        that starts a new one): the sweep records its attempts beside the version, and a write of the
        thread must never put back the attempts it read."""
        item = self._item(record)
        if expected_version is None:
            return {
                "Put": {
                    "TableName": self._table.name,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        owned = set(item) - {"pk", "sk"} - (set() if escalation else set(_ESCALATION_ATTRIBUTES))
        absent = (set(_OPTIONAL_ATTRIBUTES) | (set(_ESCALATION_ATTRIBUTES) if escalation else set())) - set(
            item
        )
        names = {f"#n{i}": name for i, name in enumerate(sorted(owned | absent))}
        index = {name: key for key, name in names.items()}
        values: dict[str, Any] = {f":v{index[name][2:]}": item[name] for name in owned}
        values[":expected"] = expected_version
        expression = "SET " + ", ".join(f"{index[name]} = :v{index[name][2:]}" for name in sorted(owned))
        if absent:
            expression += " REMOVE " + ", ".join(index[name] for name in sorted(absent))
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": {"pk": item["pk"], "sk": item["sk"]},
                "UpdateExpression": expression,
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    # -- reads -----------------------------------------------------------------------------------------
    def get(self, conversation_id: str) -> InboxConversation | None:
        if not is_conversation_id(conversation_id):
            return None
        item = self._table.get_item(Key={"pk": conversation_id, "sk": CONVERSATION}, ConsistentRead=True).get(
            "Item"
        )
        return self._record(item) if item else None

    def find(self, phone_hmac: str, department: str) -> InboxConversation | None:
        guard = self._table.get_item(Key=_guard_key(phone_hmac, department), ConsistentRead=True).get("Item")
        if not guard:
            return None
        return self.get(str(guard["conversation_id"]))

    def for_number(self, phone_hmac: str) -> list[InboxConversation]:
        response = self._table.query(
            IndexName="by_number", KeyConditionExpression=Key("phone_hmac").eq(phone_hmac)
        )
        return [self._record(item) for item in response.get("Items", [])]

    def message_refs(self, conversation_id: str) -> dict[str, MessageRef]:
        """The conversation's own texts (patient texts that landed in it, its replies), by message id:
        references only (ids, direction, kind, sender), never a body."""
        refs: dict[str, MessageRef] = {}
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(conversation_id) & Key("sk").begins_with("msg#"),
            "ProjectionExpression": "message_id, direction, kind, sender_id, sender_name",
        }
        while True:
            response = self._table.query(**query)
            for item in response.get("Items", []):
                refs[str(item["message_id"])] = MessageRef(
                    message_id=str(item["message_id"]),
                    direction=str(item.get("direction", "")),
                    kind=str(item["kind"]) if item.get("kind") else None,
                    sender_id=str(item["sender_id"]) if item.get("sender_id") else None,
                    sender_name=str(item["sender_name"]) if item.get("sender_name") else None,
                )
            if "LastEvaluatedKey" not in response:
                return refs
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def landed(self, message_id: str) -> LandedAlready | None:
        item = self._table.get_item(
            Key={"pk": f"inbound#{message_id}", "sk": "landed"}, ConsistentRead=True
        ).get("Item")
        return _landed(item) if item else None

    # -- writes ----------------------------------------------------------------------------------------
    def land(self, record: InboxConversation, landing: Landing, *, expected_version: int | None) -> None:
        c = record.conversation
        marker: dict[str, Any] = {
            "pk": f"inbound#{landing.message_id}",
            "sk": "landed",
            "conversation_id": c.conversation_id,
            "at": iso(landing.at),
            "language": landing.language,
        }
        for name in ("reply", "reply_key", "category"):
            value = getattr(landing, name)
            if value is not None:
                marker[name] = value
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": marker,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            self._write_conversation(record, expected_version, escalation=landing.escalation_started),
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {
                        "pk": c.conversation_id,
                        "sk": f"msg#{iso(landing.at)}#{landing.message_id}",
                        "message_id": landing.message_id,
                        "direction": Direction.INBOUND.value,
                        "thread_at": iso(landing.at),
                    },
                }
            },
        ]
        if expected_version is None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": {
                            **_guard_key(c.phone_hmac, c.department),
                            "conversation_id": c.conversation_id,
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            self._transactions.write(items)
        except TransactionCancelled as exc:
            if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                landed = self.landed(landing.message_id)
                if landed is not None:
                    raise AlreadyLanded(landed) from exc
            raise ConcurrentChange("the conversation changed while the text landed") from exc

    def save(self, record: InboxConversation, *, expected_version: int) -> None:
        update = self._write_conversation(record, expected_version)["Update"]
        try:
            self._table.update_item(
                Key=update["Key"],
                UpdateExpression=update["UpdateExpression"],
                ConditionExpression=update["ConditionExpression"],
                ExpressionAttributeNames=update["ExpressionAttributeNames"],
                ExpressionAttributeValues=update["ExpressionAttributeValues"],
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise ConcurrentChange("the conversation changed since it was read") from exc
            raise

    def record_escalation(
        self, conversation_id: str, escalation: Escalation, *, previous_attempts: int | None
    ) -> bool:
        attributes = self._escalation_attributes(escalation)
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values = {f":a{i}": value for i, value in enumerate(attributes.values())}
        sets = ", ".join(f"#a{i} = :a{i}" for i in range(len(attributes)))
        expression = f"SET {sets}"
        if escalation.ended is not None:
            expression += " REMOVE attention"  # nothing more for the sweep unless a reply is awaited
        condition = "attribute_exists(pk) AND "
        if previous_attempts is None:
            condition += "attribute_not_exists(escalations)"
        else:
            condition += "escalations = :previous"
            values[":previous"] = previous_attempts
        try:
            self._table.update_item(
                Key={"pk": conversation_id, "sk": CONVERSATION},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        if escalation.ended is not None:
            # Still awaiting a reply: keep it on the sweep's list (for the overdue flag).
            current = self.get(conversation_id)
            if current is not None and needs_attention(current):
                self._table.update_item(
                    Key={"pk": conversation_id, "sk": CONVERSATION},
                    UpdateExpression="SET attention = :open",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":open": "open"},
                )
        return True

    def create(self, record: InboxConversation) -> None:
        c = record.conversation
        items = [
            self._write_conversation(record, None),
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {**_guard_key(c.phone_hmac, c.department), "conversation_id": c.conversation_id},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        try:
            self._transactions.write(items)
        except TransactionCancelled as exc:
            raise ConcurrentChange("a conversation with this number and department exists already") from exc

    def summaries(self, department: str, *, since: datetime) -> list[ConversationSummary]:
        query: dict[str, Any] = {
            "IndexName": "by_department",
            "KeyConditionExpression": Key("department").eq(department) & Key("activity_key").gte(iso(since)),
            "ProjectionExpression": "department, created_at, started_by, first_inbound_at, "
            "first_response_at, closed_at",
        }
        found: list[ConversationSummary] = []
        while True:
            response = self._table.query(**query)
            for item in response.get("Items", []):
                staff = _started_by_staff(item)
                started = _when(item.get("created_at") if staff else item.get("first_inbound_at"))
                if started is None:
                    continue
                found.append(
                    ConversationSummary(
                        department=str(item["department"]),
                        started_at=started,
                        first_response_at=None if staff else _when(item.get("first_response_at")),
                        closed_at=_when(item.get("closed_at")),
                        staff_started=staff,
                    )
                )
            if "LastEvaluatedKey" not in response:
                return found
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- listings --------------------------------------------------------------------------------------
    def list_department(
        self,
        department: str,
        *,
        status: ConversationStatus | None = None,
        limit: int = 25,
        cursor: str | None = None,
    ) -> Page:
        args: dict[str, Any] = {}
        if status is not None:
            args["FilterExpression"] = Attr("status").eq(status.value)
        return self._page(
            "by_department", Key("department").eq(department), limit=limit, cursor=cursor, **args
        )

    def needing_attention(self, *, limit: int = 100, cursor: str | None = None) -> Page:
        return self._page("attention", Key("attention").eq("open"), limit=limit, cursor=cursor)

    def _page(self, index: str, condition: Any, *, limit: int, cursor: str | None, **args: Any) -> Page:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}", field="limit")
        query: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
            "Limit": limit,
            **args,
        }
        if cursor is not None:
            query["ExclusiveStartKey"] = decode_cursor(cursor, index)
        response = self._table.query(**query)
        items = [self._record(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return Page(items, encode_cursor(last, index) if last else None, int(response.get("ScannedCount", 0)))

    # -- department settings ---------------------------------------------------------------------------
    def all(self) -> dict[str, DepartmentSettings]:
        found: dict[str, DepartmentSettings] = {}
        query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(SETTINGS_PK), "ConsistentRead": True}
        while True:
            response = self._table.query(**query)
            for item in response.get("Items", []):
                found[str(item["sk"])] = DepartmentSettings.model_validate_json(str(item["settings"]))
            if "LastEvaluatedKey" not in response:
                return found
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def put(self, department: str, settings: DepartmentSettings) -> None:
        self._table.put_item(
            Item={"pk": SETTINGS_PK, "sk": department, "settings": settings.model_dump_json()}
        )


def _landed(item: Mapping[str, Any]) -> LandedAlready:
    return LandedAlready(
        conversation_id=str(item["conversation_id"]),
        reply=item.get("reply"),
        reply_key=item.get("reply_key"),
        language=str(item.get("language", "en")),
        category=item.get("category"),
    )


def encode_cursor(key: Mapping[str, Any], index: str) -> str:
    raw = json.dumps({name: str(key[name]) for name in _CURSOR_FIELDS[index]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, index: str) -> dict[str, str]:
    """The start key a cursor stands for; InvalidInput naming ``cursor`` for anything else."""
    bad = InvalidInput("cursor is not one this listing handed out; start again without it", field="cursor")
    if not isinstance(cursor, str) or len(cursor) > 1000:
        raise bad
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise bad from exc
    fields = _CURSOR_FIELDS[index]
    if (
        not isinstance(decoded, dict)
        or set(decoded) != set(fields)
        or not all(isinstance(decoded[name], str) and 0 < len(decoded[name]) <= 300 for name in fields)
        or decoded["sk"] != CONVERSATION
        or not is_conversation_id(decoded["pk"])
    ):
        raise bad
    return decoded


# -- the automated replies' bookkeeping (a KindBook of the outbound pipeline) ---------------------------
CLAIMED = "sending"
RELEASED = "released"


class DynamoInboxReplyBook:
    """The after-hours and urgent replies' records for :class:`shared.outbound.pipeline.OutboundPipeline`:
    one claim item per reply key (``reply#<key>``), claimed once (so a redelivered text, or two racing
    deliveries, send the reply once), marked sent with the message log record and a reference in the
    conversation in one transaction. ``text.ref`` is ``(conversation_id, thread_at)``, or for a staff
    reply ``(conversation_id, thread_at, sender_id, sender_name)``: the reference then names who sent
    it (a Cognito sub and username, no PHI) for the thread view."""

    claim_item_count = 1
    sent_item_count = 2  # the claim marked sent, the conversation's reference to the message

    def __init__(
        self,
        table: Any,
        transactions: Transactions,
        clock: Any,
        *,
        logged_body: Callable[[str], str] | None = None,
    ) -> None:
        """``logged_body``: what the message log keeps of a body (a secure message's text keeps its link
        out of the log: the token opens the message, so it is never stored)."""
        self._table = table
        self._transactions = transactions
        self._clock = clock
        self._logged_body = logged_body

    def _key(self, text: OutboundText) -> dict[str, str]:
        return {"pk": f"reply#{text.key}", "sk": "claim"}

    def claim_items(self, text: OutboundText, token: str, now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {
                        **self._key(text),
                        "status": CLAIMED,
                        "claim_token": token,
                        "claimed_at": iso(now),
                        "kind": text.kind.name,
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR #s = :released",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":released": RELEASED},
                }
            }
        ]

    def claim_refused(self, text: OutboundText, failed: Sequence[int], now: datetime) -> Outcome:
        return Outcome("already_claimed", detail="the reply was claimed by an earlier delivery")

    def sent_items(
        self, text: OutboundText, token: str, provider_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        conversation_id, thread_at = text.ref[0], text.ref[1]
        sender = {"sender_id": text.ref[2], "sender_name": text.ref[3]} if len(text.ref) == 4 else {}
        message_id = reply_message_id(text.key)
        return [
            {
                "Update": {
                    "TableName": self._table.name,
                    "Key": self._key(text),
                    "UpdateExpression": "SET #s = :sent, sent_at = :now, provider_message_id = :pid",
                    "ConditionExpression": "#s = :sending AND claim_token = :token",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":sent": "sent",
                        ":now": iso(now),
                        ":pid": provider_id,
                        ":sending": CLAIMED,
                        ":token": token,
                    },
                }
            },
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {
                        "pk": conversation_id,
                        "sk": f"msg#{iso(thread_at)}#{message_id}",
                        "message_id": message_id,
                        "direction": Direction.OUTBOUND.value,
                        "kind": text.kind.name,
                        "thread_at": iso(thread_at),
                        **sender,
                    },
                }
            },
        ]

    def record(self, text: OutboundText, body: str, provider_id: str, parts: int) -> MessageRecord:
        thread_at = text.ref[1]
        return MessageRecord(
            message_id=reply_message_id(text.key),
            phone_hmac=text.phone_hmac,
            direction=Direction.OUTBOUND,
            kind=text.kind.name,
            channel=Channel.AWS_SMS,
            status="sent",
            created_at=self._clock.now(),
            thread_at=thread_at,
            body=self._logged_body(body) if self._logged_body is not None else body,
            provider_message_id=provider_id,
            segments=parts,
            template="builtin",
        )

    def _final(
        self,
        text: OutboundText,
        word: str,
        now: datetime,
        detail: str,
        *,
        condition: str,
        values: dict[str, Any],
    ) -> None:
        try:
            self._table.update_item(
                Key=self._key(text),
                UpdateExpression="SET #s = :word, closed_at = :now, detail = :detail",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":word": word, ":now": iso(now), ":detail": detail, **values},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def stop(self, text: OutboundText, word: str, now: datetime, detail: str) -> Outcome:
        self._final(
            text,
            word,
            now,
            detail,
            condition="attribute_not_exists(pk) OR #s = :released",
            values={":released": RELEASED},
        )
        return Outcome(word)

    def defer(self, text: OutboundText, until: datetime, now: datetime, reason: str) -> Outcome:
        # The inbox's kinds are never held (no caps, no quiet hours); should one be, it comes back later.
        return Outcome("retry_later", retry=True, detail=reason)

    def close(self, text: OutboundText, word: str, now: datetime, detail: str, token: str) -> None:
        self._final(text, word, now, detail, condition="claim_token = :token", values={":token": token})

    def release(self, text: OutboundText, token: str, extra_items: list[dict[str, Any]]) -> None:
        self._transactions.write(
            [
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": self._key(text),
                        "UpdateExpression": "SET #s = :released",
                        "ConditionExpression": "claim_token = :token",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":released": RELEASED, ":token": token},
                    }
                },
                *extra_items,
            ]
        )

    def status(self, key: str) -> str | None:
        item = self._table.get_item(Key={"pk": f"reply#{key}", "sk": "claim"}, ConsistentRead=True).get(
            "Item"
        )
        return str(item["status"]) if item else None


def reply_message_id(key: str) -> str:
    return f"auto-{key}"


def with_version(record: InboxConversation, conversation: Conversation) -> InboxConversation:
    return replace(record, conversation=conversation)
