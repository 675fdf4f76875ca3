"""Secure messages in ConversationsTable (no plaintext PHI in any attribute, key or index):

  pk=<conversation_id>          sk=secure#<link_id>  the link: counters, times, ``token_hash`` (a keyed
                                                     HMAC of the token, never the token), ``body_ct`` (the
                                                     message, bound to ``secure-message#<link_id>``) and
                                                     ``check_ct`` (the appointment whose date of birth
                                                     checks it, bound to ``secure-check#<link_id>``)
  pk=securetoken#<token_hash>   sk=secure            the lookup from a token's hash to its link
  pk=<conversation_id>          sk=secureanswer#<key> one answer taken (``answer_key``: a keyed HMAC of the
                                                     link, the session and the text, never the text):
                                                     its message id and time, so a re-post lands nothing

Neither item carries the attributes of the table's indexes (phone_hmac is stored as ``number_hmac``), so
no secure message shows up in a conversation list or the sweep's work list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from shared.core.clock import iso, parse_iso
from shared.core.errors import ConcurrentChange, Conflict
from shared.crypto.ports import PhiCipher
from shared.outbound.ports import TransactionCancelled, Transactions
from shared.runtime.aws_errors import is_condition_failure
from shared.secure.domain import AnswerClaim, SecureLink, is_link_id
from shared.secure.ports import AnswerRepeated

SK_PREFIX = "secure#"
TOKEN_SK = "secure"  # noqa: S105  # a sort key, not a secret  # nosec B105
RECORD_TYPE = "secure_message"
ANSWER_SK_PREFIX = "secureanswer#"
ANSWER_RECORD_TYPE = "secure_answer_claim"


def body_record_ref(link_id: str) -> str:
    return f"secure-message#{link_id}"


def check_record_ref(link_id: str) -> str:
    return f"secure-check#{link_id}"


def _token_key(token_hash: str) -> dict[str, str]:
    return {"pk": f"securetoken#{token_hash}", "sk": TOKEN_SK}


def _opt(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _when(value: Any) -> datetime | None:
    return parse_iso(str(value)) if value else None


def _link(item: dict[str, Any]) -> SecureLink:
    return SecureLink(
        link_id=str(item["link_id"]),
        conversation_id=str(item["conversation_id"]),
        department=str(item["department"]),
        phone_hmac=str(item["number_hmac"]),
        token_hash=str(item["token_hash"]),
        created_at=parse_iso(str(item["created_at"])),
        created_by=str(item["created_by"]),
        expires_at=parse_iso(str(item["expires_at"])),
        failed_tries=int(item.get("failed_tries", 0)),
        locked_at=_when(item.get("locked_at")),
        opened_at=_when(item.get("opened_at")),
        answers=int(item.get("answers", 0)),
        last_answer_at=_when(item.get("last_answer_at")),
        version=int(item.get("version", 1)),
    )


class DynamoSecureLinks:
    """:class:`shared.secure.ports.SecureLinkStore` on ConversationsTable."""

    def __init__(self, table: Any, cipher: PhiCipher, transactions: Transactions) -> None:
        self._table = table
        self._cipher = cipher
        self._transactions = transactions

    def create(self, link: SecureLink, body: str, source_id: str) -> None:
        item = {
            "pk": link.conversation_id,
            "sk": SK_PREFIX + link.link_id,
            "record_type": RECORD_TYPE,
            "link_id": link.link_id,
            "conversation_id": link.conversation_id,
            "department": link.department,
            "number_hmac": link.phone_hmac,
            "token_hash": link.token_hash,
            "created_at": iso(link.created_at),
            "created_by": link.created_by,
            "expires_at": iso(link.expires_at),
            "failed_tries": link.failed_tries,
            "answers": link.answers,
            "version": link.version,
            "body_ct": self._cipher.encrypt(body_record_ref(link.link_id), {"body": body}),
            "check_ct": self._cipher.encrypt(check_record_ref(link.link_id), {"appointment": source_id}),
        }
        lookup = {
            **_token_key(link.token_hash),
            "conversation_id": link.conversation_id,
            "link_id": link.link_id,
        }
        try:
            self._transactions.write(
                [
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": lookup,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except TransactionCancelled as exc:
            raise Conflict("that secure link exists already") from exc

    def discard(self, link: SecureLink) -> None:
        self._transactions.write(
            [
                {
                    "Delete": {
                        "TableName": self._table.name,
                        "Key": {"pk": link.conversation_id, "sk": SK_PREFIX + link.link_id},
                    }
                },
                {"Delete": {"TableName": self._table.name, "Key": _token_key(link.token_hash)}},
            ]
        )

    def by_token_hash(self, token_hash: str) -> SecureLink | None:
        found = self._table.get_item(Key=_token_key(token_hash), ConsistentRead=True).get("Item")
        if not found:
            return None
        link = self.get(str(found["conversation_id"]), str(found["link_id"]))
        if link is None or link.token_hash != token_hash:
            return None
        return link

    def get(self, conversation_id: str, link_id: str) -> SecureLink | None:
        if not is_link_id(link_id):
            return None
        item = self._table.get_item(
            Key={"pk": conversation_id, "sk": SK_PREFIX + link_id}, ConsistentRead=True
        ).get("Item")
        return _link(item) if item and item.get("record_type") == RECORD_TYPE else None

    def for_conversation(self, conversation_id: str) -> list[SecureLink]:
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(conversation_id) & Key("sk").begins_with(SK_PREFIX),
            "ConsistentRead": True,
        }
        links: list[SecureLink] = []
        while True:
            response = self._table.query(**query)
            links.extend(_link(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(links, key=lambda link: (link.created_at, link.link_id))

    def save(self, link: SecureLink, *, expected_version: int) -> None:
        sets: dict[str, Any] = {
            "failed_tries": link.failed_tries,
            "answers": link.answers,
            "version": link.version,
        }
        for name in ("locked_at", "opened_at", "last_answer_at"):
            value = _opt(getattr(link, name))
            if value is not None:
                sets[name] = value
        names = {f"#a{i}": name for i, name in enumerate(sets)}
        values: dict[str, Any] = {f":a{i}": value for i, value in enumerate(sets.values())}
        values[":expected"] = expected_version
        try:
            self._table.update_item(
                Key={"pk": link.conversation_id, "sk": SK_PREFIX + link.link_id},
                UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(sets))),
                ConditionExpression="version = :expected",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise ConcurrentChange("the secure link changed since it was read") from exc
            raise

    def take_answer(self, answered: SecureLink, claim: AnswerClaim, *, expected_version: int) -> None:
        key = {"pk": answered.conversation_id, "sk": SK_PREFIX + answered.link_id}
        stamp = _opt(answered.last_answer_at) or iso(claim.at)
        try:
            self._transactions.write(
                [
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": key,
                            "UpdateExpression": "SET answers = :answers, version = :version, "
                            "last_answer_at = :at",
                            "ConditionExpression": "version = :expected",
                            "ExpressionAttributeValues": {
                                ":answers": answered.answers,
                                ":version": answered.version,
                                ":at": stamp,
                                ":expected": expected_version,
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": {
                                "pk": answered.conversation_id,
                                "sk": ANSWER_SK_PREFIX + claim.answer_key,
                                "record_type": ANSWER_RECORD_TYPE,
                                "link_id": claim.link_id,
                                "message_id": claim.message_id,
                                "answered_at": iso(claim.at),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except TransactionCancelled as exc:
            reasons = exc.reasons + ["None"] * (2 - len(exc.reasons))
            if reasons[1] == "ConditionalCheckFailed":
                raise AnswerRepeated("this answer was taken already") from exc
            raise ConcurrentChange("the secure link changed since it was read") from exc

    def answer_claim(self, conversation_id: str, answer_key: str) -> AnswerClaim | None:
        item = self._table.get_item(
            Key={"pk": conversation_id, "sk": ANSWER_SK_PREFIX + answer_key}, ConsistentRead=True
        ).get("Item")
        if not item or item.get("record_type") != ANSWER_RECORD_TYPE:
            return None
        return AnswerClaim(
            answer_key=answer_key,
            link_id=str(item["link_id"]),
            message_id=str(item["message_id"]),
            at=parse_iso(str(item["answered_at"])),
        )

    def _item(self, link: SecureLink) -> dict[str, Any]:
        item = self._table.get_item(
            Key={"pk": link.conversation_id, "sk": SK_PREFIX + link.link_id}, ConsistentRead=True
        ).get("Item")
        if not item:
            raise ConcurrentChange("the secure link is gone")
        return dict(item)

    def body(self, link: SecureLink) -> str:
        payload = self._cipher.decrypt(body_record_ref(link.link_id), str(self._item(link)["body_ct"]))
        return str(payload["body"])

    def source_id(self, link: SecureLink) -> str:
        payload = self._cipher.decrypt(check_record_ref(link.link_id), str(self._item(link)["check_ct"]))
        return str(payload["appointment"])
