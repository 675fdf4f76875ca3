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

An update that references its patient (or place) without sending it, as an EHR does when it sends only the
moved Appointment, keeps what is stored for that same patient (or place) and re-plans the reminders at the
new start. The contact payload carries the patient and location references it was built from, so the
stored number is reused only for the patient it belongs to: an Appointment that now names another patient
never inherits the earlier patient's number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared.appointments import plan
from shared.appointments.intake import CANCELLATION_STATUSES, AppointmentIntake
from shared.appointments.ports import (
    AppointmentView,
    NotReached,
    ReminderView,
    UpsertAnswer,
    UpsertResult,
)
from shared.core.clock import Clock, iso, parse_iso
from shared.core.errors import Conflict
from shared.crypto.ports import BlindIndex, Fingerprint, PhiCipher

MAX_ATTEMPTS = 4
MAX_BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0


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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sleep = sleep
        self.unprocessed_retries = 0  # BatchGetItem requests that asked again for UnprocessedKeys
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
        [result] = self.upsert_many([intake])
        if isinstance(result, UpsertResult):
            return result
        if isinstance(result, Conflict):
            raise result
        raise Conflict(f"appointment {intake.source_id} was not stored in time; send it again")

    def upsert_many(
        self, intakes: Sequence[AppointmentIntake], *, time_left: Callable[[], float] | None = None
    ) -> list[UpsertAnswer]:
        """Store many intakes with batched requests; one answer per intake, in order.

        Per round: one consistent ``BatchGetItem`` per 100 appointments, one per 100 reminders of the
        appointments that exist and changed (a new appointment has none to read), then one
        ``TransactWriteItems`` per 100 writes. A transaction that loses a race names the writes that failed
        (``CancellationReasons``): only their appointments are read again, the rest are resent as they
        were. An intake whose appointment id came earlier in ``intakes`` waits for the earlier one (one
        transaction may not name an item twice). ``time_left`` (seconds) is checked before each request;
        intakes not stored when it runs out are answered :class:`NotReached`.
        """
        answers: list[UpsertAnswer | None] = [None] * len(intakes)
        for wave in _waves(intakes):
            entries = [
                _Entry(position, intakes[position], self._fingerprint_input(intakes[position]))
                for position in wave
            ]
            for entry in self._store(entries, time_left):
                answers[entry.position] = entry.answer
        return [answer if answer is not None else NotReached() for answer in answers]

    def _fingerprint_input(self, intake: AppointmentIntake) -> bytes:
        return plan.content_fingerprint_input(intake, self._offsets)

    def _store(self, entries: list[_Entry], time_left: Callable[[], float] | None) -> list[_Entry]:
        def out_of_time() -> bool:
            return time_left is not None and time_left() <= 0

        pending = list(entries)
        for _ in range(MAX_ATTEMPTS * 3):  # rounds; only a lost race costs an entry one of its attempts
            if out_of_time():
                return entries  # what is still pending was not stored: NotReached
            self._read_appointments([e for e in pending if not e.read])
            writing = [e for e in pending if e.answer is None and not self._is_unchanged(e)]
            if writing and out_of_time():
                return entries
            self._read_reminders([e for e in writing if e.reminders is None])
            for group in self._transactions(writing):
                if out_of_time():
                    return entries
                self._send(group)
            pending = [e for e in pending if e.answer is None]
            if not pending:
                return entries
        for entry in pending:  # other writers kept winning
            entry.answer = Conflict(
                f"appointment {entry.intake.source_id} changed concurrently; send it again"
            )
        return entries

    def _is_unchanged(self, entry: _Entry) -> bool:
        """Answers ``entry`` "unchanged" when what is stored came from an equal intake."""
        stored = entry.existing
        if stored is None or not self._fingerprint.matches(stored.get("content_hash"), entry.data):
            return False
        entry.answer = self._unchanged(entry.intake.source_id, stored)
        return True

    def _transactions(
        self, writing: list[_Entry]
    ) -> list[list[tuple[_Entry, list[dict[str, Any]], UpsertResult]]]:
        """The writes of ``writing`` packed into transactions of at most 100 items, entries kept whole."""
        groups: list[list[tuple[_Entry, list[dict[str, Any]], UpsertResult]]] = []
        size = MAX_TRANSACTION_ITEMS
        for entry in writing:
            if entry.answer is not None:  # its reminders could not be read
                continue
            actions, result = self._write(entry)
            if size + len(actions) > MAX_TRANSACTION_ITEMS:
                groups.append([])
                size = 0
            groups[-1].append((entry, actions, result))
            size += len(actions)
        return groups

    def _send(self, group: list[tuple[_Entry, list[dict[str, Any]], UpsertResult]]) -> None:
        """One transaction for ``group``; on a lost race only the entries whose writes failed read again."""
        items = [action for _entry, actions, _result in group for action in actions]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("TransactionCanceledException", "TransactionConflictException"):
                raise
            reasons = exc.response.get("CancellationReasons") or []
            at = 0
            for entry, actions, _result in group:
                mine = reasons[at : at + len(actions)]
                at += len(actions)
                if len(mine) == len(actions) and all(r.get("Code") in (None, "None") for r in mine):
                    continue  # cancelled only because another write in the transaction failed
                entry.attempts += 1
                entry.read = False  # read it (and its reminders) again before the next attempt
                entry.existing, entry.reminders = None, None
                if entry.attempts >= MAX_ATTEMPTS:
                    entry.answer = Conflict(
                        f"appointment {entry.intake.source_id} changed concurrently; send it again"
                    )
            return
        for entry, _actions, result in group:
            entry.answer = result

    def _unchanged(self, source_id: str, item: dict[str, Any]) -> UpsertResult:
        """The answer for an intake equal to what is stored: what the stored reminders still plan."""
        planned: list[datetime] = []
        if item.get("start_at"):
            start = parse_iso(str(item["start_at"]))
            for offset, status in (item.get("reminder_status") or {}).items():
                if status in plan.STOPPABLE:
                    planned.append(start - timedelta(minutes=int(offset)))
        code = item.get("not_reminded")
        return UpsertResult(
            source_id,
            "unchanged",
            int(item["version"]),
            status=str(item.get("status", "")),
            planned=tuple(sorted(planned)),
            not_reminded=code if code in plan.NOT_REMINDED_REASONS else None,
        )

    def _contact(
        self, intake: AppointmentIntake, existing: dict[str, Any] | None
    ) -> tuple[dict[str, Any], str, tuple[str, ...]]:
        """The contact payload to store, how the patient was settled, and what was kept from storage.

        "sent": the intake carries the patient's details; "kept": it did not, and the stored details belong
        to the same patient; "other": it did not, and the stored ones belong to someone else (dropped);
        "not_stored": it did not, and nothing is stored.
        """
        stored: dict[str, Any] = {}
        needs_stored = not intake.patient_sent or not intake.location_sent
        if needs_stored and existing is not None and existing.get("contact_ct"):
            stored = self._cipher.decrypt(plan.contact_record_ref(intake.source_id), existing["contact_ct"])
        kept: list[str] = []
        contact: dict[str, Any] = {"patient_ref": intake.patient_ref, "location_ref": intake.location_ref}
        if intake.patient_sent:
            patient = "sent"
            contact.update(first_name=intake.first_name, phone=intake.mobile_e164)
            if intake.birth_date:
                contact["birth_date"] = intake.birth_date  # encrypted with the contact, never an attribute
        elif stored and stored.get("patient_ref") == intake.patient_ref:
            patient = "kept"
            kept.append("patient")
            contact.update(first_name=stored.get("first_name"), phone=stored.get("phone"))
            if stored.get("birth_date"):
                contact["birth_date"] = stored["birth_date"]
        else:
            patient = "other" if stored.get("phone") else "not_stored"
            contact.update(first_name=None, phone=None)
        if intake.location_sent:
            contact.update(location_name=intake.location_name, location_address=intake.location_address)
            contact["time_zone"] = intake.time_zone
        elif stored and intake.location_ref in (None, stored.get("location_ref")):
            kept.append("location")
            contact.update(
                location_ref=stored.get("location_ref"),
                location_name=stored.get("location_name"),
                location_address=stored.get("location_address"),
            )
            contact["time_zone"] = (existing or {}).get("time_zone")
        else:
            contact.update(location_name=None, location_address=None, time_zone=None)
        return contact, patient, tuple(kept)

    def _write(self, entry: _Entry) -> tuple[list[dict[str, Any]], UpsertResult]:
        """The transaction items that store ``entry`` as read, and what they answer once written."""
        intake, existing = entry.intake, entry.existing
        content_hash = self._fingerprint.of(entry.data)
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
        patient: str = "sent"
        kept: tuple[str, ...] = ()
        if full_update:
            contact, patient, kept = self._contact(intake, existing)
            time_zone = contact.pop("time_zone")
            if time_zone:
                item["time_zone"] = time_zone
            else:
                item.pop("time_zone", None)
            if contact.get("phone"):
                if patient == "kept" and existing and existing.get("phone_hmac"):
                    item["phone_hmac"] = existing["phone_hmac"]
                else:
                    item["phone_hmac"] = self._index.phone(contact["phone"])
            else:
                item.pop("phone_hmac", None)
            item["contact_ct"] = self._cipher.encrypt(plan.contact_record_ref(source_id), contact)

        reminder_status: dict[str, str] = dict(item.get("reminder_status") or {})
        writes: list[dict[str, Any]] = []
        offsets = self._reminder_offsets(existing)
        current = entry.reminders or {}
        remindable = intake.status in plan.REMINDABLE and "start_at" in item and "phone_hmac" in item
        planned: dict[int, datetime | None] = {}
        if remindable:
            start = parse_iso(item["start_at"])
            planned = {p.offset_minutes: p.due_at for p in plan.plan_reminders(start, self._offsets, now)}
        due_times: list[datetime] = []
        reached = 0
        for offset in offsets:
            rem = current.get(offset)
            status = rem["status"] if rem else None
            if status is not None and status not in plan.REWRITABLE:
                reached += 1
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
                due_times.append(due)
            elif status in plan.STOPPABLE:
                final = plan.SUPERSEDED if intake.status in plan.REMINDABLE else plan.CANCELLED
                writes.append(self._stop_reminder(rpk, status, final, version, now))
                reminder_status[str(offset)] = final
        item["reminder_status"] = reminder_status
        code = plan.why_not_reminded(
            str(item["status"]),
            has_phone="phone_hmac" in item,
            patient=patient,
            pending=len(due_times),
            reached=reached,
        )
        if code is None:
            item.pop("not_reminded", None)
        else:
            item["not_reminded"] = code

        put_appointment: dict[str, Any] = {
            "TableName": self._appointments.name,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if existing is not None:
            put_appointment["ConditionExpression"] = "version = :expected"
            put_appointment["ExpressionAttributeValues"] = {":expected": int(existing["version"])}
        return [{"Put": put_appointment}, *writes], UpsertResult(
            source_id,
            "created" if existing is None else "updated",
            version,
            status=intake.status,
            planned=tuple(sorted(due_times)),
            not_reminded=code,
            kept=kept,
        )

    def _reminder_offsets(self, existing: dict[str, Any] | None) -> list[int]:
        """The configured offsets and every offset the stored appointment has a reminder for."""
        stored = (existing or {}).get("reminder_status") or {}
        return sorted({*self._offsets, *(int(k) for k in stored)}, reverse=True)

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

    # -- reads ----------------------------------------------------------------------------------
    def _get_appointment(self, source_id: str) -> dict[str, Any] | None:
        item = self._appointments.get_item(
            Key={"pk": plan.appointment_pk(source_id)}, ConsistentRead=True
        ).get("Item")
        return dict(item) if item else None

    def _read_appointments(self, entries: list[_Entry]) -> None:
        """The stored appointment of each entry (``None`` when new): one BatchGetItem per 100."""
        if not entries:
            return
        found, unread = self._batch_get(
            self._appointments.name, [plan.appointment_pk(e.intake.source_id) for e in entries]
        )
        for entry in entries:
            pk = plan.appointment_pk(entry.intake.source_id)
            if pk in unread:
                entry.answer = Conflict(
                    f"appointment {entry.intake.source_id} could not be read; send it again"
                )
                continue
            entry.read = True
            entry.existing = found.get(pk)
            if entry.existing is None and entry.attempts == 0:
                entry.reminders = {}  # new: its reminders are written with it, none can exist yet

    def _read_reminders(self, entries: list[_Entry]) -> None:
        """The reminders of each entry by offset, for all of them together: one BatchGetItem per 100."""
        by_pk: dict[str, tuple[_Entry, int]] = {}
        for entry in entries:
            for offset in self._reminder_offsets(entry.existing):
                by_pk[plan.reminder_pk(entry.intake.source_id, offset)] = (entry, offset)
        if not by_pk:
            return
        found, unread = self._batch_get(self._reminders.name, list(by_pk))
        for entry in entries:
            entry.reminders = {}
        for pk, (entry, offset) in by_pk.items():
            if pk in unread:
                entry.answer = Conflict(
                    f"the reminders of appointment {entry.intake.source_id} could not be read; send it again"
                )
            elif pk in found:
                entry.reminders[offset] = found[pk]  # type: ignore[index]

    def _batch_get(self, table: str, pks: list[str]) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """Consistent reads of ``pks`` in ``table``, 100 keys a request; ``UnprocessedKeys`` are asked
        again with backoff (each retry is a request, counted in ``unprocessed_retries``). Returns the items
        found by pk and the keys still unread after MAX_ATTEMPTS * 2 requests per chunk."""
        found: dict[str, dict[str, Any]] = {}
        unread: set[str] = set()
        for start in range(0, len(pks), MAX_BATCH_GET_KEYS):
            keys: list[dict[str, Any]] = [{"pk": pk} for pk in pks[start : start + MAX_BATCH_GET_KEYS]]
            for attempt in range(MAX_ATTEMPTS * 2):
                if attempt:
                    self.unprocessed_retries += 1
                    self._sleep(min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))
                response = self._client.batch_get_item(
                    RequestItems={table: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in response.get("Responses", {}).get(table, []):
                    found[str(item["pk"])] = dict(item)
                keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                if not keys:
                    break
            unread.update(str(key["pk"]) for key in keys)
        return found, unread

    def _get_reminders(self, source_id: str, offsets: list[int]) -> dict[int, dict[str, Any]]:
        """An appointment's reminders by offset: one consistent BatchGetItem instead of a GetItem each."""
        by_pk = {plan.reminder_pk(source_id, offset): offset for offset in offsets}
        found, unread = self._batch_get(self._reminders.name, list(by_pk))
        if unread:
            raise Conflict(f"the reminders of appointment {source_id} could not be read; send it again")
        return {by_pk[pk]: item for pk, item in found.items()}

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


@dataclass(eq=False)
class _Entry:
    """One intake on its way in: what was read for it, its attempts, and its answer once known."""

    position: int
    intake: AppointmentIntake
    data: bytes  # the fingerprint input (plan.content_fingerprint_input)
    read: bool = False
    existing: dict[str, Any] | None = None
    reminders: dict[int, dict[str, Any]] | None = None  # by offset; None: not read yet
    attempts: int = 0
    answer: UpsertAnswer | None = None


def _waves(intakes: Sequence[AppointmentIntake]) -> list[list[int]]:
    """Positions of ``intakes`` in waves of distinct appointment ids, each id's intakes in their order."""
    waves: list[list[int]] = []
    seen: dict[str, int] = {}
    for position, intake in enumerate(intakes):
        wave = seen.get(intake.source_id, -1) + 1
        seen[intake.source_id] = wave
        if wave == len(waves):
            waves.append([])
        waves[wave].append(position)
    return waves
