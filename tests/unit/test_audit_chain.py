"""The audit chain: canonical records, SHA-256 links, and verify() naming each kind of tampering."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.audit.domain import (
    GENESIS,
    AuditAction,
    AuditEvent,
    ChainHead,
    canonical,
    recomputed_hash,
    seal,
    verify,
)
from tests.fakes import FakeAuditLog, no_network

__all__ = ["no_network"]
pytestmark = pytest.mark.usefixtures("no_network")

T0 = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def event(n: int = 0, **overrides) -> AuditEvent:
    fields = {
        "user_id": f"user-{n % 3}",
        "username": f"nurse {n % 3}",
        "action": AuditAction.READ,
        "source_ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "conversation_id": f"c_{n:022d}",
        "detail": {"via": "department"},
        "client_id": "4s1q2r3t5u6v7w8x9y0zabcdef",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def chain(length: int):
    records, previous = [], GENESIS
    for n in range(1, length + 1):
        record = seal(event(n), sequence=n, previous_hash=previous, at=T0 + timedelta(seconds=n))
        records.append(record)
        previous = record.hash
    return records


def head_of(records) -> ChainHead:
    return ChainHead(records[-1].sequence, records[-1].hash)


def test_canonical_form_is_sorted_compact_utf8_json():
    assert canonical({"b": 1, "a": "é", "c": None}) == '{"a":"é","b":1,"c":null}'.encode()


def test_each_hash_is_sha256_of_the_previous_hash_and_the_canonical_record():
    first, second = chain(2)
    body = first.body()
    assert "hash" not in body and body["previous_hash"] == GENESIS
    expected = hashlib.sha256(
        bytes.fromhex(GENESIS) + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    )
    assert first.hash == expected.hexdigest()
    assert second.previous_hash == first.hash
    assert second.hash == hashlib.sha256(bytes.fromhex(first.hash) + canonical(second.body())).hexdigest()


def test_an_intact_trail_verifies():
    records = chain(10)
    report = verify(records, head=head_of(records))
    assert report.intact and report.checked == 10 and (report.first_sequence, report.last_sequence) == (1, 10)


def test_an_empty_trail_with_an_empty_head_verifies_and_one_with_a_head_is_truncated():
    assert verify([], head=ChainHead(0, GENESIS)).intact
    assert verify([], head=ChainHead(3, "a" * 64)).truncated == (1, 2, 3)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("username", "someone else"),
        ("user_id", "user-9"),
        ("action", "reply"),
        ("conversation_id", "c_" + "9" * 22),
        ("at", "2026-11-24T15:31:00.000000Z"),
        ("source_ip", "198.51.100.1"),
        ("user_agent", "curl/8"),
        ("client_id", "another-client"),
        ("detail", (("via", "admin"),)),
        ("reason", "added later"),
    ],
)
def test_a_changed_field_is_reported_as_that_record_changed_and_nothing_else(name, value):
    records = chain(6)
    records[3] = replace(records[3], **{name: value})
    report = verify(records, head=head_of(records))
    assert report.changed == (4,)
    assert not (report.missing or report.reordered or report.broken_links or report.truncated)
    assert not report.intact


def test_a_changed_record_given_a_fresh_hash_breaks_the_link_after_it():
    records = chain(6)
    forged = replace(records[2], username="someone else")
    records[2] = replace(forged, hash=recomputed_hash(forged))
    report = verify(records, head=head_of(records))
    assert report.changed == () and report.broken_links == (4,)


def test_rehashing_the_last_record_is_caught_by_the_head():
    records = chain(4)
    original_head = head_of(records)
    forged = replace(records[-1], action="reply")
    records[-1] = replace(forged, hash=recomputed_hash(forged))
    report = verify(records, head=original_head)
    assert report.head_mismatch and report.changed == ()


def test_a_deleted_record_is_reported_missing_and_only_missing():
    records = chain(6)
    del records[2]
    report = verify(records, head=head_of(records))
    assert report.missing == (3,) and not (report.changed or report.broken_links or report.reordered)


def test_a_deleted_first_record_is_missing_too():
    records = chain(3)[1:]
    assert verify(records).missing == (1,)


def test_two_swapped_records_are_reported_reordered():
    records = chain(6)
    records[1], records[2] = records[2], records[1]
    report = verify(records, head=head_of(sorted(records, key=lambda r: r.sequence)))
    assert report.reordered == (2, 3)
    assert not (report.changed or report.missing or report.broken_links)


def test_swapped_contents_renumbered_to_fit_their_new_places_are_changed():
    records = chain(6)
    a, b = records[1], records[2]
    records[1], records[2] = replace(b, sequence=2), replace(a, sequence=3)
    report = verify(records, head=head_of(records))
    assert report.changed == (2, 3)


def test_records_cut_off_the_end_are_truncated_against_the_head():
    records = chain(8)
    head = head_of(records)
    report = verify(records[:5], head=head)
    assert report.truncated == (6, 7, 8) and not report.missing
    assert verify(records[:5]).intact  # without the head a clean cut cannot be seen: always pass the head


def test_a_duplicated_record_is_reported():
    records = chain(4)
    records.insert(2, records[1])
    assert 2 in verify(records).duplicated


def test_a_range_verifies_from_the_last_record_already_checked():
    records = chain(10)
    after = ChainHead(records[4].sequence, records[4].hash)
    assert verify(records[5:], after=after, head=head_of(records)).intact
    assert verify(records[5:], after=ChainHead(5, "f" * 64)).broken_links == (6,)
    assert verify(records[6:], after=after).missing == (6,)


def test_a_forged_huge_sequence_number_is_reported_without_listing_every_gap():
    records = chain(3)
    records.append(replace(records[-1], sequence=10**12))
    report = verify(records)
    assert 10**12 in report.changed and len(report.missing) <= 10_000


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(min_value=1, max_value=12),
    data=st.data(),
    field=st.sampled_from(["username", "user_id", "action", "at", "source_ip", "user_agent", "detail"]),
)
def test_any_single_field_edit_anywhere_is_found_at_its_record(length, data, field):
    records = chain(length)
    index = data.draw(st.integers(min_value=0, max_value=length - 1))
    original = records[index]
    special = {"detail": (("via", "x"),), "at": "2027-01-01T00:00:00.000000Z"}
    value = special[field] if field in special else getattr(original, field) + "x"
    records[index] = replace(original, **{field: value})
    report = verify(records, head=ChainHead(length, chain(length)[-1].hash))
    assert report.changed == (index + 1,)


# -- what may be recorded -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"detail": {"body": "my incision is bleeding"}},  # free text: refused
        {"detail": {"Body": "x"}},
        {"detail": {"n": 5}},
        {"source_ip": "not an address"},
        {"user_id": ""},
        {"user_id": "a b"},
        {"username": ""},
        {"username": "a\nb"},
        {"user_agent": "x" * 257},
        {"conversation_id": "c 1"},
        {"client_id": "bad client"},
        {"action": "read"},
        {"reason": "why not"},  # a reason on anything but break_glass
        {"action": AuditAction.BREAK_GLASS},  # break_glass without a reason
        {"action": AuditAction.BREAK_GLASS, "reason": "bad\x00reason"},
    ],
)
def test_an_event_that_could_carry_phi_or_is_malformed_is_refused(overrides):
    with pytest.raises(ValueError):
        event(1, **overrides)


def test_an_event_without_http_context_is_allowed():
    assert event(1, source_ip="", user_agent="").source_ip == ""


# -- the in-memory fake keeps the same chain ------------------------------------------------------


def test_the_fake_audit_log_chains_and_verifies_like_the_store():
    log = FakeAuditLog()
    for n in range(1, 6):
        log.append(event(n))
    assert verify(log.chain(), head=log.head()).intact
    assert [r.sequence for r in log.by_user("user-1").records] == [4, 1]
    log.records[1] = replace(log.records[1], username="x")
    assert verify(log.chain(), head=log.head()).changed == (2,)
