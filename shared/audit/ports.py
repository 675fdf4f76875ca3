"""The audit log port: append one event, read records back by conversation, staff member or period, and
walk the whole chain for verification. No update, no delete: the trail is append-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.audit.domain import Anchor, AuditEvent, AuditRecord, ChainHead

MAX_PAGE = 500


@dataclass(frozen=True)
class AuditPage:
    """One page of records, newest first; ``cursor`` (opaque) fetches the next page, None at the end."""

    records: tuple[AuditRecord, ...]
    cursor: str | None


@dataclass(frozen=True)
class ChainPage:
    """Records in stored position order with their positions (the store's keys, not the records' own
    sequence fields, so a record whose sequence was forged cannot steer the walk)."""

    records: tuple[AuditRecord, ...]
    positions: tuple[int, ...]

    @property
    def last_position(self) -> int | None:
        return self.positions[-1] if self.positions else None


class AuditLog(Protocol):
    def append(self, event: AuditEvent) -> AuditRecord:
        """Number, stamp, chain and store ``event`` after the current last record, atomically with the
        chain head. Concurrent appends are serialized: a loser re-reads the head and tries again (a
        bounded number of times, then :class:`~shared.core.errors.ConcurrentChange`)."""
        ...

    def by_conversation(
        self,
        conversation_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage: ...

    def by_user(
        self,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage: ...

    def by_period(
        self, start: datetime, end: datetime, *, limit: int = 50, cursor: str | None = None
    ) -> AuditPage:
        """Records stamped in [start, end), newest first. A cursor that was not issued by this log for
        the same query is :class:`~shared.core.errors.InvalidInput` naming ``cursor``."""
        ...

    def chain(self, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        """Up to ``limit`` records after sequence ``after``, in stored (position) order, for
        :func:`shared.audit.domain.verify`. Records are returned as stored, even when tampered with."""
        ...

    def chain_page(self, *, after_position: int = 0, limit: int = 1000) -> ChainPage:
        """Up to ``limit`` records stored after position ``after_position``, for paging a verification."""
        ...

    def head(self) -> ChainHead:
        """The chain head: the last record's sequence and hash as the store recorded them."""
        ...


class AuditAnchors(Protocol):
    """Copies of the chain head kept outside the audit table, where they cannot be changed or removed
    (S3 with Object Lock in compliance mode)."""

    def put(self, anchor: Anchor) -> bool:
        """Write ``anchor`` only if no anchor of its sequence exists (an anchor is never overwritten,
        not even by a new version); False when one does, and nothing was written."""
        ...

    def get(self, sequence: int) -> Anchor | None:
        """The anchor of ``sequence`` (its first version), None when there is none."""
        ...

    def newest(self, count: int) -> list[Anchor]:
        """Up to ``count`` anchors, highest sequence first. An object under the anchors' prefix that is
        not an anchor raises ValueError naming it (a forged or damaged anchor is a finding, not noise)."""
        ...
