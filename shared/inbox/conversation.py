"""The conversation model: one patient number and one department, and the pure transitions on it.

A :class:`Conversation` is a value; every transition returns a new one with ``version`` bumped by one
and a :class:`Change` appended to its recent history. Nothing here stores, logs or sends: the store
writes the new value conditionally on the version it read (so two writers racing from the same read can
never both win) and encrypts notes; the service checks access (:mod:`shared.inbox.access`) first.

Ids: ``conversation_id`` is random (:func:`new_conversation_id`), shown in URLs, and says nothing about
the number; the number is found through its blind index (``phone_hmac``, from :mod:`shared.crypto`),
which is a keyed HMAC and cannot be reversed without the key.

Stale views: every staff write takes ``expected_version``, the version the staff member's view showed.
When the conversation changed materially since (a patient text, another reply, an assignment, a note,
labels, close, reopen, a transfer, the urgent flag), the write is refused with :class:`StaleVersion`,
which lists those changes so the screen can say what happened. Changes that do not alter what a person
would answer (the scheduler's overdue flag) do not make a view stale: the write applies on top of them.

Read markers are per staff member and are not part of the thread: :meth:`Conversation.mark_read`
changes neither ``version`` nor the history, so one nurse opening a thread never makes another's view
stale (reads never change the version).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from shared.core.errors import Conflict, InvalidInput
from shared.inbox.access import is_department_name

HISTORY_KEPT = 50  # recent changes kept on the item, enough to explain any realistic stale view
MAX_LABELS = 20
MAX_NOTE_CHARS = 4000
LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_ID_PATTERN = re.compile(r"^c_[A-Za-z0-9_-]{22}$")
_USER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


# What staff text (notes, replies) may not carry: C0 controls but tab and line breaks, DEL and the C1
# controls, the bidi embeddings, overrides and isolates (text that reads other than it is stored: "Trojan
# Source"), and lone surrogates. Marks such as LRM/RLM and the joiners of emoji stay allowed.
_HOSTILE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def check_staff_text(value: str, field: str) -> None:
    """:class:`InvalidInput` naming ``field`` (never echoing the text) when ``value`` holds a character
    above; call it on text a staff member wrote before anything is stored or sent."""
    if _HOSTILE_TEXT.search(value):
        raise InvalidInput(
            f"{field} must not contain control characters or text-direction overrides", field=field
        )


def new_conversation_id() -> str:
    """An opaque, unguessable id (128 random bits), unrelated to the number."""
    return "c_" + secrets.token_urlsafe(16)


def is_conversation_id(value: object) -> bool:
    return isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None


class ConversationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ChangeKind(StrEnum):
    STARTED = "started"
    PATIENT_MESSAGE = "patient_message"
    STAFF_REPLY = "staff_reply"
    ASSIGNED = "assigned"
    TRANSFERRED = "transferred"
    NOTE = "note"
    LABELS = "labels"
    CLOSED = "closed"
    REOPENED = "reopened"
    URGENT = "urgent"
    OVERDUE = "overdue"
    SECURE_MESSAGE = "secure_message"  # staff sent a secure message (detail: its link id)
    SECURE_STATUS = "secure_status"  # the patient's page opened it or locked it (detail: opened|locked:<id>)


# Changes after which a reply or assignment made on the older view could be wrong. A secure message's
# status (opened, locked) is shown in the thread but changes nothing a staff member would answer; the
# patient's answer on the page lands as a patient message, which is material.
MATERIAL = frozenset(ChangeKind) - {ChangeKind.OVERDUE, ChangeKind.SECURE_STATUS}


class AssigneeKind(StrEnum):
    USER = "user"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class Assignee:
    kind: AssigneeKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


@dataclass(frozen=True)
class StaffMember:
    """A possible assignee as the staff directory knows them (their Cognito groups)."""

    user_id: str
    departments: frozenset[str]


@dataclass(frozen=True)
class Change:
    """One write, as a stale view is told about it. ``detail`` holds ids only (an assignee, labels)."""

    version: int
    kind: ChangeKind
    at: datetime
    by: str  # a staff user id, or "patient" / "system"
    detail: str = ""


@dataclass(frozen=True)
class Note:
    """A private staff note. ``body`` is PHI: the store keeps it encrypted."""

    note_id: str
    author: str
    at: datetime
    body: str


class StaleVersion(Conflict):
    """The view a write was made on is out of date. ``changes`` are the material changes since it, oldest
    first (``truncated`` when older ones are no longer kept); ``current_version`` is the version to reload."""

    def __init__(self, expected: int, current: int, changes: tuple[Change, ...], truncated: bool) -> None:
        kinds = ", ".join(dict.fromkeys(change.kind.value for change in changes)) or "changes"
        super().__init__(
            f"the conversation changed since version {expected} (now {current}: {kinds}); "
            "reload it and try again"
        )
        self.expected = expected
        self.current_version = current
        self.changes = changes
        self.truncated = truncated


class InvalidTransition(Conflict):
    """A write that makes no sense in the conversation's state (closing a closed one)."""


def _check_user(user_id: str, field_name: str) -> str:
    if not isinstance(user_id, str) or not _USER_PATTERN.fullmatch(user_id):
        raise InvalidInput(f"{field_name} must be a staff user id", field=field_name)
    return user_id


def _check_department(department: str, known: Collection[str] | None, field_name: str = "department") -> str:
    if not isinstance(department, str) or not is_department_name(department):
        raise InvalidInput(
            f"{field_name} must be a department name (lowercase, e.g. front-desk)", field=field_name
        )
    if known is not None and department not in known:
        raise InvalidInput(f"{field_name} is not a department of this clinic", field=field_name)
    return department


def _check_at(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("transition times must be timezone-aware")
    return at


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    phone_hmac: str
    department: str
    status: ConversationStatus
    assignee: Assignee
    created_at: datetime
    last_activity_at: datetime
    version: int = 1
    labels: frozenset[str] = frozenset()
    notes: tuple[Note, ...] = ()
    urgent: bool = False
    overdue: bool = False
    first_inbound_at: datetime | None = None
    first_response_at: datetime | None = None
    last_inbound_at: datetime | None = None
    awaiting_reply_since: datetime | None = None  # the oldest patient text not yet answered
    closed_at: datetime | None = None
    patient_messages: int = 0
    staff_replies: int = 0
    assignments: tuple[Change, ...] = ()  # every assignment and transfer, oldest first
    history: tuple[Change, ...] = ()  # the last HISTORY_KEPT changes
    read_markers: tuple[tuple[str, datetime], ...] = field(default=())  # (user id, read up to), sorted
    # A staff member started it (POST /inbox/conversations, the first text theirs); else a patient's
    # text did. The metrics measure first response for patient-started ones only.
    started_by_staff: bool = False

    # -- creation -----------------------------------------------------------------------------------
    @classmethod
    def start(
        cls, *, conversation_id: str, phone_hmac: str, department: str, at: datetime, by: str = "system"
    ) -> Conversation:
        if not is_conversation_id(conversation_id):
            raise ValueError("conversation_id must come from new_conversation_id()")
        if not isinstance(phone_hmac, str) or not phone_hmac:
            raise ValueError("phone_hmac is required (the number's blind index)")
        _check_department(department, None)
        at = _check_at(at)
        start = Change(1, ChangeKind.STARTED, at, by, f"department:{department}")
        return cls(
            conversation_id=conversation_id,
            phone_hmac=phone_hmac,
            department=department,
            status=ConversationStatus.OPEN,
            assignee=Assignee(AssigneeKind.DEPARTMENT, department),
            created_at=at,
            last_activity_at=at,
            history=(start,),
            started_by_staff=by != "system",
        )

    # -- reading ------------------------------------------------------------------------------------
    def last_read(self, user_id: str) -> datetime | None:
        return dict(self.read_markers).get(user_id)

    def unread_for(self, user_id: str) -> bool:
        """A patient text this staff member has not seen yet."""
        if self.last_inbound_at is None:
            return False
        marker = self.last_read(user_id)
        return marker is None or marker < self.last_inbound_at

    def changes_since(self, version: int) -> tuple[tuple[Change, ...], bool]:
        """The material changes after ``version``, and whether older ones were dropped from the history."""
        changes = tuple(c for c in self.history if c.version > version and c.kind in MATERIAL)
        oldest_kept = self.history[0].version if self.history else self.version + 1
        return changes, oldest_kept > version + 1

    def mark_read(self, user_id: str, at: datetime) -> Conversation:
        """Move ``user_id``'s read marker to ``at`` (never back). Not a thread change: version unchanged."""
        _check_user(user_id, "user")
        at = _check_at(at)
        markers = dict(self.read_markers)
        if markers.get(user_id) is not None and markers[user_id] >= at:
            return self
        markers[user_id] = at
        return replace(self, read_markers=tuple(sorted(markers.items())))

    # -- the version check --------------------------------------------------------------------------
    def _check_version(self, expected_version: int) -> None:
        if (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 1
        ):
            raise InvalidInput("version must be a positive integer", field="version")
        if expected_version > self.version:
            raise InvalidInput("version is newer than the conversation's; reload it", field="version")
        if expected_version == self.version:
            return
        changes, truncated = self.changes_since(expected_version)
        if changes or truncated:
            raise StaleVersion(expected_version, self.version, changes, truncated)

    def _write(
        self, kind: ChangeKind, at: datetime, by: str, detail: str = "", **updates: object
    ) -> Conversation:
        version = self.version + 1
        change = Change(version, kind, at, by, detail)
        history = (*self.history, change)[-HISTORY_KEPT:]
        last_activity = max(self.last_activity_at, at) if kind in MATERIAL else self.last_activity_at
        return replace(
            self,
            version=version,
            history=history,
            last_activity_at=last_activity,
            **updates,  # type: ignore[arg-type]
        )

    # -- transitions from the patient and the system ------------------------------------------------
    def receive_patient_text(self, at: datetime) -> Conversation:
        """A patient text landed here: counts, unread for everyone, awaiting a reply; reopens a closed one.

        No ``expected_version``: a patient's text always lands (the store re-reads and re-applies it when
        it loses a race)."""
        at = _check_at(at)
        reopened = self.status is ConversationStatus.CLOSED
        return self._write(
            ChangeKind.PATIENT_MESSAGE,
            at,
            "patient",
            "reopened" if reopened else "",
            status=ConversationStatus.OPEN,
            closed_at=None,
            first_inbound_at=self.first_inbound_at or at,
            last_inbound_at=max(self.last_inbound_at, at) if self.last_inbound_at else at,
            awaiting_reply_since=min(self.awaiting_reply_since, at) if self.awaiting_reply_since else at,
            patient_messages=self.patient_messages + 1,
        )

    def flag_urgent(self, at: datetime, *, by: str = "system") -> Conversation:
        at = _check_at(at)
        if self.urgent:
            return self
        return self._write(ChangeKind.URGENT, at, by, "set", urgent=True)

    def set_overdue(self, overdue: bool, at: datetime) -> Conversation:
        """The scheduler's flag. Not material: it never makes a staff member's view stale."""
        at = _check_at(at)
        if self.overdue is overdue:
            return self
        return self._write(ChangeKind.OVERDUE, at, "system", "set" if overdue else "cleared", overdue=overdue)

    # -- staff transitions --------------------------------------------------------------------------
    def staff_reply(self, *, by: str, expected_version: int, at: datetime) -> Conversation:
        """A staff member answered: first response stamped once, nothing awaiting, read by the replier."""
        _check_user(by, "user")
        at = _check_at(at)
        self._check_version(expected_version)
        if self.status is ConversationStatus.CLOSED:
            raise InvalidTransition("the conversation is closed; reopen it to reply")
        first_response = self.first_response_at
        if first_response is None and self.first_inbound_at is not None:
            first_response = at
        replied = self._write(
            ChangeKind.STAFF_REPLY,
            at,
            by,
            first_response_at=first_response,
            awaiting_reply_since=None,
            staff_replies=self.staff_replies + 1,
            overdue=False,  # answered (urgency stays flagged until closed: triage decides escalation)
        )
        return replied.mark_read(by, max(at, self.last_inbound_at or at))

    def secure_message(self, *, by: str, expected_version: int, at: datetime, link_id: str) -> Conversation:
        """A staff member sent a secure message: answers the thread like a reply (first response stamped
        once, nothing awaiting, read by the sender); the thread records the link id, never the body."""
        _check_user(by, "user")
        at = _check_at(at)
        self._check_version(expected_version)
        if self.status is ConversationStatus.CLOSED:
            raise InvalidTransition("the conversation is closed; reopen it to send a secure message")
        first_response = self.first_response_at
        if first_response is None and self.first_inbound_at is not None:
            first_response = at
        sent = self._write(
            ChangeKind.SECURE_MESSAGE,
            at,
            by,
            link_id,
            first_response_at=first_response,
            awaiting_reply_since=None,
            overdue=False,
        )
        return sent.mark_read(by, max(at, self.last_inbound_at or at))

    def secure_status(self, at: datetime, detail: str) -> Conversation:
        """The patient's page opened or locked a secure message: on the thread's history, not material."""
        return self._write(ChangeKind.SECURE_STATUS, _check_at(at), "patient", detail)

    def assign_user(
        self, *, by: str, expected_version: int, member: StaffMember, at: datetime
    ) -> Conversation:
        """Assign to one staff member of this conversation's department (anyone else is refused)."""
        _check_user(by, "user")
        _check_user(member.user_id, "user")
        at = _check_at(at)
        self._check_version(expected_version)
        if self.department not in member.departments:
            raise InvalidInput("user is not in this conversation's department", field="user")
        assignee = Assignee(AssigneeKind.USER, member.user_id)
        return self._assigned(ChangeKind.ASSIGNED, assignee, at, by, department=self.department)

    def assign_department(
        self, *, by: str, expected_version: int, department: str, at: datetime, known: Collection[str]
    ) -> Conversation:
        """Hand the conversation to a department's queue: its own (unassign) or another (a transfer)."""
        _check_user(by, "user")
        _check_department(department, known)
        at = _check_at(at)
        self._check_version(expected_version)
        kind = ChangeKind.ASSIGNED if department == self.department else ChangeKind.TRANSFERRED
        return self._assigned(
            kind, Assignee(AssigneeKind.DEPARTMENT, department), at, by, department=department
        )

    def _assigned(
        self, kind: ChangeKind, assignee: Assignee, at: datetime, by: str, *, department: str
    ) -> Conversation:
        if assignee == self.assignee and department == self.department:
            raise InvalidTransition(f"the conversation is assigned to that {assignee.kind.value} already")
        written = self._write(kind, at, by, str(assignee), assignee=assignee, department=department)
        return replace(written, assignments=(*self.assignments, written.history[-1]))

    def add_note(
        self, *, by: str, expected_version: int, note_id: str, body: str, at: datetime
    ) -> Conversation:
        _check_user(by, "user")
        at = _check_at(at)
        if not isinstance(body, str) or not body.strip():
            raise InvalidInput("body must be the note's text", field="body")
        if len(body) > MAX_NOTE_CHARS:
            raise InvalidInput(f"body must be at most {MAX_NOTE_CHARS} characters", field="body")
        check_staff_text(body, "body")
        if any(note.note_id == note_id for note in self.notes):
            raise InvalidTransition("that note is recorded already")
        self._check_version(expected_version)
        note = Note(note_id, by, at, body.strip())
        return self._write(ChangeKind.NOTE, at, by, note_id, notes=(*self.notes, note))

    def label(
        self,
        *,
        by: str,
        expected_version: int,
        at: datetime,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
    ) -> Conversation:
        _check_user(by, "user")
        at = _check_at(at)
        add, remove = list(add), list(remove)
        for name in [*add, *remove]:  # checked before the sets: a JSON object or list is unhashable
            if not isinstance(name, str) or not LABEL_PATTERN.fullmatch(name):
                raise InvalidInput(
                    "labels must be lowercase words (a-z, 0-9, -), up to 32 characters", field="labels"
                )
        adding, removing = frozenset(add), frozenset(remove)
        if adding & removing:
            raise InvalidInput("a label cannot be added and removed at once", field="labels")
        labels = (self.labels | adding) - removing
        if len(labels) > MAX_LABELS:
            raise InvalidInput(f"a conversation has at most {MAX_LABELS} labels", field="labels")
        if labels == self.labels:
            raise InvalidTransition("the labels are set like that already")
        self._check_version(expected_version)
        return self._write(ChangeKind.LABELS, at, by, ",".join(sorted(labels)), labels=labels)

    def close(self, *, by: str, expected_version: int, at: datetime) -> Conversation:
        _check_user(by, "user")
        at = _check_at(at)
        self._check_version(expected_version)
        if self.status is ConversationStatus.CLOSED:
            raise InvalidTransition("the conversation is closed already")
        return self._write(
            ChangeKind.CLOSED,
            at,
            by,
            status=ConversationStatus.CLOSED,
            closed_at=at,
            urgent=False,
            overdue=False,
        )

    def reopen(self, *, by: str, expected_version: int, at: datetime) -> Conversation:
        _check_user(by, "user")
        at = _check_at(at)
        self._check_version(expected_version)
        if self.status is ConversationStatus.OPEN:
            raise InvalidTransition("the conversation is open already")
        return self._write(ChangeKind.REOPENED, at, by, status=ConversationStatus.OPEN, closed_at=None)
