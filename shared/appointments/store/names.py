"""First names by number, from the appointment book (AppointmentsTable's ``by_phone`` index).

The inbox shows a conversation's patient by first name when the clinic's records know the number: the
newest appointment for the number (by start) whose sealed contact payload names the patient. The payload
is decrypted with the cipher bound to the appointment (``appointment#<source_id>``); nothing is written.
"""

from __future__ import annotations

from typing import Any

from shared.appointments import plan
from shared.crypto.ports import PhiCipher

MAX_APPOINTMENTS_READ = 20  # the newest few are enough to find a name; a number with hundreds is rare


class AppointmentFirstNames:
    """:class:`shared.inbox.ports.PatientNames` over AppointmentsTable."""

    def __init__(self, appointments: Any, cipher: PhiCipher) -> None:
        self._appointments = appointments
        self._cipher = cipher

    def first_name(self, phone_hmac: str) -> str | None:
        response = self._appointments.query(
            IndexName="by_phone",
            KeyConditionExpression="phone_hmac = :p",
            ExpressionAttributeValues={":p": phone_hmac},
            ScanIndexForward=False,  # newest start first
            Limit=MAX_APPOINTMENTS_READ,
        )
        for item in response.get("Items", []):
            if not item.get("contact_ct") or not item.get("source_id"):
                continue
            contact = self._cipher.decrypt(
                plan.contact_record_ref(str(item["source_id"])), item["contact_ct"]
            )
            name = contact.get("first_name")
            if isinstance(name, str) and name.strip():
                return name.strip()
        return None
