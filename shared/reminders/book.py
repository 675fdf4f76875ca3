"""The appointment book: AppointmentsTable and RemindersTable, written together in one transaction.

Items (no plaintext PHI; the contact payload is envelope-encrypted, the number blind-indexed):

AppointmentsTable ``pk=appt#<source_id>``
    status, start_at, end_at, time_zone, phone_hmac (GSI ``by_phone``), contact_ct (first name, number,
    location name and address, bound to ``appointment#<source_id>``), content_hash (keyed hash of the
    intake), version, reminder_status {offset: status}, last_reminded_at, reply_status, replied_at.
RemindersTable ``pk=rem#<source_id>#<offset>``
    appointment_pk, offset_minutes, due_at, status, appointment_version, start_at, time_zone, a copy of
    contact_ct, and ``due_bucket``/``due_key`` only while the reminder waits (sparse ``due`` index).

An upsert is one ``TransactWriteItems``: the appointment (conditioned on the version it read) and every
reminder it rewrites (conditioned on the status it read), so a concurrent sender or ingest makes the
transaction fail and the upsert re-reads and retries instead of overwriting a reminder in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from shared.clock import Clock, iso, parse_iso
from shared.crypto import BlindIndex, PhiCipher
from shared.errors import Conflict
from shared.ingest.models import CANCELLATION_STATUSES, AppointmentIntake
from shared.reminders import plan

MAX_ATTEMPTS = 4

UpsertOutcome = Literal["created", "updated", "unchanged"]


class Fingerprint(Protocol):
    """Keyed hash of an intake, so equal intakes are recognised without storing a guessable digest."""

    def of(self, data: bytes) -> str: ...


class KmsFingerprint:
    """HMAC-SHA256 by KMS ``GenerateMac`` under the blind-index key (a separate purpose prefix)."""

    def __init__(self, kms_client: Any, key_arn: str) -> None:
        self._kms = kms_client
        self._key_arn = key_arn

    def of(self, data: bytes) -> str:
        import hashlib

        # GenerateMac takes at most 4 KiB: MAC a SHA-256 of the canonical bytes instead.
        digest = hashlib.sha256(data).digest()
        response = self._kms.generate_mac(
            KeyId=self._key_arn, MacAlgorithm="HMAC_SHA_256", Message=b"appointment-content:" + digest
        )
        return bytes(response["Mac"]).hex()


@dataclass(frozen=True)
class UpsertResult:
    source_id: str
    outcome: UpsertOutcome
    version: int


@dataclass(frozen=True)
class ReminderView:
    offset_minutes: int
    due_at: str | None
    status: str
    sent_at: str | None


@dataclass(frozen=True)
class AppointmentView:
    """What GET /appointments/{id} shows: ids, status, times, reminder and reply status. No PHI."""

    source_id: str
    status: str
    start_at: str | None
    version: int
    reminders: list[ReminderView]
    reply_status: str | None
    replied_at: str | None
    last_reminded_at: str | None


class AppointmentBook:
    def __init__(
        self,
        *,
        appointments: Any,
        reminders: Any,
        cipher: PhiCipher,
        blind_index: BlindIndex,
        fingerprint: Fingerprint,
        offsets: list[int],
        clock: Clock,
    ) -> None:
        self._appointments = appointments
        self._reminders = reminders
        self._client = appointments.meta.client
        self._cipher = cipher
        self._index = blind_index
        self._fingerprint = fingerprint
        self._offsets = offsets
        self._clock = clock

    # -- upsert ---------------------------------------------------------------------------------
    def upsert(self, intake: AppointmentIntake) -> UpsertResult:
        content_hash = self._fingerprint.of(plan.content_fingerprint_input(intake, self._offsets))
        for _ in range(MAX_ATTEMPTS):
            existing = self._get_appointment(intake.source_id)
            if existing is not None and existing.get("content_hash") == content_hash:
                return UpsertResult(intake.source_id, "unchanged", int(existing["version"]))
            try:
                version = self._write(intake, existing, content_hash)
            except _Retry:
                continue
            return UpsertResult(intake.source_id, "created" if existing is None else "updated", version)
        raise Conflict(f"appointment {intake.source_id} changed concurrently; send it again")

    def _write(self, intake: AppointmentIntake, existing: dict[str, Any] | None, content_hash: str) -> int:
        now = self._clock.now()
        source_id = intake.source_id
        pk = plan.appointment_pk(source_id)
        version = int(existing["version"]) + 1 if existing else 1
        item: dict[str, Any] = dict(existing or {})
        item.update(
            {
                "pk": pk,
                "record_type": "appointment",
                "source_id": source_id,
                "status": intake.status,
                "content_hash": content_hash,
                "version": version,
                "updated_at": iso(now),
            }
        )
        item.setdefault("created_at", iso(now))
        # A cancellation may omit everything but the id: its None values mean "not sent", not "clear".
        full_update = intake.status not in CANCELLATION_STATUSES or existing is None
        if intake.start is not None:
            item["start_at"] = iso(intake.start)
        if intake.end is not None:
            item["end_at"] = iso(intake.end)
        elif full_update:
            item.pop("end_at", None)
        if full_update:
            if intake.time_zone:
                item["time_zone"] = intake.time_zone
            else:
                item.pop("time_zone", None)
            if intake.mobile_e164:
                item["phone_hmac"] = self._index.phone(intake.mobile_e164)
            else:
                item.pop("phone_hmac", None)
            contact = {
                "first_name": intake.first_name,
                "phone": intake.mobile_e164,
                "location_name": intake.location_name,
                "location_address": intake.location_address,
            }
            item["contact_ct"] = self._cipher.encrypt(plan.contact_record_ref(source_id), contact)

        reminder_status: dict[str, str] = dict(item.get("reminder_status") or {})
        writes: list[dict[str, Any]] = []
        offsets = sorted({*self._offsets, *(int(k) for k in reminder_status)}, reverse=True)
        current = self._get_reminders(source_id, offsets)
        remindable = intake.status in plan.REMINDABLE and "start_at" in item and "phone_hmac" in item
        planned: dict[int, datetime | None] = {}
        if remindable:
            start = parse_iso(item["start_at"])
            planned = {p.offset_minutes: p.due_at for p in plan.plan_reminders(start, self._offsets, now)}
        for offset in offsets:
            rem = current.get(offset)
            status = rem["status"] if rem else None
            if status is not None and status not in plan.REWRITABLE:
                continue  # sent, sending, unconfirmed...: reached (or may have reached) the patient
            due = planned.get(offset)
            rpk = plan.reminder_pk(source_id, offset)
            if due is not None:
                new_item = {
                    "pk": rpk,
                    "record_type": "reminder",
                    "appointment_pk": pk,
                    "source_id": source_id,
                    "offset_minutes": offset,
                    "due_at": iso(due),
                    "due_bucket": plan.due_bucket(due),
                    "due_key": plan.due_key(due, rpk),
                    "status": plan.PENDING,
                    "appointment_version": version,
                    "start_at": item["start_at"],
                    "contact_ct": item["contact_ct"],
                    "updated_at": iso(now),
                }
                if item.get("time_zone"):
                    new_item["time_zone"] = item["time_zone"]
                writes.append(self._put_reminder(new_item, status))
                reminder_status[str(offset)] = plan.PENDING
            elif status in plan.STOPPABLE:
                final = plan.SUPERSEDED if intake.status in plan.REMINDABLE else plan.CANCELLED
                writes.append(self._stop_reminder(rpk, status, final, version, now))
                reminder_status[str(offset)] = final
        item["reminder_status"] = reminder_status

        put_appointment: dict[str, Any] = {
            "TableName": self._appointments.name,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if existing is not None:
            put_appointment["ConditionExpression"] = "version = :expected"
            put_appointment["ExpressionAttributeValues"] = {":expected": int(existing["version"])}
        self._transact([{"Put": put_appointment}, *writes])
        return version

    def _put_reminder(self, item: dict[str, Any], status_read: str | None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._reminders.name, "Item": item}
        if status_read is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#s = :read"
            put["ExpressionAttributeNames"] = {"#s": "status"}
            put["ExpressionAttributeValues"] = {":read": status_read}
        return {"Put": put}

    def _stop_reminder(self, pk: str, status_read: str, final: str, version: int, now: datetime) -> dict:
        return {
            "Update": {
                "TableName": self._reminders.name,
                "Key": {"pk": pk},
                "UpdateExpression": "SET #s = :final, appointment_version = :v, updated_at = :now "
                "REMOVE due_bucket, due_key",
                "ConditionExpression": "#s = :read",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":final": final,
                    ":v": version,
                    ":now": iso(now),
                    ":read": status_read,
                },
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "TransactionCanceledException",
                "TransactionConflictException",
            ):
                raise _Retry from exc
            raise

    # -- reads ----------------------------------------------------------------------------------
    def _get_appointment(self, source_id: str) -> dict[str, Any] | None:
        item = self._appointments.get_item(
            Key={"pk": plan.appointment_pk(source_id)}, ConsistentRead=True
        ).get("Item")
        return dict(item) if item else None

    def _get_reminders(self, source_id: str, offsets: list[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for offset in offsets:
            item = self._reminders.get_item(
                Key={"pk": plan.reminder_pk(source_id, offset)}, ConsistentRead=True
            ).get("Item")
            if item:
                found[offset] = dict(item)
        return found

    def view(self, source_id: str) -> AppointmentView | None:
        item = self._get_appointment(source_id)
        if item is None:
            return None
        offsets = sorted((int(k) for k in item.get("reminder_status") or {}), reverse=True)
        reminders = self._get_reminders(source_id, offsets)
        return AppointmentView(
            source_id=source_id,
            status=str(item["status"]),
            start_at=item.get("start_at"),
            version=int(item["version"]),
            reminders=[
                ReminderView(
                    offset_minutes=offset,
                    due_at=rem.get("due_at"),
                    status=str(rem["status"]),
                    sent_at=rem.get("sent_at"),
                )
                for offset, rem in sorted(reminders.items(), reverse=True)
            ],
            reply_status=item.get("reply_status"),
            replied_at=item.get("replied_at"),
            last_reminded_at=item.get("last_reminded_at"),
        )


class _Retry(Exception):
    """The transaction lost a race; read again and retry."""
