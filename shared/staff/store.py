"""Department settings and canned responses, kept in ConversationsTable beside the conversations; and the
staff directory over the Cognito user pool (:class:`CognitoStaffDirectory`).

Items (no PHI: the clinic's own hours, words and numbers; canned bodies hold placeholders only)::

  pk=settings#departments   sk=<department>   settings (DepartmentSettings as JSON)
  pk=canned#<department>    sk=<id>           department, name, body, created_at, created_by

The settings items use the layout of the inbox's department directory (ConversationsTable,
shared/inbox/store.py), so either table can hold them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from shared.core.errors import AlreadyRecorded
from shared.inbox.canned import CannedResponseRequest
from shared.inbox.departments import DepartmentSettings
from shared.inbox.ports import DirectoryMember
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


def _attributes(user: Mapping[str, Any], key: str = "Attributes") -> dict[str, str]:
    return {str(a["Name"]): str(a.get("Value", "")) for a in user.get(key) or ()}


class CognitoStaffDirectory:
    """:class:`shared.inbox.ports.StaffDirectory` over the staff user pool: a department is a group.

    ``ListUsersInGroup`` per department gives who is in which (kept for ``cache_seconds``, so a list page
    does not call Cognito per item); ``AdminGetUser`` checks the one named in an assignment afresh (a
    disabled or deleted user is never assigned). Only staff attributes are read: sub, name, username."""

    def __init__(
        self,
        idp: Any,
        pool_id: str,
        departments: frozenset[str],
        *,
        cache_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idp = idp
        self._pool_id = pool_id
        self._departments = departments
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cached: tuple[float, dict[str, list[DirectoryMember]]] | None = None

    def _group(self, department: str) -> list[DirectoryMember]:
        members: list[DirectoryMember] = []
        args: dict[str, Any] = {"UserPoolId": self._pool_id, "GroupName": department, "Limit": 60}
        while True:
            try:
                response = self._idp.list_users_in_group(**args)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return []  # the group is not created yet: nobody in it
                raise
            for user in response.get("Users", []):
                if user.get("Enabled") is False:
                    continue
                attributes = _attributes(user)
                username = str(user["Username"])
                members.append(
                    DirectoryMember(
                        user_id=attributes.get("sub") or username,
                        username=username,
                        display_name=attributes.get("name") or username,
                        departments=frozenset({department}),
                    )
                )
            if not response.get("NextToken"):
                return members
            args["NextToken"] = response["NextToken"]

    def _groups(self) -> dict[str, list[DirectoryMember]]:
        now = self._monotonic()
        if self._cached is not None and now - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        listed = {name: self._group(name) for name in sorted(self._departments)}
        by_user: dict[str, set[str]] = {}
        for name, members in listed.items():
            for m in members:
                by_user.setdefault(m.username, set()).add(name)
        groups = {
            name: [
                DirectoryMember(m.user_id, m.username, m.display_name, frozenset(by_user[m.username]))
                for m in sorted(members, key=lambda m: m.username)
            ]
            for name, members in listed.items()
        }
        self._cached = (now, groups)
        return groups

    def in_department(self, department: str) -> list[DirectoryMember]:
        return list(self._groups().get(department, []))

    def member(self, username: str) -> DirectoryMember | None:
        try:
            user = self._idp.admin_get_user(UserPoolId=self._pool_id, Username=username)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "UserNotFoundException":
                return None
            raise
        if user.get("Enabled") is False:
            return None
        attributes = _attributes(user, "UserAttributes")
        name = str(user["Username"])
        departments = frozenset(
            d for d, members in self._groups().items() if any(m.username == name for m in members)
        )
        return DirectoryMember(
            user_id=attributes.get("sub") or name,
            username=name,
            display_name=attributes.get("name") or name,
            departments=departments,
        )
