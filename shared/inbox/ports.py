"""Inbox ports: where conversations live, where department settings live, and the on-call pager.

The conversation model (:mod:`shared.inbox.conversation`) is pure; these are the ports its services talk
through. A stored conversation travels as an :class:`InboxConversation`: the model's value plus what the
automated side keeps beside it (the closed period the after-hours reply went out for, the urgent
escalation's bookkeeping). That state is not part of the thread: writing it never bumps ``version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.core.errors import Conflict
from shared.inbox.conversation import Conversation, ConversationStatus
from shared.inbox.departments import DepartmentSettings
from shared.inbox.sla import ConversationSummary


class EscalationEnded:
    """Why an urgent conversation stopped being escalated (words stored on the conversation)."""

    OPENED = "opened"  # a staff member opened (or answered) it
    CLOSED = "closed"  # closed, or the urgent flag was cleared
    EXHAUSTED = "exhausted"  # the bounded number of pages went out and nobody opened it


@dataclass(frozen=True)
class Escalation:
    """The urgent escalation's record: when it started, how many pages went out, when the last one did."""

    urgent_at: datetime
    attempts: int = 0
    last_at: datetime | None = None
    ended: str | None = None  # an :class:`EscalationEnded` word once it stopped
    category: str | None = None  # triage's fixed word (bleeding, chest_pain, ...), never the text


@dataclass(frozen=True)
class InboxConversation:
    conversation: Conversation
    after_hours_key: str | None = None  # the closed period the after-hours (or urgent) reply covered
    escalation: Escalation | None = None
    # The patient's number and first name, sealed with the PHI cipher bound to the conversation
    # (:func:`contact_record_ref`): the store keeps only the number's blind index in the clear.
    contact_ct: str | None = None


def contact_record_ref(conversation_id: str) -> str:
    return f"inbox-contact#{conversation_id}"


@dataclass(frozen=True)
class Contact:
    """Who the conversation is with: PHI, kept sealed (``contact_ct``) and shown to allowed staff only."""

    phone: str  # E.164
    first_name: str | None = None

    @property
    def masked_number(self) -> str:
        return masked_number(self.phone)

    def payload(self) -> dict[str, str | None]:
        return {"phone": self.phone, "first_name": self.first_name}

    @classmethod
    def of(cls, payload: Mapping[str, object]) -> Contact:
        first = payload.get("first_name")
        return cls(str(payload["phone"]), str(first) if isinstance(first, str) and first else None)


def masked_number(phone: str) -> str:
    """The number with all but its last four digits hidden: ``***-***-0123``."""
    digits = [ch for ch in phone if ch.isdigit()]
    return "***-***-" + "".join(digits[-4:]) if len(digits) >= 4 else "***"


class PatientNames(Protocol):
    def first_name(self, phone_hmac: str) -> str | None:
        """The first name the clinic's records (appointments) give for the number, or None."""
        ...


class NoPatientNames:
    def first_name(self, phone_hmac: str) -> str | None:
        return None


@dataclass(frozen=True)
class DirectoryMember:
    """An assignable staff member as the staff directory (Cognito) knows them: no PHI."""

    user_id: str  # Cognito sub: what an assignment records
    username: str
    display_name: str
    departments: frozenset[str]


class StaffDirectory(Protocol):
    def member(self, username: str) -> DirectoryMember | None:
        """The enabled staff member with that username, with their departments, or None."""
        ...

    def in_department(self, department: str) -> list[DirectoryMember]:
        """The enabled staff members of a department's group, by username."""
        ...


@dataclass(frozen=True)
class Landing:
    """One inbound text landing in a conversation, written in one transaction: the conversation at its
    new version (conditioned on the version it was read at, or on not existing yet), a reference to the
    logged message, and the landing record that makes a redelivery land nothing twice. ``reply`` is the
    automated reply owed (``after_hours`` / ``urgent`` / None) and ``reply_key`` its idempotency key."""

    message_id: str
    at: datetime
    reply: str | None = None
    reply_key: str | None = None
    language: str = "en"
    category: str | None = None
    escalation_started: bool = False  # the text starts a new urgent escalation (written with it)


@dataclass(frozen=True)
class MessageRef:
    """A conversation's reference to one of its texts in the message log (ids only, never a body).
    ``sender_id``/``sender_name``: the staff member who sent a reply (Cognito sub and username)."""

    message_id: str
    direction: str
    kind: str | None = None
    sender_id: str | None = None
    sender_name: str | None = None


@dataclass(frozen=True)
class LandedAlready:
    """What the first delivery of a text recorded when it landed (read back on a redelivery)."""

    conversation_id: str
    reply: str | None
    reply_key: str | None
    language: str
    category: str | None


class AlreadyLanded(Conflict):
    def __init__(self, landed: LandedAlready) -> None:
        super().__init__("this inbound text landed already")
        self.landed = landed


@dataclass(frozen=True)
class Page:
    items: list[InboxConversation]
    cursor: str | None = None  # opaque; pass back for the next page
    scanned: int = field(default=0)


class ConversationStore(Protocol):
    def get(self, conversation_id: str) -> InboxConversation | None: ...

    def message_refs(self, conversation_id: str) -> dict[str, MessageRef]:
        """The conversation's own texts in the message log, by message id."""
        ...

    def find(self, phone_hmac: str, department: str) -> InboxConversation | None:
        """The number's conversation with ``department`` (consistent read), or None."""
        ...

    def for_number(self, phone_hmac: str) -> list[InboxConversation]:
        """Every department's conversation with the number (the by_number index)."""
        ...

    def land(self, record: InboxConversation, landing: Landing, *, expected_version: int | None) -> None:
        """Write ``record`` with ``landing`` in one transaction. Raises :class:`AlreadyLanded` when the
        text landed before, :class:`shared.core.errors.ConcurrentChange` when the conversation changed
        since ``expected_version`` (None: it must not exist yet, nor another for the number and
        department)."""
        ...

    def save(self, record: InboxConversation, *, expected_version: int) -> None:
        """Write a staff or scheduler transition; raises ConcurrentChange when the stored version is not
        ``expected_version`` (the version the transition was applied to)."""
        ...

    def record_escalation(
        self, conversation_id: str, escalation: Escalation, *, previous_attempts: int | None
    ) -> bool:
        """Store the escalation record, conditioned on the attempts read (None: none recorded yet);
        False when another run recorded one meanwhile. Never changes ``version``."""
        ...

    def list_department(
        self,
        department: str,
        *,
        status: ConversationStatus | None = None,
        limit: int = 25,
        cursor: str | None = None,
    ) -> Page:
        """Newest activity first, ``limit`` at most per page; raises InvalidInput(field=cursor) for a
        cursor this store did not hand out."""
        ...

    def needing_attention(self, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Open conversations awaiting a reply or with an escalation under way (the sweep's work list)."""
        ...

    def create(self, record: InboxConversation) -> None:
        """Write a new conversation a staff member started (with its number-and-department guard);
        raises :class:`shared.core.errors.ConcurrentChange` when one exists for them already."""
        ...

    def summaries(self, department: str, *, since: datetime) -> list[ConversationSummary]:
        """What the metrics need (instants only, nothing decrypted) of the department's conversations
        active since ``since``."""
        ...


class DepartmentDirectory(Protocol):
    def all(self) -> Mapping[str, DepartmentSettings]:
        """Every department an admin has set (a department not listed has the default settings)."""
        ...

    def put(self, department: str, settings: DepartmentSettings) -> None: ...


class OnCallPager(Protocol):
    def page(
        self, *, department: str, conversation_id: str, link: str, category: str | None, attempt: int
    ) -> None:
        """Notify the on-call staff. Carries no PHI: department, conversation id, link, category, attempt."""
        ...
