"""Verifying the whole trail a page at a time (what ``clinictext audit verify`` runs) and reading it by
filter, each recorded: a verification is an ``audit_verify`` record appended after the check, a read an
``audit_read`` record appended before the records are fetched."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shared.audit.domain import (
    EMPTY_HEAD,
    GENESIS,
    MAX_LISTED,
    Anchor,
    AuditAction,
    AuditEvent,
    ChainHead,
    VerifyReport,
    check_anchors,
    verify,
)
from shared.audit.ports import AuditAnchors, AuditLog, AuditPage
from shared.core.clock import iso
from shared.core.errors import IntegrityError, InvalidInput

PAGE = 1000
ANCHORS_CHECKED = 12  # the newest anchors checked by a verification (an hour of a 5-minute sweep)


@dataclass(frozen=True)
class Verifier:
    """``verify`` over :meth:`AuditLog.chain` pages, carrying the last good link across page boundaries,
    so memory stays one page whatever the trail's length. With ``anchors`` (copies of the chain head kept
    outside the table), the newest ``anchors_checked`` of them are checked against the table as well, so a
    trail cut back to an earlier record (head rewritten to match) or rehashed from some record on is found."""

    log: AuditLog
    page: int = PAGE
    anchors: AuditAnchors | None = None
    anchors_checked: int = ANCHORS_CHECKED

    def run(self, *, first: int = 1, last: int | None = None) -> VerifyReport:
        """Verify records ``first`` to ``last`` (by default the whole trail, up to the chain head).

        A range starting after record 1 trusts the stored hash of the record before it as its link in."""
        if isinstance(first, bool) or not isinstance(first, int) or first < 1:
            raise InvalidInput("from must be a record number, 1 or more", field="from")
        if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < first):
            raise InvalidInput("to must be a record number no lower than from", field="to")
        head = self.log.head()  # read first: records appended during the run lie beyond it
        try:
            anchors = self.anchors.newest(self.anchors_checked) if self.anchors else []
        except ValueError as exc:  # an object under the anchors' prefix that is not an anchor
            raise IntegrityError(f"the audit anchors cannot be read: {exc}") from exc
        to_the_end = last is None or last >= head.sequence
        high = head.sequence if last is None else min(last, head.sequence)
        wanted = {a.sequence for a in anchors}
        stored_hashes: dict[int, str] = {}
        total = VerifyReport(checked=0, first_sequence=None, last_sequence=None, head=head)
        after, position = self._link_in(first)
        beyond: list[int] = []
        while True:
            page = self.log.chain_page(after_position=position, limit=self.page)
            kept = [(r, p) for r, p in zip(page.records, page.positions, strict=True) if p <= high]
            beyond += [p for p in page.positions if p > head.sequence]
            records = [r for r, _p in kept]
            for record, at in kept:
                if at in wanted:
                    stored_hashes[at] = record.hash if record.sequence == at else ""
            last_page = len(kept) < len(page.records) or len(page.records) < self.page
            part = verify(records, after=after, head=head if last_page and to_the_end else None)
            total = _merge(total, part)
            if last_page or page.last_position is None:
                break
            position = page.last_position
            # The link into the next page: the stored record at the page's last position, as stored.
            tail = page.records[-1]
            after = ChainHead(position, tail.hash if tail.sequence == position else "")
        if not to_the_end:
            end = total.last_sequence if total.last_sequence is not None else first - 1
            gap = tuple(range(max(end + 1, first), high + 1))[:MAX_LISTED]
            total = replace(total, missing=total.missing + gap)
        if beyond and to_the_end:
            # Appends during the run move the head past their records; a record still past the head
            # after the run was put there around the append path.
            now_head = self.log.head()
            total = replace(total, beyond_head=tuple(p for p in beyond if p > now_head.sequence))
        bad = check_anchors(anchors, stored_hashes, head, low=first, high=high)
        return replace(total, anchor_mismatch=bad, head=head)

    def _link_in(self, first: int) -> tuple[ChainHead, int]:
        """Where the walk starts (the last verified link, the position to page from)."""
        if first == 1:
            return EMPTY_HEAD, 0
        before = self.log.chain_page(after_position=first - 2, limit=1)
        if before.positions[:1] == (first - 1,) and before.records[0].sequence == first - 1:
            return ChainHead(first - 1, before.records[0].hash), first - 1
        # The record before the range is gone: verify from one earlier, so it is reported missing.
        return ChainHead(first - 2, GENESIS), first - 1

    def run_and_record(self, event: AuditEvent, *, first: int = 1, last: int | None = None) -> VerifyReport:
        """Verify, then append ``event`` (an ``audit_verify`` action) with the outcome in its detail."""
        if event.action is not AuditAction.AUDIT_VERIFY:
            raise ValueError("the record of a verification is an audit_verify event")
        report = self.run(first=first, last=last)
        outcome = {"intact": "yes" if report.intact else "no", "checked": str(report.checked)}
        if first != 1 or last is not None:
            outcome.update({"from": str(first), "to": str(last if last is not None else "head")})
        self.log.append(replace(event, detail={**event.detail, **outcome}))
        return report


HEAD_BEHIND_ANCHOR = "head_behind_anchor"  # an anchor names a later sequence than the head: cut off
HEAD_DIFFERS_FROM_ANCHOR = "head_differs_from_anchor"  # the head's sequence was anchored with another hash


@dataclass(frozen=True)
class Anchoring:
    """What a sweep's anchoring did: the head read, the anchor written (None when the head had not moved
    since the newest anchor, or an anchor of its sequence exists), and a finding when the head does not
    match what the anchors hold (sequences and a reason only, no PHI)."""

    head: ChainHead
    written: Anchor | None = None
    finding: str | None = None
    anchored_sequence: int | None = None  # the newest anchor's sequence, for the finding


@dataclass(frozen=True)
class Anchorer:
    """Copies the chain head (sequence and hash, no PHI) to the anchors: run from the inbox sweep's
    schedule, so the newest records are never longer than one sweep period without an anchor. A head
    that has not moved since the newest anchor is not written again; an anchor is never overwritten (the
    put is conditional), so after a rewind the first anchor of a sequence stays the one read."""

    log: AuditLog
    anchors: AuditAnchors

    def anchor(self, now: datetime) -> Anchoring:
        head = self.log.head()
        if head.sequence == 0:
            return Anchoring(head)  # an empty trail: nothing to anchor yet
        try:
            newest = next(iter(self.anchors.newest(1)), None)
        except ValueError:
            # A damaged or forged object at the top: the verifier reports it; the conditional put below
            # still never overwrites an anchor, so the head is anchored anyway.
            newest = None
        if newest is not None and (newest.sequence, newest.hash) == (head.sequence, head.hash):
            return Anchoring(head, anchored_sequence=newest.sequence)  # unmoved since the last sweep
        behind = newest is not None and newest.sequence > head.sequence
        finding = HEAD_BEHIND_ANCHOR if behind else None
        anchored = newest.sequence if newest is not None else None
        anchor = Anchor(head.sequence, head.hash, iso(now))
        if self.anchors.put(anchor):
            return Anchoring(head, anchor, finding, anchored)
        existing = self.anchors.get(head.sequence)
        if existing is None or existing.hash != head.hash:
            finding = HEAD_DIFFERS_FROM_ANCHOR  # the records up to the head are not those once anchored
        # else: written meanwhile by another sweep with this very head, or a head rewound onto a record
        # anchored before (then ``behind`` already says so)
        return Anchoring(head, None, finding, anchored)


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
        head=total.head,
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
