"""Verifying the trail a page at a time: the same findings as one pass, across page boundaries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.audit.domain import Anchor, AuditAction, AuditEvent, recomputed_hash, verify
from shared.audit.service import HEAD_BEHIND_ANCHOR, HEAD_DIFFERS_FROM_ANCHOR, Anchorer, Verifier
from tests.fakes import FakeAuditLog, no_network

__all__ = ["no_network"]
pytestmark = pytest.mark.usefixtures("no_network")
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def event(n: int, **overrides) -> AuditEvent:
    fields = {
        "user_id": "sub-1",
        "username": "nurse",
        "action": AuditAction.READ,
        "source_ip": "192.0.2.1",
        "user_agent": "test",
        "conversation_id": f"c_{n:022d}",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def filled(count: int) -> FakeAuditLog:
    log = FakeAuditLog()
    for n in range(1, count + 1):
        log.append(event(n))
    return log


@pytest.mark.parametrize("page", [1, 2, 3, 7, 1000])
def test_an_intact_trail_verifies_at_any_page_size(page):
    report = Verifier(filled(7), page=page).run()
    assert report.intact and report.checked == 7 and report.last_sequence == 7


@pytest.mark.parametrize("page", [2, 3, 1000])
@pytest.mark.parametrize("index", [0, 2, 3, 6])
def test_a_changed_record_is_found_wherever_the_pages_fall(page, index):
    log = filled(7)
    log.records[index] = replace(log.records[index], username="x")
    assert Verifier(log, page=page).run().changed == (index + 1,)


@pytest.mark.parametrize("page", [2, 3, 1000])
def test_a_rehashed_record_breaks_the_link_even_across_a_page_boundary(page):
    log = filled(7)
    forged = replace(log.records[2], username="x")
    log.records[2] = replace(forged, hash=recomputed_hash(forged))
    assert Verifier(log, page=page).run().broken_links == (4,)


@pytest.mark.parametrize("page", [2, 3, 1000])
def test_a_deleted_record_is_missing_at_any_page_size(page):
    log = filled(7)
    del log.records[3]
    report = Verifier(log, page=page).run()
    assert 4 in report.missing and not report.intact


def test_a_swap_across_a_page_boundary_is_still_found():
    log = filled(6)
    log.records[2], log.records[3] = log.records[3], log.records[2]  # positions 3 and 4; pages of 3
    assert not Verifier(log, page=3).run().intact
    assert Verifier(log, page=1000).run().reordered == (3, 4)


def test_a_forged_huge_sequence_does_not_hide_tampering_after_it():
    log = filled(8)
    log.records[1] = replace(log.records[1], sequence=10**12)
    log.records[6] = replace(log.records[6], username="x")
    report = Verifier(log, page=3).run()
    assert 10**12 in report.changed and 7 in report.changed


def test_records_cut_off_the_end_are_truncated():
    log = filled(6)
    del log.records[4:]
    assert Verifier(log, page=2).run().truncated == (5, 6)


def test_the_paged_report_matches_one_pass_on_an_intact_trail():
    log = filled(9)
    assert Verifier(log, page=4).run() == verify(log.chain(), head=log.head())


def test_a_verification_is_itself_recorded_with_its_outcome():
    log = filled(3)
    report = Verifier(log).run_and_record(event(0, action=AuditAction.AUDIT_VERIFY, conversation_id=None))
    assert report.intact
    last = log.records[-1]
    assert last.action == "audit_verify" and dict(last.detail) == {"intact": "yes", "checked": "3"}
    with pytest.raises(ValueError):
        Verifier(log).run_and_record(event(0))


# -- reading the trail is on the trail ------------------------------------------------------------


def viewer(**overrides) -> AuditEvent:
    return event(0, action=AuditAction.AUDIT_READ, conversation_id=None, user_id="sub-admin", **overrides)


def test_a_look_at_the_trail_is_recorded_before_the_records_are_read():
    from datetime import UTC, datetime, timedelta

    from shared.audit.service import AuditReader

    log = filled(4)
    page = AuditReader(log).query(viewer(), conversation_id="c_" + "0" * 21 + "2")
    # The look itself (5) is part of the conversation's trail, ahead of the record it asked for (2).
    assert [(r.sequence, r.action) for r in page.records] == [(5, "audit_read"), (2, "read")]
    last = log.records[-1]
    assert last.action == "audit_read" and last.user_id == "sub-admin"
    assert dict(last.detail) == {"conversation_id": "c_" + "0" * 21 + "2"}
    by_user = AuditReader(log).query(viewer(), user_id="sub-admin")
    assert [r.action for r in by_user.records] == ["audit_read", "audit_read"]  # the look at itself included
    start = datetime(2026, 11, 24, tzinfo=UTC)
    AuditReader(log).query(viewer(), start=start, end=start + timedelta(days=1))
    assert dict(log.records[-1].detail) == {
        "from": "2026-11-24T00:00:00.000000Z",
        "to": "2026-11-25T00:00:00.000000Z",
    }
    assert verify(log.chain(), head=log.head()).intact


def test_an_unfiltered_or_doubly_filtered_read_is_400_and_records_nothing():
    from shared.audit.service import AuditReader
    from shared.core.errors import InvalidInput

    log = filled(2)
    with pytest.raises(InvalidInput):
        AuditReader(log).query(viewer())
    with pytest.raises(InvalidInput):
        AuditReader(log).query(viewer(), conversation_id="c_" + "0" * 22, user_id="sub-1")
    with pytest.raises(ValueError):
        AuditReader(log).query(event(0), user_id="sub-1")
    assert len(log.records) == 2


# --------------------------------------------------------------------------- anchoring the head
class FakeAnchors:
    """Anchors kept once per sequence, like the conditional put: a second put of a sequence is refused."""

    def __init__(self) -> None:
        self.stored: dict[int, Anchor] = {}
        self.puts: list[Anchor] = []
        self.forged_top = False

    def put(self, anchor: Anchor) -> bool:
        self.puts.append(anchor)
        if anchor.sequence in self.stored:
            return False
        self.stored[anchor.sequence] = anchor
        return True

    def get(self, sequence: int) -> Anchor | None:
        return self.stored.get(sequence)

    def newest(self, count: int) -> list[Anchor]:
        if self.forged_top:
            raise ValueError("anchor anchors/0.json is not JSON")
        return sorted(self.stored.values(), key=lambda a: a.sequence, reverse=True)[:count]


def test_an_unmoved_head_is_not_put_again():
    log, anchors = filled(3), FakeAnchors()
    first = Anchorer(log, anchors).anchor(NOW)
    again = Anchorer(log, anchors).anchor(NOW)
    assert first.written is not None and first.written.sequence == 3 and first.finding is None
    assert again.written is None and again.finding is None and len(anchors.puts) == 1


def test_a_put_refused_for_the_same_head_is_no_finding_and_for_another_hash_is_one():
    log, anchors = filled(3), FakeAnchors()
    head = log.head()
    anchors.stored[3] = Anchor(3, head.hash, "2026-11-24T15:00:00Z")  # another sweep won the race
    anchors.stored[5] = Anchor(5, "e" * 64, "2026-11-24T15:00:00Z")  # the head was rewound from 5
    behind = Anchorer(log, anchors).anchor(NOW)
    assert behind.written is None and behind.finding == HEAD_BEHIND_ANCHOR
    del anchors.stored[5]
    anchors.stored[3] = Anchor(3, head.hash, "2026-11-24T15:00:00Z")
    log.append(event(4))
    anchors.stored[4] = Anchor(4, "f" * 64, "2026-11-24T15:00:00Z")  # sequence 4 anchored, other hash
    differs = Anchorer(log, anchors).anchor(NOW)
    assert differs.written is None and differs.finding == HEAD_DIFFERS_FROM_ANCHOR
    assert anchors.stored[4].hash == "f" * 64  # never overwritten


def test_a_forged_top_anchor_does_not_stop_the_head_being_anchored():
    log, anchors = filled(2), FakeAnchors()
    anchors.forged_top = True
    result = Anchorer(log, anchors).anchor(NOW)
    assert result.written is not None and anchors.stored[2].hash == log.head().hash
