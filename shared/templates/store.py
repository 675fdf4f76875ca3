"""Stored, versioned message templates in the ControlTable (clinic wording, never PHI).

Items:
  pk=template#<name> sk=V#<000001>   one version, never changed: body, placeholders, report, who saved it
  pk=template#<name> sk=CURRENT       the version in use (body copied, so a sender reads one item)

A new version is written with the CURRENT pointer in one transaction, on condition that nobody saved
another version in between, so versions are gapless and the pointer never names a missing version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.core.clock import iso
from shared.core.errors import Conflict, NotFound
from shared.templates.domain import TemplateReport
from shared.templates.ports import StoredTemplate

CURRENT_SK = "CURRENT"


def _pk(name: str) -> str:
    return f"template#{name}"


def _version_sk(version: int) -> str:
    return f"V#{version:06d}"


def _from_item(item: dict[str, Any]) -> StoredTemplate:
    return StoredTemplate(
        name=str(item["name"]),
        version=int(item["version"]),
        body=str(item["body"]),
        placeholders=tuple(item.get("placeholders") or ()),
        saved_at=str(item["saved_at"]),
        saved_by=str(item.get("saved_by") or ""),
        segments=int(item.get("segments") or 0),
        encoding=str(item.get("encoding") or ""),
        multi_segment=bool(item.get("multi_segment")),
    )


class DynamoTemplateStore:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._client = table.meta.client

    def current(self, name: str) -> StoredTemplate | None:
        item = self._table.get_item(Key={"pk": _pk(name), "sk": CURRENT_SK}, ConsistentRead=True).get("Item")
        return _from_item(item) if item else None

    def versions(self, name: str, *, limit: int = 20) -> list[StoredTemplate]:
        response = self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": _pk(name), ":v": "V#"},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_from_item(item) for item in response.get("Items", [])]

    def save(
        self, name: str, report: TemplateReport, *, saved_by: str, at: datetime
    ) -> tuple[StoredTemplate, bool]:
        """Store the reported (validated) template as the next version; returns (stored, created). The
        same body as the current version creates nothing and returns that version."""
        template = report.template
        current = self.current(name)
        if current is not None and current.body == template.body:
            return current, False
        version = (current.version if current else 0) + 1
        item: dict[str, Any] = {
            "pk": _pk(name),
            "record_type": "template",
            "name": name,
            "version": version,
            "body": template.body,
            "placeholders": list(template.placeholders),
            "saved_at": iso(at),
            "saved_by": saved_by,
            "segments": report.sample_report.segments,
            "encoding": report.sample_report.encoding,
            "multi_segment": report.multi_segment,
        }
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if current is None
            else {
                "ConditionExpression": "version = :previous",
                "ExpressionAttributeValues": {":previous": current.version},
            }
        )
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": {**item, "sk": _version_sk(version)},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self._table.name, "Item": {**item, "sk": CURRENT_SK}, **condition}},
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise Conflict(
                    "another version of this template was saved meanwhile; read it and retry"
                ) from exc
            raise
        return _from_item({**item, "sk": CURRENT_SK}), True

    def require(self, name: str) -> StoredTemplate:
        found = self.current(name)
        if found is None:
            raise NotFound(f"no stored template {name!r}: the built-in wording is in use")
        return found
