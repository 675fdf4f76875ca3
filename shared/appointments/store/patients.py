"""The patient's date of birth, as ingest keeps it: inside the appointment's encrypted contact payload.

Read for one purpose only: checking the date a patient types on a secure-message page
(:mod:`shared.secure`). Nothing here logs or returns a value beyond the caller's comparison.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from boto3.dynamodb.conditions import Key

from shared.appointments import plan
from shared.appointments.ports import BirthDateOnFile
from shared.core.dates import birth_date_problem
from shared.crypto.ports import PhiCipher

MAX_APPOINTMENTS_READ = 200


class DynamoBirthDates:
    """:class:`shared.appointments.ports.BirthDates` on AppointmentsTable (the ``by_phone`` index)."""

    def __init__(self, table: Any, cipher: PhiCipher) -> None:
        self._table = table
        self._cipher = cipher

    def _birth_date(self, item: dict[str, Any]) -> date | None:
        if not item.get("contact_ct") or not item.get("source_id"):
            return None
        contact = self._cipher.decrypt(
            plan.contact_record_ref(str(item["source_id"])), str(item["contact_ct"])
        )
        value = contact.get("birth_date")
        if not isinstance(value, str) or birth_date_problem(value):
            return None
        return date.fromisoformat(value)

    def on_file(self, phone_hmac: str) -> list[BirthDateOnFile]:
        """Each appointment of the number that holds a date of birth (newest start first)."""
        found: list[BirthDateOnFile] = []
        query: dict[str, Any] = {
            "IndexName": "by_phone",
            "KeyConditionExpression": Key("phone_hmac").eq(phone_hmac),
            "ScanIndexForward": False,
        }
        read = 0
        while read < MAX_APPOINTMENTS_READ:
            response = self._table.query(**query)
            for item in response.get("Items", []):
                read += 1
                born = self._birth_date(item)
                if born is not None:
                    found.append(BirthDateOnFile(str(item["source_id"]), born))
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found

    def birth_date(self, source_id: str, phone_hmac: str) -> date | None:
        """The date of birth on one appointment, provided it is still the number's (else None)."""
        item = self._table.get_item(Key={"pk": plan.appointment_pk(source_id)}, ConsistentRead=True).get(
            "Item"
        )
        if not item or item.get("phone_hmac") != phone_hmac:
            return None
        return self._birth_date(item)
