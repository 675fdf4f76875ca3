"""The staff side of the inbox: list, open and act on conversations, each look and write on the record.

Every call takes the :class:`StaffIdentity` the function re-checked from the JWT claims and a
:class:`RequestOrigin`. Access is decided by :func:`shared.inbox.access.authorize` (another
department's conversation raises the same NotFound as a missing one); the audit record is appended
*before* anything is shown or written, so a look that fails half way is on the record too.

Writes carry the version the staff member's view showed; the model refuses a stale one with
:class:`~shared.inbox.conversation.StaleVersion` (409 with what changed) and the store refuses a write
that lost a race after the read (ConcurrentChange, 409), so two staff never act on one view unknowingly.
Reads never change the version: the read marker is written separately, conditioned on the version read,
and a marker lost to a race is simply not moved.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from shared.audit.domain import MAX_DETAIL_VALUE, AuditAction, AuditEvent
from shared.audit.ports import AuditLog
from shared.core.clock import Clock, iso
from shared.core.errors import ConcurrentChange, Conflict, IntegrityError, InvalidInput, NotFound
from shared.core.metrics import Counter, NullCounter
from shared.core.models import ConsentStatus
from shared.core.phone import to_e164
from shared.core.segments import analyze
from shared.crypto.ports import BlindIndex, PhiCipher
from shared.inbox.access import (
    MAX_USERNAME_LENGTH,
    AccessDecision,
    RequestOrigin,
    StaffIdentity,
    authorize,
    break_glass,
    conversation_not_found,
    is_cognito_username,
    is_department_name,
)
from shared.inbox.canned import CannedContext, CannedResponseRequest, render
from shared.inbox.conversation import (
    Change,
    Conversation,
    ConversationStatus,
    StaffMember,
    check_staff_text,
    is_conversation_id,
    new_conversation_id,
)
from shared.inbox.departments import DepartmentSettings, default_settings
from shared.inbox.hours import local_instant
from shared.inbox.ports import (
    Contact,
    ConversationStore,
    DepartmentDirectory,
    InboxConversation,
    MessageRef,
    PatientNames,
    StaffDirectory,
    contact_record_ref,
)
from shared.inbox.sla import DepartmentMetrics, periods
from shared.inbox.sla import metrics as sla_metrics
from shared.outbound.kinds import STAFF_REPLY
from shared.outbound.pipeline import SENT, SKIPPED_OPTED_OUT, OutboundText, RetryLater

if TYPE_CHECKING:  # the log and the ledger are handed in by the wiring; the handler's import stays light
    from shared.consent.ports import ConsentLedger
    from shared.messaging.ports import MessageLog

MAX_LIST = 100
MAX_REPLY_CHARS = 1600  # ten concatenated GSM-7 parts
THREAD_PAGE = 50
MAX_THREAD_PAGE = 100
# An export answers the whole thread in one response: at most this many texts (1,000 texts of up to
# 1,600 characters stay well inside a Lambda answer's 6 MB), found among at most MAX_EXPORT_SCAN of the
# number's logged messages (other departments' texts to the number are read past, not exported).
MAX_EXPORT_MESSAGES = 1000
MAX_EXPORT_SCAN = 5000
EXPORT_PAGE = 500
EXPORT_FORMATS = ("json", "text")
# The thread's kinds (the message log's kind names where they differ): what staff see in each entry.
THREAD_KINDS = {
    "after_hours_reply": "after_hours",
    "staff_reply": "staff_reply",
    "urgent_reply": "urgent_reply",
}
# Texts that belong to one conversation: shown only in the conversation that references them (another
# department's reply, after-hours answer or secure-message notice to the same number is that
# department's). The number's other automated texts (reminders, surveys, broadcasts, keyword answers)
# carry no department in the message log, so every conversation with the number shows them.
CONVERSATION_KINDS = frozenset(THREAD_KINDS) | {"secure_message"}


def in_conversation(message: Any, refs: Mapping[str, MessageRef]) -> bool:
    """Whether a text of the number's log belongs in this conversation's thread (``refs``: the texts the
    conversation references): its own, or one of the number's automated texts no department owns."""
    return message.message_id in refs or (
        message.direction.value == "outbound" and message.kind not in CONVERSATION_KINDS
    )


def listed_detail(conversation_ids: list[str]) -> dict[str, str]:
    """The audit detail naming the conversations a list showed, in order: ``listed`` (how many) and the
    ids comma-joined into ``ids_00``, ``ids_01``... each within the audit's id-like value limit (a full
    page of :data:`MAX_LIST` ids fits in :data:`shared.audit.domain.MAX_DETAIL_ITEMS`)."""
    detail = {"listed": str(len(conversation_ids))}
    chunk: list[str] = []
    for cid in conversation_ids:
        if chunk and len(",".join([*chunk, cid])) > MAX_DETAIL_VALUE:
            detail[f"ids_{len(detail) - 1:02d}"] = ",".join(chunk)
            chunk = []
        chunk.append(cid)
    if chunk:
        detail[f"ids_{len(detail) - 1:02d}"] = ",".join(chunk)
    return detail


def thread_entry(message: Any, ref: MessageRef | None) -> dict[str, Any]:
    """One text of the thread: direction, kind, body (the viewer is allowed), who sent a staff reply,
    and the delivery status the carrier reported (DeliveryTable)."""
    inbound = message.direction.value == "inbound"
    kind = "patient" if inbound else THREAD_KINDS.get(message.kind, message.kind)
    sender = None
    if ref is not None and ref.sender_id:
        sender = {"user_id": ref.sender_id, "name": ref.sender_name}
    return {
        "id": message.message_id,
        "at": iso(message.created_at),
        "direction": message.direction.value,
        "kind": kind,
        "automated": not inbound and kind != "staff_reply",
        "body": message.body,
        "sender": sender,
        "status": message.status,
        "segments": message.segments,
        "delivery": None
        if inbound
        else {
            "status": message.delivery_status,
            "at": iso(message.delivery_at) if message.delivery_at else None,
            "detail": message.delivery_detail,
        },
    }


# Why a staff reply cannot go to the number, by consent state (the others may be texted).
CONSENT_REFUSALS = {
    ConsentStatus.OPTED_OUT: "The patient opted out of texts (STOP): nothing is sent until they text START.",
    ConsentStatus.UNREADABLE: "The consent record cannot be read: nothing is sent until it is repaired.",
}


class PatientOptedOut(Conflict):
    """The patient opted out: nothing is sent to them until they text START (409)."""


class ReplyNotSent(Conflict):
    """The reply did not go out (another reply was sent on this view, or the provider refused it)."""


class ExportTooLarge(InvalidInput):
    """The thread is longer than one export answers (HTTP 413); nothing was exported or recorded."""


ASSIGNEE_FILTERS = ("me", "unassigned")
DEFAULT_METRICS_DAYS = 7
MAX_METRICS_DAYS = 366


def metrics_json(m: DepartmentMetrics) -> dict[str, Any]:
    def figures(f: Any) -> dict[str, Any]:
        return {"count": f.count, "median": f.median, "p90": f.p90}

    return {
        "start": iso(m.period_start),
        "end": iso(m.period_end),
        "conversations": m.conversations,
        "patient_started": m.conversations - m.staff_started,
        "staff_started": m.staff_started,
        "answered": m.first_response.count,
        "closed": m.time_to_close.count,
        "awaiting": m.awaiting,
        "overdue": m.overdue,
        "first_response_minutes": figures(m.first_response),
        "time_to_close_minutes": figures(m.time_to_close),
    }


def new_note_id() -> str:
    return "n_" + secrets.token_urlsafe(12)


@dataclass(frozen=True)
class ListFilters:
    department: str | None = None
    status: ConversationStatus | None = None
    assignee: str | None = None  # "me", "unassigned" or a user id
    urgent: bool | None = None
    overdue: bool | None = None
    unread: bool | None = None
    limit: int = 25
    cursor: str | None = None


def change_json(change: Change) -> dict[str, Any]:
    return {
        "version": change.version,
        "kind": change.kind.value,
        "at": iso(change.at),
        "by": change.by,
        "detail": change.detail,
    }


def summary_json(
    record: InboxConversation,
    viewer: StaffIdentity,
    contact: Contact | None = None,
    *,
    consent: ConsentStatus | None = None,
) -> dict[str, Any]:
    """A list item. The first name and masked number come from the conversation's sealed contact payload
    (``contact``, decrypted by :class:`StaffInbox` for a viewer allowed to see the conversation); both
    are None for a conversation stored without one. ``consent``: the number's consent state as the
    ledger holds it (:class:`ConsentStatus` names: opted_in, opted_out, unknown, unreadable), given by
    the list (one batch read per page); left out where the caller did not read it."""
    c = record.conversation
    shown: dict[str, Any] = {
        "id": c.conversation_id,
        "first_name": contact.first_name if contact else None,
        "masked_number": contact.masked_number if contact else None,
    }
    if consent is not None:
        shown["consent"] = consent.value
    return shown | {
        "department": c.department,
        "status": c.status.value,
        "last_activity_at": iso(c.last_activity_at),
        "assignee": {"kind": c.assignee.kind.value, "id": c.assignee.id},
        "flags": {
            "urgent": c.urgent,
            "overdue": c.overdue,
            "unread": c.unread_for(viewer.user_id),
            "awaiting_reply": c.awaiting_reply_since is not None,
        },
        "version": c.version,
    }


def detail_json(record: InboxConversation, viewer: StaffIdentity) -> dict[str, Any]:
    c = record.conversation
    return {
        **summary_json(record, viewer),
        "created_at": iso(c.created_at),
        "labels": sorted(c.labels),
        "notes": [{"id": n.note_id, "author": n.author, "at": iso(n.at), "body": n.body} for n in c.notes],
        "assignment_history": [change_json(a) for a in c.assignments],
        "history": [change_json(h) for h in c.history],
        "patient_messages": c.patient_messages,
        "staff_replies": c.staff_replies,
        "first_response_at": iso(c.first_response_at) if c.first_response_at else None,
        "closed_at": iso(c.closed_at) if c.closed_at else None,
    }


@dataclass(frozen=True)
class StaffInbox:
    store: ConversationStore
    audit: AuditLog
    departments: frozenset[str]
    clock: Clock
    new_note_id: Callable[[], str] = new_note_id
    send: Callable[[OutboundText], str] | None = None  # the outbound pipeline's send_one with its book
    clinic_name: str = ""
    clinic_phone: str = ""
    messages: MessageLog | None = None  # the message log, for the thread (bodies and delivery status)
    cipher: PhiCipher | None = None  # opens (and seals) the conversations' contact payloads
    staff: StaffDirectory | None = None  # who may be assigned (Cognito groups)
    consent: ConsentLedger | None = None  # a started conversation's number's consent
    blind_index: BlindIndex | None = None
    names: PatientNames | None = None
    settings: DepartmentDirectory | None = None  # the departments' hours and targets (metrics)
    default_time_zone: str = "America/New_York"
    default_region: str = "US"
    counter: Counter = field(default_factory=NullCounter)  # e.g. InboxContactUnreadable

    # -- contact payloads ----------------------------------------------------------------------------
    def contact(self, record: InboxConversation) -> Contact | None:
        if record.contact_ct is None or self.cipher is None:
            return None
        cid = record.conversation.conversation_id
        return Contact.of(self.cipher.decrypt(contact_record_ref(cid), record.contact_ct))

    def listed_contact(self, record: InboxConversation) -> Contact | None:
        """The contact a list item shows, or None when its sealed payload cannot be opened (altered, or
        sealed for another record): that item lists without a name or number, the rest of the list still
        answers, and the metric InboxContactUnreadable counts it (nothing about it is logged)."""
        try:
            return self.contact(record)
        except IntegrityError:
            self.counter.count("InboxContactUnreadable")
            return None

    def _seal(self, conversation_id: str, contact: Contact) -> str:
        if self.cipher is None:
            raise RuntimeError("this staff inbox was built without the cipher")
        return self.cipher.encrypt(contact_record_ref(conversation_id), contact.payload())

    # -- audit ---------------------------------------------------------------------------------------
    def _record(
        self,
        identity: StaffIdentity,
        origin: RequestOrigin,
        action: AuditAction,
        conversation_id: str | None = None,
        *,
        detail: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        self.audit.append(
            AuditEvent(
                user_id=identity.user_id,
                username=identity.username,
                action=action,
                source_ip=origin.source_ip,
                user_agent=origin.user_agent,
                client_id=identity.client_id,
                conversation_id=conversation_id,
                detail=dict(detail or {}),
                reason=reason,
            )
        )

    def _open(
        self, identity: StaffIdentity, conversation_id: str
    ) -> tuple[InboxConversation, AccessDecision]:
        record = self.store.get(conversation_id) if is_conversation_id(conversation_id) else None
        department = record.conversation.department if record is not None else None
        decision = authorize(identity, conversation_id, department)
        if record is None:  # authorize raises for a missing one; kept explicit for optimised byte code
            raise conversation_not_found()
        return record, decision

    # -- reads ---------------------------------------------------------------------------------------
    def list_conversations(
        self, identity: StaffIdentity, origin: RequestOrigin, filters: ListFilters
    ) -> tuple[list[dict[str, Any]], str | None]:
        if not 1 <= filters.limit <= MAX_LIST:
            raise InvalidInput(f"limit must be 1 to {MAX_LIST}", field="limit")
        visible = sorted(self.departments if identity.admin else identity.departments & self.departments)
        if filters.department is not None:
            # another department's list answers as an empty one: nothing to tell apart
            visible = [filters.department] if filters.department in visible else []
        elif len(visible) > 1 and filters.cursor is not None:
            raise InvalidInput("a cursor belongs to one department's list: give department", field="cursor")
        detail = {"department": filters.department} if filters.department else {}
        if filters.assignee not in (None, *ASSIGNEE_FILTERS):
            filters = replace(filters, assignee=self._assignee_id(filters.assignee))
        items: list[InboxConversation] = []
        cursor: str | None = None
        try:
            for name in visible:
                page = self.store.list_department(
                    name, status=filters.status, limit=filters.limit, cursor=filters.cursor
                )
                items.extend(record for record in page.items if self._matches(record, identity, filters))
                if len(visible) == 1:
                    cursor = page.cursor
        except Exception:
            # a look that fails half way (a forged cursor) is on the record as an attempt, ids unknown
            self._record(identity, origin, AuditAction.LIST, detail=detail)
            raise
        items.sort(
            key=lambda r: (r.conversation.last_activity_at, r.conversation.conversation_id), reverse=True
        )
        shown = items[: filters.limit]
        # recorded before any contact is opened: whose names and numbers the list showed
        listed = listed_detail([r.conversation.conversation_id for r in shown])
        self._record(identity, origin, AuditAction.LIST, detail={**detail, **listed})
        consent = self._listed_consent(shown)
        return [
            summary_json(r, identity, self.listed_contact(r), consent=consent.get(r.conversation.phone_hmac))
            for r in shown
        ], cursor

    def _listed_consent(self, shown: list[InboxConversation]) -> dict[str, ConsentStatus]:
        """The page's numbers' consent states in one batch read (never one read per item); a number the
        ledger did not answer for shows as unreadable, never as opted in."""
        if self.consent is None or not shown:
            return {}
        numbers = [r.conversation.phone_hmac for r in shown]
        states = self.consent.states(numbers)
        return {
            h: states[h].status if h in states else ConsentStatus.UNREADABLE for h in dict.fromkeys(numbers)
        }

    @staticmethod
    def _matches(record: InboxConversation, identity: StaffIdentity, filters: ListFilters) -> bool:
        c = record.conversation
        if filters.assignee == "me" and str(c.assignee) != f"user:{identity.user_id}":
            return False
        if filters.assignee == "unassigned" and c.assignee.kind.value != "department":
            return False
        if (
            filters.assignee not in (None, *ASSIGNEE_FILTERS)
            and str(c.assignee) != f"user:{filters.assignee}"
        ):
            return False
        if filters.urgent is not None and c.urgent is not filters.urgent:
            return False
        if filters.overdue is not None and c.overdue is not filters.overdue:
            return False
        return filters.unread is None or c.unread_for(identity.user_id) is filters.unread

    def show(
        self,
        identity: StaffIdentity,
        origin: RequestOrigin,
        conversation_id: str,
        *,
        limit: int = THREAD_PAGE,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The conversation with one page of its thread, newest first: the patient's texts in it, its
        staff replies (with who sent them), its automated replies and the number's automated texts
        (reminders, keyword answers), each with its delivery status. Access is decided and the look
        recorded before any body is decrypted."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_THREAD_PAGE:
            raise InvalidInput(f"limit must be 1 to {MAX_THREAD_PAGE}", field="limit")
        record, decision = self._open(identity, conversation_id)
        detail = {"via": decision.via.value, **({"page": "next"} if cursor else {})}
        self._record(identity, origin, AuditAction.READ, conversation_id, detail=detail)
        shown = {
            **detail_json(record, identity),
            **self._consent(record),
            **self._thread(record, limit=limit, cursor=cursor),
        }
        if cursor is None:
            self._mark_read(record, identity)
        return shown

    def _consent(self, record: InboxConversation) -> dict[str, Any]:
        """The number's consent as the ledger holds it now (the send path's rule: a staff reply may go
        to a number opted in or never recorded; not to one opted out or whose state cannot be read)."""
        if self.consent is None:
            return {}
        status = self.consent.state(record.conversation.phone_hmac).status
        reason = CONSENT_REFUSALS.get(status)
        return {"consent": {"state": status.value, "can_text": reason is None, "reason": reason}}

    def _thread(self, record: InboxConversation, *, limit: int, cursor: str | None) -> dict[str, Any]:
        if self.messages is None:
            return {}
        c = record.conversation
        refs = self.store.message_refs(c.conversation_id)
        page, following = self.messages.thread_page(c.phone_hmac, limit=limit, cursor=cursor)
        entries = [thread_entry(m, refs.get(m.message_id)) for m in page if in_conversation(m, refs)]
        return {"thread": entries, "thread_cursor": following}

    def export(
        self, identity: StaffIdentity, origin: RequestOrigin, conversation_id: str, *, fmt: str
    ) -> dict[str, Any]:
        """The whole conversation for the medical record: every text of the thread (oldest first, as
        :meth:`show` selects them), notes, labels, assignment history, consent, delivery status.

        Access is decided as for :meth:`show` (another department's conversation is the same 404 as a
        missing one). The thread is counted first without decrypting a body; a thread over
        :data:`MAX_EXPORT_MESSAGES` is refused 413 (:class:`ExportTooLarge`). Then the ``export`` audit
        record (format, message count; ids only) is appended *before* any body is decrypted, so an export
        the trail cannot record is not answered; exactly the counted texts are exported."""
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput("format must be json or text", field="format")
        if not is_conversation_id(conversation_id):
            raise InvalidInput("conversation_id is not a conversation id", field="conversation_id")
        if self.messages is None:
            raise RuntimeError("this staff inbox was built without the message log")
        record, decision = self._open(identity, conversation_id)
        c = record.conversation
        refs = self.store.message_refs(c.conversation_id)
        wanted: set[str] = set()
        scanned, cursor = 0, None
        while True:
            page, cursor = self.messages.thread_page(
                c.phone_hmac, limit=EXPORT_PAGE, cursor=cursor, include_body=False
            )
            scanned += len(page)
            wanted.update(m.message_id for m in page if in_conversation(m, refs))
            if len(wanted) > MAX_EXPORT_MESSAGES or (cursor is not None and scanned >= MAX_EXPORT_SCAN):
                raise ExportTooLarge(
                    f"the conversation is too long to export in one answer (over {MAX_EXPORT_MESSAGES} "
                    "texts): ask an admin for a records export",
                    field="conversation_id",
                )
            if cursor is None:
                break
        self._record(
            identity,
            origin,
            AuditAction.EXPORT,
            conversation_id,
            detail={"via": decision.via.value, "format": fmt, "messages": str(len(wanted))},
        )
        entries: list[dict[str, Any]] = []
        cursor = None
        while True:  # newest first, as logged; texts that landed after the count are not exported
            page, cursor = self.messages.thread_page(c.phone_hmac, limit=EXPORT_PAGE, cursor=cursor)
            entries.extend(thread_entry(m, refs.get(m.message_id)) for m in page if m.message_id in wanted)
            if cursor is None or len(entries) >= len(wanted):
                break
        entries.reverse()
        contact = self.listed_contact(record)
        shown = {
            **detail_json(record, identity),
            "first_name": contact.first_name if contact else None,
            "masked_number": contact.masked_number if contact else None,
            **self._consent(record),
            "thread": entries,
        }
        return {
            "export": {
                "format": fmt,
                "clinic_name": self.clinic_name,
                "exported_at": iso(self.clock.now()),
                "exported_by": {"user_id": identity.user_id, "username": identity.username},
                "messages": len(entries),
            },
            "conversation": shown,
        }

    def _mark_read(self, record: InboxConversation, identity: StaffIdentity) -> None:
        c = record.conversation
        marked = c.mark_read(identity.user_id, self.clock.now())
        if marked is c:
            return
        with contextlib.suppress(ConcurrentChange):  # the thread moved on: the marker waits for the next look
            self.store.save(replace(record, conversation=marked), expected_version=c.version)

    # -- writes --------------------------------------------------------------------------------------
    def _write(
        self,
        identity: StaffIdentity,
        origin: RequestOrigin,
        conversation_id: str,
        *,
        action: AuditAction,
        transition: Callable[[Conversation], Conversation],
        detail: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        record, decision = self._open(identity, conversation_id)
        current = record.conversation
        written = transition(current)  # StaleVersion / InvalidTransition / InvalidInput before any record
        self._record(
            identity,
            origin,
            action,
            conversation_id,
            detail={"via": decision.via.value, "version": str(written.version), **(detail or {})},
        )
        self.store.save(replace(record, conversation=written), expected_version=current.version)
        return detail_json(replace(record, conversation=written), identity)

    def close(self, identity: StaffIdentity, origin: RequestOrigin, cid: str, version: int) -> dict[str, Any]:
        now = self.clock.now()
        return self._write(
            identity,
            origin,
            cid,
            action=AuditAction.CLOSE,
            transition=lambda c: c.close(by=identity.user_id, expected_version=version, at=now),
        )

    def reopen(
        self, identity: StaffIdentity, origin: RequestOrigin, cid: str, version: int
    ) -> dict[str, Any]:
        now = self.clock.now()
        return self._write(
            identity,
            origin,
            cid,
            action=AuditAction.REOPEN,
            transition=lambda c: c.reopen(by=identity.user_id, expected_version=version, at=now),
        )

    def add_note(
        self, identity: StaffIdentity, origin: RequestOrigin, cid: str, version: int, body: str
    ) -> dict[str, Any]:
        now, note_id = self.clock.now(), self.new_note_id()
        return self._write(
            identity,
            origin,
            cid,
            action=AuditAction.NOTE,
            transition=lambda c: c.add_note(
                by=identity.user_id, expected_version=version, note_id=note_id, body=body, at=now
            ),
            detail={"note_id": note_id},
        )

    def set_labels(
        self,
        identity: StaffIdentity,
        origin: RequestOrigin,
        cid: str,
        version: int,
        *,
        add: list[str],
        remove: list[str],
    ) -> dict[str, Any]:
        now = self.clock.now()
        return self._write(
            identity,
            origin,
            cid,
            action=AuditAction.LABEL,
            transition=lambda c: c.label(
                by=identity.user_id, expected_version=version, at=now, add=add, remove=remove
            ),
        )

    def assign_department(
        self, identity: StaffIdentity, origin: RequestOrigin, cid: str, version: int, department: str
    ) -> dict[str, Any]:
        """Hand the conversation to a department's queue: its own (unassigns a person) or another (a
        transfer). Assigning to one staff member needs the staff directory and is not served yet."""
        now = self.clock.now()
        return self._write(
            identity,
            origin,
            cid,
            action=AuditAction.ASSIGN,
            transition=lambda c: c.assign_department(
                by=identity.user_id,
                expected_version=version,
                department=department,
                at=now,
                known=self.departments,
            ),
            detail={"department": department} if isinstance(department, str) and department.isascii() else {},
        )

    def _assignee_id(self, value: Any) -> str:
        """The user id an ``assignee`` filter names: a username the directory knows, else the id as given."""
        if not is_cognito_username(value):
            raise InvalidInput(
                f"assignee must be me, unassigned, a user id or a username (1 to {MAX_USERNAME_LENGTH} "
                "letters, digits, symbols or punctuation; no spaces or control characters)",
                field="assignee",
            )
        member = self.staff.member(value) if self.staff is not None else None
        return member.user_id if member is not None else value

    def assign_user(
        self, identity: StaffIdentity, origin: RequestOrigin, cid: str, version: int, username: Any
    ) -> dict[str, Any]:
        """Assign the conversation to one staff member of its department, named by username (the staff
        directory's, Cognito's); someone unknown, disabled or outside the department is refused (400)."""
        if not isinstance(username, str) or not is_cognito_username(username.strip()):
            raise InvalidInput(
                f"user must be a staff member's username (1 to {MAX_USERNAME_LENGTH} letters, digits, "
                "symbols or punctuation; no spaces or control characters)",
                field="user",
            )
        if self.staff is None:
            raise RuntimeError("this staff inbox was built without the staff directory")
        record, _decision = self._open(identity, cid)  # another department's thread is 404 first
        found = self.staff.member(username.strip())
        if found is None:
            raise InvalidInput("user is not a staff member of this clinic", field="user")
        if record.conversation.department not in found.departments:
            raise InvalidInput(
                f"user is not in this conversation's department ({record.conversation.department})",
                field="user",
            )
        member = StaffMember(found.user_id, found.departments)
        now = self.clock.now()
        return self._write(
            identity,
            origin,
            cid,
            action=AuditAction.ASSIGN,
            transition=lambda c: c.assign_user(
                by=identity.user_id, expected_version=version, member=member, at=now
            ),
            detail={"user": found.user_id},
        )

    def assignable(self, identity: StaffIdentity, department: Any) -> list[dict[str, Any]]:
        """The people a conversation of ``department`` may be assigned to (no PHI: ids and names)."""
        name = self._visible_department(identity, department)
        if self.staff is None:
            raise RuntimeError("this staff inbox was built without the staff directory")
        return [
            {
                "user_id": m.user_id,
                "username": m.username,
                "display_name": m.display_name,
                "departments": sorted(m.departments & self.departments),
            }
            for m in self.staff.in_department(name)
        ]

    def _visible_department(self, identity: StaffIdentity, department: Any) -> str:
        if not isinstance(department, str) or not is_department_name(department):
            raise InvalidInput(
                "department must be a department name (lowercase, e.g. front-desk)", field="department"
            )
        if department not in self.departments or not identity.may_act_on(department):
            raise NotFound("department not found")
        return department

    # -- starting a conversation ---------------------------------------------------------------------
    def start(
        self,
        identity: StaffIdentity,
        origin: RequestOrigin,
        *,
        phone: Any,
        department: Any,
        body: Any,
        canned: Callable[[], CannedResponseRequest] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
        """Start a conversation with a number in one of the caller's departments and send the first text
        (the ``staff_reply`` kind, through the outbound pipeline), or return the number's open
        conversation with the department unchanged (nothing sent: a text into an existing thread is a
        reply, made on the version the staff member saw). Returns (conversation, sent, created).

        Consent (DOMAIN.md, message classes): a staff member's text to a patient is a healthcare /
        informational text, like a reply, so a number with no consent record may be texted (the
        healthcare exemption; marketing never goes this way); an opted-out number is refused 409 with the
        reason, and so is a number whose consent state cannot be read (nothing is sent until it is
        repaired or the patient texts START). Consent is checked again, atomically, in the send's claim.
        """
        if self.send is None or self.consent is None or self.blind_index is None:
            raise RuntimeError("this staff inbox was built without the send path")
        if not isinstance(department, str):
            raise InvalidInput("department is required: one of your departments", field="department")
        name = self._visible_department(identity, department)
        if canned is None:
            if not isinstance(body, str) or not body.strip():
                raise InvalidInput("body must be the first text (or give canned_response_id)", field="body")
            if len(body) > MAX_REPLY_CHARS:
                raise InvalidInput(f"body must be at most {MAX_REPLY_CHARS} characters", field="body")
            check_staff_text(body, "body")  # as a reply: no NUL, control or bidi-override character
        number = to_e164(phone, self.default_region) if isinstance(phone, str) else None
        if number is None:
            raise InvalidInput("phone must be the patient's number, e.g. +12065550123", field="phone")
        phone_hmac = self.blind_index.phone(number)
        state = self.consent.state(phone_hmac)
        if state.status is ConsentStatus.OPTED_OUT:
            raise PatientOptedOut("the patient opted out (texted STOP): nothing was sent")
        if state.status is ConsentStatus.UNREADABLE:
            raise PatientOptedOut(
                "the number's consent record cannot be read: nothing is sent until it is repaired"
            )
        if canned is not None:
            chosen = canned()
            if chosen.department != name:
                raise InvalidInput(
                    "canned_response_id is not one of this department's", field="canned_response_id"
                )
            body = render(
                chosen,
                CannedContext(clinic_name=self.clinic_name, department=name, clinic_phone=self.clinic_phone),
            )
        now = self.clock.now()
        existing = self.store.find(phone_hmac, name)
        if existing is not None and existing.conversation.status is ConversationStatus.OPEN:
            self._record(
                identity,
                origin,
                AuditAction.READ,
                existing.conversation.conversation_id,
                detail={"via": "start"},
            )
            return summary_json(existing, identity, self.listed_contact(existing)), None, False
        first_name = self.names.first_name(phone_hmac) if self.names is not None else None
        if existing is not None:  # closed: reopened by this staff member, then texted
            c = existing.conversation
            reopened = c.reopen(by=identity.user_id, expected_version=c.version, at=now)
            # a contact that cannot be opened is sealed again from the number typed (its blind index is
            # this conversation's), so the answer and later lists show it
            readable = existing.contact_ct is not None and self.listed_contact(existing) is not None
            record = replace(
                existing,
                conversation=reopened,
                contact_ct=existing.contact_ct
                if readable
                else self._seal(c.conversation_id, Contact(number, first_name)),
            )
            self._record(
                identity,
                origin,
                AuditAction.START,
                c.conversation_id,
                detail={"department": name, "reopened": "true"},
            )
            self.store.save(record, expected_version=c.version)
        else:
            cid = new_conversation_id()
            started = Conversation.start(
                conversation_id=cid, phone_hmac=phone_hmac, department=name, at=now, by=identity.user_id
            )
            record = InboxConversation(started, contact_ct=self._seal(cid, Contact(number, first_name)))
            self._record(identity, origin, AuditAction.START, cid, detail={"department": name})
            try:
                self.store.create(record)
            except ConcurrentChange:
                raced = self.store.find(phone_hmac, name)
                if raced is None:
                    raise
                return summary_json(raced, identity, self.listed_contact(raced)), None, False
        c = record.conversation
        text = OutboundText(
            key=f"staff.{c.conversation_id}.{c.version}",
            kind=STAFF_REPLY,
            phone_hmac=phone_hmac,
            body=str(body).strip(),
            phone=number,
            ref=(c.conversation_id, now, identity.user_id, identity.username),  # the thread names the sender
            department=name,
        )
        sent = self._send(text)
        written = self._record_reply(record, identity, c.version, now)
        # the text went out: the answer must not fail on a contact that cannot be opened
        return summary_json(written, identity, self.listed_contact(written)), sent, True

    def _send(self, text: OutboundText) -> dict[str, Any]:
        if self.send is None:
            raise RuntimeError("this staff inbox was built without the outbound pipeline")
        try:
            word = self.send(text)
        except RetryLater as exc:
            raise ConcurrentChange("the text could not be sent just now; try again") from exc
        if word == SKIPPED_OPTED_OUT:
            raise PatientOptedOut("the patient opted out (texted STOP): nothing was sent")
        if word == "already_claimed":
            raise ReplyNotSent("another staff member already answered this version; reload the conversation")
        if word != SENT:
            raise ReplyNotSent(f"the text was not sent ({word})")
        report = analyze(text.body if isinstance(text.body, str) else "")
        return {
            "status": word,
            "segments": report.segments,
            "encoding": report.encoding,
            "ucs2_culprits": report.ucs2_culprits,
        }

    # -- metrics -------------------------------------------------------------------------------------
    def metrics(
        self,
        identity: StaffIdentity,
        origin: RequestOrigin,
        *,
        department: str | None,
        first: date | None,
        last: date | None,
        granularity: str | None,
    ) -> dict[str, Any]:
        """Response-time figures (business minutes, :mod:`shared.inbox.sla`) per department the caller
        may see and per period of local dates ``first`` to ``last`` (inclusive, in each department's
        zone; default the last 7 days). ``granularity`` day, week or month splits the range; None: one
        period. The look is recorded (a ``list`` record with ``view=metrics``) before anything is read."""
        now = self.clock.now()
        names = (
            [self._visible_department(identity, department)]
            if department is not None
            else sorted(self.departments if identity.admin else identity.departments & self.departments)
        )
        if granularity not in (None, "day", "week", "month"):
            raise InvalidInput("granularity must be day, week or month", field="granularity")
        stored = dict(self.settings.all()) if self.settings is not None else {}
        spans: dict[str, tuple[DepartmentSettings, list[tuple[datetime, datetime]]]] = {}
        shown_first = shown_last = None
        for name in names:
            settings = stored.get(name) or default_settings(self.default_time_zone)
            zone = ZoneInfo(settings.time_zone)
            end_day = last or now.astimezone(zone).date()
            start_day = first or end_day - timedelta(days=DEFAULT_METRICS_DAYS - 1)
            if end_day < start_day:
                raise InvalidInput("to must not be before from", field="to")
            if (end_day - start_day).days >= MAX_METRICS_DAYS:
                raise InvalidInput(f"the period is at most {MAX_METRICS_DAYS} days", field="from")
            shown_first, shown_last = start_day, end_day
            if granularity is None:
                bounds = [(local_instant(zone, start_day), local_instant(zone, end_day + timedelta(days=1)))]
            else:
                bounds = periods(start_day, end_day, granularity, zone)  # type: ignore[arg-type]
            spans[name] = (settings, bounds)
        detail = {"view": "metrics"}
        if department is not None:
            detail["department"] = department
        if shown_first is not None and shown_last is not None:
            detail.update({"from": shown_first.isoformat(), "to": shown_last.isoformat()})
        self._record(identity, origin, AuditAction.LIST, detail=detail)
        out = []
        for name, (settings, bounds) in spans.items():
            summaries = self.store.summaries(name, since=bounds[0][0])
            rows = []
            for start, end in bounds:
                [figures] = sla_metrics(
                    summaries,
                    functools.partial(_same, settings),
                    period_start=start,
                    period_end=end,
                    now=now,
                    departments=[name],
                )
                rows.append(metrics_json(figures))
            out.append(
                {
                    "department": name,
                    "time_zone": settings.time_zone,
                    "first_response_target_minutes": settings.first_response_minutes,
                    "periods": rows,
                }
            )
        return {
            "from": shown_first.isoformat() if shown_first else None,
            "to": shown_last.isoformat() if shown_last else None,
            "granularity": granularity or "period",
            "unit": "business_minutes",
            "departments": out,
        }

    def break_glass(
        self, identity: StaffIdentity, origin: RequestOrigin, cid: str, reason: Any
    ) -> tuple[dict[str, Any], AccessDecision]:
        """Emergency access to another department's conversation: recorded with its reason, then shown.
        The caller notifies the admins with ``decision.notify`` (ids only)."""
        record = self.store.get(cid) if is_conversation_id(cid) else None
        decision = break_glass(identity, cid, record.conversation.department if record else None, reason)
        if record is None:
            raise conversation_not_found()
        if decision.reason is not None:
            self._record(identity, origin, AuditAction.BREAK_GLASS, cid, reason=decision.reason)
        else:
            self._record(identity, origin, AuditAction.READ, cid, detail={"via": decision.via.value})
        return detail_json(record, identity), decision

    def reply(
        self,
        identity: StaffIdentity,
        origin: RequestOrigin,
        cid: str,
        version: int,
        body: Any,
        *,
        canned: Callable[[], CannedResponseRequest] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A staff reply through the outbound pipeline's ``staff_reply`` kind.

        The version is checked before anything is sent (a stale view is 409 with what changed); the text's
        idempotency key is the conversation and that version, so two staff answering the same view claim
        the same key and only one text goes out: the other is refused 409. An opted-out patient is 409
        and nothing is sent. The thread then records the reply (re-applied on the newest version when a
        patient text landed meanwhile: the text went out, so it must be on the record)."""
        if canned is None and (not isinstance(body, str) or not body.strip()):
            raise InvalidInput("body must be the reply's text (or give canned_response_id)", field="body")
        if canned is None and len(body) > MAX_REPLY_CHARS:
            raise InvalidInput(f"body must be at most {MAX_REPLY_CHARS} characters", field="body")
        if canned is None:
            check_staff_text(body, "body")
        if self.send is None:
            raise RuntimeError("this staff inbox was built without the outbound pipeline")
        record, decision = self._open(identity, cid)
        current, now = record.conversation, self.clock.now()
        if canned is not None:
            chosen = canned()  # looked up after access is decided: another department's thread is 404 first
            if chosen.department != current.department:
                raise InvalidInput(
                    "canned_response_id is not one of this conversation's department",
                    field="canned_response_id",
                )
            body = render(
                chosen,
                CannedContext(
                    clinic_name=self.clinic_name,
                    department=current.department,
                    clinic_phone=self.clinic_phone,
                ),
            )
        current.staff_reply(by=identity.user_id, expected_version=version, at=now)  # refuses a stale view
        self._record(
            identity,
            origin,
            AuditAction.REPLY,
            cid,
            detail={"via": decision.via.value, "version": str(version)},
        )
        text = OutboundText(
            key=f"staff.{cid}.{version}",
            kind=STAFF_REPLY,
            phone_hmac=current.phone_hmac,
            body=body.strip(),
            # an unopenable contact: the pipeline falls back to the number the consent ledger holds
            phone=contact.phone if (contact := self.listed_contact(record)) is not None else None,
            ref=(cid, now, identity.user_id, identity.username),
            department=current.department,
        )
        sent = self._send(text)
        written = self._record_reply(record, identity, version, now)
        return detail_json(written, identity), sent

    def _record_reply(
        self, record: InboxConversation, identity: StaffIdentity, version: int, at: Any
    ) -> InboxConversation:
        for _attempt in range(3):
            current = record.conversation
            expected = version if current.version == version else current.version
            written = replace(
                record,
                conversation=current.staff_reply(by=identity.user_id, expected_version=expected, at=at),
            )
            try:
                self.store.save(written, expected_version=current.version)
                return written
            except ConcurrentChange:
                fresh = self.store.get(current.conversation_id)
                if fresh is None:
                    raise
                record = fresh
        raise ConcurrentChange("the reply was sent but the thread kept changing; reload it")


def _same(settings: DepartmentSettings, _department: str) -> DepartmentSettings:
    return settings
