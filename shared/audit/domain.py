"""The audit trail's records, their chain and its verification (HIPAA 164.312(b) audit controls and
164.312(c) integrity). Pure Python over ``hashlib``: a trail exported from the table verifies offline.

Every look at or change to a conversation, and every look at the trail, is one :class:`AuditRecord`.
Records are numbered 1, 2, 3, ... without gaps and chained::

    hash(n) = SHA-256( bytes.fromhex(hash(n - 1)) || canonical(record n) )     hash(0) = GENESIS

where ``canonical`` is the record's fields (everything but ``hash``, ``previous_hash`` included) as
sorted-key, compact UTF-8 JSON. Changing any field of a record changes its hash; removing one leaves a
gap in the numbering; moving one breaks its position; cutting records off the end leaves the trail short
of the chain head the store keeps. :func:`verify` reports each of these precisely.

Records carry no PHI: ids (user, conversation, message), the action, time, source address and client.
``detail`` holds short id-like values only (checked), so no message text can be put in it by mistake. The
one free text, a break-glass ``reason``, is written by staff and may mention a patient: the store keeps it
encrypted; the hash covers the text itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.core.clock import iso, parse_iso

GENESIS = "0" * 64
MAX_USER_AGENT = 256
# 24: a full inbox list page names its 100 conversation ids in 20 values of at most 128 characters
MAX_DETAIL_ITEMS = 24
MAX_DETAIL_VALUE = 128
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DETAIL_VALUE = re.compile(rf"^[A-Za-z0-9_.:#@/+=,-]{{0,{MAX_DETAIL_VALUE}}}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class AuditAction(StrEnum):
    READ = "read"  # a conversation's thread was shown
    LIST = "list"  # a conversation list was shown
    START = "start"
    REPLY = "reply"
    ASSIGN = "assign"
    NOTE = "note"
    LABEL = "label"
    CLOSE = "close"
    REOPEN = "reopen"
    BREAK_GLASS = "break_glass"
    EXPORT = "export"
    AUDIT_READ = "audit_read"  # someone looked at the trail itself
    AUDIT_VERIFY = "audit_verify"
    # Secure messages (shared.secure): staff sent one; on the patient's page (actor: the link, never a
    # staff member) it was viewed, a date-of-birth check failed (wrong date, not a date, expired, locked,
    # or no such link: then no conversation and the actor ``patient-link:unknown``), the link locked, an
    # answer was sent, or an answer was refused (session ended, link expired/locked, too many, invalid).
    SECURE_SEND = "secure_send"
    SECURE_VIEW = "secure_view"
    SECURE_CHECK_FAILED = "secure_check_failed"
    SECURE_LOCKED = "secure_locked"
    SECURE_ANSWER = "secure_answer"
    SECURE_ANSWER_REFUSED = "secure_answer_refused"


@dataclass(frozen=True)
class AuditEvent:
    """What happened, as the service reports it; the store numbers, stamps and chains it.

    ``detail`` values must look like ids (letters, digits and ``_.:#@/+=,-``), never message text.
    """

    user_id: str
    username: str
    action: AuditAction
    source_ip: str
    user_agent: str
    conversation_id: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    client_id: str = ""  # the Cognito app client the token was issued to ("" outside the HTTP API)

    def __post_init__(self) -> None:
        if not isinstance(self.action, AuditAction):
            raise ValueError("action must be an AuditAction")
        for name in ("user_id",):
            if not _ID.fullmatch(getattr(self, name) or ""):
                raise ValueError(f"{name} must be an id")
        if not self.username or len(self.username) > 128 or not self.username.isprintable():
            raise ValueError("username must be printable, 1 to 128 characters")
        if self.client_id and not _ID.fullmatch(self.client_id):
            raise ValueError("client_id must be an id")
        if self.conversation_id is not None and not _ID.fullmatch(self.conversation_id):
            raise ValueError("conversation_id must be an id")
        _check_ip(self.source_ip)
        if len(self.user_agent) > MAX_USER_AGENT or not self.user_agent.isprintable():
            raise ValueError("user_agent must be printable and at most 256 characters")
        if len(self.detail) > MAX_DETAIL_ITEMS:
            raise ValueError(f"detail holds at most {MAX_DETAIL_ITEMS} items")
        for key, value in self.detail.items():
            if (
                not _DETAIL_KEY.fullmatch(key)
                or not isinstance(value, str)
                or not _DETAIL_VALUE.fullmatch(value)
            ):
                raise ValueError(
                    f"detail {key!r} must be an id-like value (no free text in the audit detail)"
                )
        if (self.reason is not None) is not (self.action is AuditAction.BREAK_GLASS):
            raise ValueError("a reason is required for break_glass and only for it")
        if self.reason is not None and (not self.reason or not self.reason.isprintable()):
            raise ValueError("reason must be printable text")


def _check_ip(value: str) -> None:
    if value == "":
        return  # not over HTTP (a scheduled run, the CLI)
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValueError("source_ip must be an IP address") from exc


@dataclass(frozen=True)
class AuditRecord:
    """One numbered, chained record. ``hash`` covers every other field, ``previous_hash`` included."""

    sequence: int
    at: str  # the instant as iso() writes it (text, so a record read back verifies byte for byte)
    user_id: str
    username: str
    action: str  # an AuditAction value; kept as text so a record written by a newer release still verifies
    source_ip: str
    user_agent: str
    conversation_id: str | None
    detail: tuple[tuple[str, str], ...]
    reason: str | None
    previous_hash: str
    hash: str
    client_id: str = ""

    @property
    def at_instant(self) -> datetime:
        return parse_iso(self.at)

    def body(self) -> dict[str, Any]:
        """The hashed fields, as plain JSON values."""
        return {
            "sequence": self.sequence,
            "at": self.at,
            "user_id": self.user_id,
            "username": self.username,
            "action": self.action,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "client_id": self.client_id,
            "conversation_id": self.conversation_id,
            "detail": dict(self.detail),
            "reason": self.reason,
            "previous_hash": self.previous_hash,
        }


def canonical(body: Mapping[str, Any]) -> bytes:
    """Sorted-key, compact, UTF-8 JSON: the same record always serializes to the same bytes."""
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def chain_hash(previous_hash: str, body: Mapping[str, Any]) -> str:
    if not _HASH.fullmatch(previous_hash):
        raise ValueError("previous_hash must be 64 lowercase hex digits")
    return hashlib.sha256(bytes.fromhex(previous_hash) + canonical(body)).hexdigest()


def seal(event: AuditEvent, *, sequence: int, previous_hash: str, at: datetime) -> AuditRecord:
    """The record ``event`` becomes at ``sequence``, after the record whose hash is ``previous_hash``."""
    if sequence < 1:
        raise ValueError("sequence starts at 1")
    unsealed = AuditRecord(
        sequence=sequence,
        at=iso(at),
        user_id=event.user_id,
        username=event.username,
        action=event.action.value,
        source_ip=event.source_ip,
        user_agent=event.user_agent,
        client_id=event.client_id,
        conversation_id=event.conversation_id,
        detail=tuple(sorted(event.detail.items())),
        reason=event.reason,
        previous_hash=previous_hash,
        hash="",
    )
    return _with_hash(unsealed)


def _with_hash(record: AuditRecord) -> AuditRecord:
    return replace(record, hash=chain_hash(record.previous_hash, record.body()))


def recomputed_hash(record: AuditRecord) -> str | None:
    """The hash the record's fields give (None when a field cannot even be serialized)."""
    try:
        return chain_hash(record.previous_hash, record.body())
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class ChainHead:
    """The store's own note of the last record: its sequence and hash (sequence 0: an empty trail)."""

    sequence: int
    hash: str


EMPTY_HEAD = ChainHead(0, GENESIS)


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found. Sequences are listed ascending; an intact trail has every list empty.

    * ``changed``: records whose fields no longer give their stored hash (a field was edited);
    * ``broken_links``: records whose ``previous_hash`` is not the stored hash of the record before them
      (that record was rewritten with a fresh hash, or this one was re-chained);
    * ``missing``: sequence numbers absent between the first expected and the last present record;
    * ``reordered``: records found out of sequence order (moved or swapped);
    * ``duplicated``: sequence numbers present more than once;
    * ``truncated``: sequence numbers after the last record up to the chain head (cut off the end), and
      ``head_mismatch`` when the last record's hash is not the one the head recorded;
    * ``beyond_head``: positions holding a record past the chain head (put in around the append path);
    * ``anchor_mismatch``: sequences of anchors (copies of the head kept outside the table, see
      :class:`Anchor`) that the table no longer matches: the record is gone, or holds another hash (the
      chain was cut back or rewritten from that point on, head included).

    ``head`` is the chain head the run checked against.
    """

    checked: int
    first_sequence: int | None
    last_sequence: int | None
    changed: tuple[int, ...] = ()
    broken_links: tuple[int, ...] = ()
    missing: tuple[int, ...] = ()
    reordered: tuple[int, ...] = ()
    duplicated: tuple[int, ...] = ()
    truncated: tuple[int, ...] = ()
    head_mismatch: bool = False
    beyond_head: tuple[int, ...] = ()
    anchor_mismatch: tuple[int, ...] = ()
    head: ChainHead | None = None

    @property
    def intact(self) -> bool:
        return not (
            self.changed
            or self.broken_links
            or self.missing
            or self.reordered
            or self.duplicated
            or self.truncated
            or self.head_mismatch
            or self.beyond_head
            or self.anchor_mismatch
        )


MAX_LISTED = 10_000  # a report lists at most this many missing or truncated numbers


def _absent(present: Mapping[int, Any], low: int, high: int) -> list[int]:
    """The numbers from ``low`` to ``high`` not in ``present``, walking the gaps (a forged sequence of
    10**12 costs no more than a real one), at most :data:`MAX_LISTED` of them."""
    absent: list[int] = []
    cursor = low
    for sequence in sorted(s for s in present if low <= s <= high):
        absent.extend(range(cursor, min(sequence, cursor + MAX_LISTED - len(absent))))
        cursor = sequence + 1
        if len(absent) >= MAX_LISTED:
            return absent
    absent.extend(range(cursor, min(high + 1, cursor + MAX_LISTED - len(absent))))
    return absent


def verify(
    records: Iterable[AuditRecord],
    *,
    head: ChainHead | None = None,
    after: ChainHead = EMPTY_HEAD,
) -> VerifyReport:
    """Check ``records`` as stored (in the order the store returned them, which is by position).

    ``after`` is the last record already verified (sequence and hash) when checking a range; by default
    the trail is checked from its first record, which must be number 1 and follow :data:`GENESIS`.
    ``head`` is the store's chain head; with it, records cut off the end are found too.
    """
    stored = list(records)
    by_sequence = sorted(stored, key=lambda r: r.sequence)
    reordered = sorted(
        {
            r.sequence
            for r, expected in zip(stored, by_sequence, strict=True)
            if r.sequence != expected.sequence
        }
    )
    seen: dict[int, AuditRecord] = {}
    duplicated: set[int] = set()
    for record in by_sequence:
        if record.sequence in seen:
            duplicated.add(record.sequence)
        else:
            seen[record.sequence] = record
    changed = [s for s, r in seen.items() if recomputed_hash(r) != r.hash]
    broken: list[int] = []
    for sequence, record in seen.items():
        previous = seen.get(sequence - 1)
        if previous is not None:
            expected_previous = previous.hash
        elif sequence - 1 == after.sequence:
            expected_previous = after.hash
        else:
            continue  # the record before it is missing: reported as missing, not as a broken link
        if record.previous_hash != expected_previous:
            broken.append(sequence)
    last = max(seen) if seen else None
    expected_first = after.sequence + 1
    upper = last if last is not None else after.sequence
    missing = _absent(seen, expected_first, upper)
    truncated: list[int] = []
    head_mismatch = False
    if head is not None:
        end = last if last is not None else after.sequence
        truncated = _absent({}, end + 1, head.sequence)
        if last is not None and last == head.sequence:
            head_mismatch = seen[last].hash != head.hash
        elif last is not None and last > head.sequence:
            head_mismatch = True  # records beyond the head: appended around the store
    return VerifyReport(
        checked=len(stored),
        first_sequence=min(seen) if seen else None,
        last_sequence=last,
        changed=tuple(sorted(changed)),
        broken_links=tuple(sorted(broken)),
        missing=tuple(missing),
        reordered=tuple(reordered),
        duplicated=tuple(sorted(duplicated)),
        truncated=tuple(truncated),
        head_mismatch=head_mismatch,
        head=head,
    )


# -- anchors: the chain head, copied outside the table --------------------------------------------

ANCHOR_PREFIX = "anchors/"
_ANCHOR_SPAN = 10**15  # sequences stay far below this (DynamoDB numbers; one record per look)


@dataclass(frozen=True)
class Anchor:
    """A copy of the chain head (sequence and hash, no PHI) written where the table's writers cannot
    change or remove it (an S3 bucket with Object Lock in compliance mode). Someone able to rewrite the
    table can cut the newest records off and rewind the head, or rehash the chain from some record on;
    the anchors written before still name the records as they were, so either is found."""

    sequence: int
    hash: str
    anchored_at: str

    def __post_init__(self) -> None:
        if isinstance(self.sequence, bool) or not isinstance(self.sequence, int):
            raise ValueError("an anchor's sequence is a whole number")
        if not 1 <= self.sequence < _ANCHOR_SPAN:
            raise ValueError("an anchor's sequence is 1 or more")
        if not isinstance(self.hash, str) or not _HASH.fullmatch(self.hash):
            raise ValueError("an anchor's hash is 64 lowercase hex digits")
        if not isinstance(self.anchored_at, str) or len(self.anchored_at) > 40:
            raise ValueError("an anchor's anchored_at is an instant")

    @property
    def key(self) -> str:
        return anchor_key(self.sequence)

    def body(self) -> bytes:
        return canonical({"sequence": self.sequence, "hash": self.hash, "anchored_at": self.anchored_at})

    @classmethod
    def parse(cls, key: str, body: bytes) -> Anchor:
        """The anchor stored under ``key``; ValueError when the object is not one (or names another
        sequence than its key)."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"anchor {key} is not JSON") from exc
        if not isinstance(data, dict) or set(data) != {"sequence", "hash", "anchored_at"}:
            raise ValueError(f"anchor {key} does not hold sequence, hash and anchored_at")
        anchor = cls(data["sequence"], data["hash"], data["anchored_at"])
        if anchor.key != key:
            raise ValueError(f"anchor {key} names sequence {anchor.sequence}")
        return anchor


def anchor_key(sequence: int) -> str:
    """Keys sort newest first (S3 lists keys in ascending order): the newest anchors are one short
    listing away, however many years of anchors the bucket holds."""
    return f"{ANCHOR_PREFIX}{_ANCHOR_SPAN - 1 - sequence:015d}.json"


def check_anchors(
    anchors: Iterable[Anchor], stored_hashes: Mapping[int, str], head: ChainHead, *, low: int, high: int
) -> tuple[int, ...]:
    """Sequences of ``anchors`` the table contradicts. ``stored_hashes`` holds the stored hash at each
    anchored position within the verified range ``[low, high]``; an anchor beyond the chain head means
    the head was rewound (records cut off the end and the head rewritten to match)."""
    bad = set()
    for anchor in anchors:
        rewound = anchor.sequence > head.sequence
        in_range = low <= anchor.sequence <= high
        if rewound or (in_range and stored_hashes.get(anchor.sequence) != anchor.hash):
            bad.add(anchor.sequence)
    return tuple(sorted(bad))


def _span(numbers: tuple[int, ...]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return shown + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def findings(report: VerifyReport) -> list[tuple[int, str]]:
    """Each problem of ``report`` as (the first sequence it concerns, a sentence), first record first."""
    found: list[tuple[int, str]] = []
    for sequence in report.changed:
        found.append((sequence, f"record {sequence} was altered: its fields no longer give its stored hash"))
    for sequence in report.broken_links:
        found.append(
            (
                sequence,
                f"record {sequence} does not link to record {sequence - 1}: its previous_hash is not "
                f"record {sequence - 1}'s hash (a record was rewritten, inserted or re-chained)",
            )
        )
    if report.missing:
        found.append((report.missing[0], f"record(s) {_span(report.missing)} missing (deleted)"))
    if report.reordered:
        found.append((report.reordered[0], f"record(s) {_span(report.reordered)} out of order (moved)"))
    if report.duplicated:
        found.append((report.duplicated[0], f"record(s) {_span(report.duplicated)} stored twice"))
    if report.truncated:
        found.append(
            (
                report.truncated[0],
                f"record(s) {_span(report.truncated)} cut off the end (the chain head names "
                f"{report.truncated[-1]})",
            )
        )
    if report.head_mismatch:
        last = report.last_sequence or 0
        found.append(
            (last, f"the chain head does not match record {last} (head missing, rewound or altered)")
        )
    for position in report.beyond_head:
        found.append((position, f"record at position {position} lies beyond the chain head (inserted)"))
    for sequence in report.anchor_mismatch:
        found.append(
            (
                sequence,
                f"record {sequence} does not match its anchor: the anchored hash is not in the table "
                "(records cut off or the chain rewritten from there on)",
            )
        )
    return sorted(found, key=lambda item: item[0])
