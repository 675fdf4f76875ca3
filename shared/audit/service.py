"""Verifying the whole trail a page at a time (what ``clinictext audit verify`` runs) and reading it by
filter, each recorded: a verification is an ``audit_verify`` record appended after the check, a read an
``audit_read`` record appended before the records are fetched."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shared.audit.domain import EMPTY_HEAD, AuditAction, AuditEvent, ChainHead, VerifyReport, verify
from shared.audit.ports import AuditLog, AuditPage
from shared.core.clock import iso
from shared.core.errors import InvalidInput

PAGE = 1000


@dataclass(frozen=True)
class Verifier:
    """``verify`` over :meth:`AuditLog.chain` pages, carrying the last good link across page boundaries,
    so memory stays one page whatever the trail's length."""

    log: AuditLog
    page: int = PAGE

    def run(self) -> VerifyReport:
        head = self.log.head()  # read first: records appended during the run lie beyond it
        total = VerifyReport(checked=0, first_sequence=None, last_sequence=None)
        after, position = EMPTY_HEAD, 0
        while True:
            page = self.log.chain_page(after_position=position, limit=self.page)
            # Positions past the head were appended during the run: the next verification checks them.
            records = [r for r, p in zip(page.records, page.positions, strict=True) if p <= head.sequence]
            last_page = len(records) < len(page.records) or len(page.records) < self.page
            part = verify(records, after=after, head=head if last_page else None)
            total = _merge(total, part)
            if last_page or page.last_position is None:
                return total
            position = page.last_position
            # The link into the next page: the stored record at the page's last position, as stored.
            tail = page.records[-1]
            after = ChainHead(position, tail.hash if tail.sequence == position else "")

    def run_and_record(self, event: AuditEvent) -> VerifyReport:
        """Verify, then append ``event`` (an ``audit_verify`` action) with the outcome in its detail."""
        if event.action is not AuditAction.AUDIT_VERIFY:
            raise ValueError("the record of a verification is an audit_verify event")
        report = self.run()
        outcome = {"intact": "yes" if report.intact else "no", "checked": str(report.checked)}
        self.log.append(replace(event, detail={**event.detail, **outcome}))
        return report


def _merge(total: VerifyReport, part: VerifyReport) -> VerifyReport:
    firsts = [s for s in (total.first_sequence, part.first_sequence) if s is not None]
    lasts = [s for s in (total.last_sequence, part.last_sequence) if s is not None]
    return VerifyReport(
        checked=total.checked + part.checked,
        first_sequence=min(firsts) if firsts else None,
        last_sequence=max(lasts) if lasts else None,
        changed=total.changed + part.changed,
        broken_links=total.broken_links + part.broken_links,
        missing=total.missing + part.missing,
        reordered=total.reordered + part.reordered,
        duplicated=total.duplicated + part.duplicated,
        truncated=total.truncated + part.truncated,
        head_mismatch=total.head_mismatch or part.head_mismatch,
    )


@dataclass(frozen=True)
class AuditReader:
    """``GET /inbox/audit``: one filter (a conversation, a staff member, or a period), and the look itself
    recorded first as an ``audit_read`` record naming the filter (ids and instants only), so a read that
    fails half way is on the record too. Who may read is decided before (admins only: inbox access)."""

    log: AuditLog

    def query(
        self,
        viewer: AuditEvent,
        *,
        conversation_id: str | None = None,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage:
        if viewer.action is not AuditAction.AUDIT_READ:
            raise ValueError("a look at the trail is recorded as an audit_read event")
        if conversation_id is not None and user_id is not None:
            raise InvalidInput("filter by conversation_id or by user, not both", field="user")
        if conversation_id is None and user_id is None and (start is None or end is None):
            raise InvalidInput("give conversation_id, user, or a period (from and to)", field="from")
        detail = dict(viewer.detail)
        if conversation_id is not None:
            detail["conversation_id"] = conversation_id
        if user_id is not None:
            detail["user"] = user_id
        if start is not None:
            detail["from"] = iso(start)
        if end is not None:
            detail["to"] = iso(end)
        self.log.append(replace(viewer, conversation_id=conversation_id, detail=detail))
        if conversation_id is not None:
            return self.log.by_conversation(conversation_id, start=start, end=end, limit=limit, cursor=cursor)
        if user_id is not None:
            return self.log.by_user(user_id, start=start, end=end, limit=limit, cursor=cursor)
        if start is None or end is None:  # checked above; kept explicit for optimised byte code
            raise ValueError("a period needs from and to")
        return self.log.by_period(start, end, limit=limit, cursor=cursor)
