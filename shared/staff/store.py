"""Department settings and canned responses, kept in ConversationsTable beside the conversations.

Items (no PHI: the clinic's own hours, words and numbers; canned bodies hold placeholders only)::

  pk=settings#departments   sk=<department>   settings (DepartmentSettings as JSON)
  pk=canned#<department>    sk=<id>           department, name, body, created_at, created_by

The settings items use the layout of the inbox's department directory (ConversationsTable,
shared/inbox/store.py), so either table can hold them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from shared.core.errors import AlreadyRecorded
from shared.inbox.canned import CannedResponseRequest
from shared.inbox.departments import DepartmentSettings
from shared.staff.ports import CannedResponse

SETTINGS_PK = "settings#departments"
CANNED_PREFIX = "canned#"


class DynamoDepartmentDirectory:
    """:class:`shared.staff.ports.DepartmentDirectory` on a DynamoDB table."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def all(self) -> Mapping[str, DepartmentSettings]:
        query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(SETTINGS_PK), "ConsistentRead": True}
        found: dict[str, DepartmentSettings] = {}
        while True:
            response = self._table.query(**query)
            for item in response.get("Items", []):
                found[str(item["sk"])] = DepartmentSettings.model_validate_json(str(item["settings"]))
            if "LastEvaluatedKey" not in response:
                return found
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get(self, department: str) -> DepartmentSettings | None:
        item = self._table.get_item(Key={"pk": SETTINGS_PK, "sk": department}, ConsistentRead=True).get(
            "Item"
        )
        return DepartmentSettings.model_validate_json(str(item["settings"])) if item else None

    def put(self, department: str, settings: DepartmentSettings) -> None:
        self._table.put_item(
            Item={"pk": SETTINGS_PK, "sk": department, "settings": settings.model_dump_json()}
        )


class DynamoCannedResponses:
    """:class:`shared.staff.ports.CannedResponses` on a DynamoDB table, one partition per department."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def add(self, canned: CannedResponse) -> None:
        request = canned.request
        try:
            self._table.put_item(
                Item={
                    "pk": CANNED_PREFIX + request.department,
                    "sk": canned.id,
                    "department": request.department,
                    "name": request.name,
                    "body": request.body,
                    "created_at": canned.created_at,
                    "created_by": canned.created_by,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise AlreadyRecorded("a canned response with this id exists") from exc
            raise

    def for_department(self, department: str) -> list[CannedResponse]:
        query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(CANNED_PREFIX + department)}
        found: list[CannedResponse] = []
        while True:
            response = self._table.query(**query)
            found.extend(_canned(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return sorted(found, key=lambda c: (c.request.name.casefold(), c.id))
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _canned(item: Mapping[str, Any]) -> CannedResponse:
    request = CannedResponseRequest(
        department=str(item["department"]), name=str(item["name"]), body=str(item["body"])
    )
    return CannedResponse(
        id=str(item["sk"]),
        request=request,
        created_at=str(item["created_at"]),
        created_by=str(item["created_by"]),
    )
