"""``clinictext audit verify`` against AuditTable and AuditAnchorBucket built from template.yaml (moto):
an intact trail verifies and says so; a changed, deleted, inserted or reordered record, records cut off
the end, and a trail rewritten from some record on (head included) are each named, first record first,
with a non-zero exit. The anchors come from the inbox sweep's schedule, as deployed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from infra.cli import main
from shared.audit.domain import ANCHOR_PREFIX, AuditAction, AuditEvent, anchor_key, recomputed_hash
from shared.audit.store import DynamoAuditLog
from shared.core.clock import FixedClock
from shared.crypto.kms import KmsEnvelopeCipher
from tests.integration.inbox_helpers import Clock, sweep

T0 = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
CONVERSATION = "c_" + "A" * 22


@pytest.fixture
def log(stack) -> DynamoAuditLog:
    return DynamoAuditLog(stack.table("AuditTable"), KmsEnvelopeCipher(stack.arn("DataKey")), FixedClock(T0))


def event(n: int, **overrides) -> AuditEvent:
    fields = {
        "user_id": f"sub-{n % 2}",
        "username": f"nurse{n % 2}",
        "action": AuditAction.READ,
        "source_ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "conversation_id": CONVERSATION,
        "detail": {"via": "department"},
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def fill(log: DynamoAuditLog, count: int) -> None:
    for n in range(count):
        log.append(event(n))


def anchor(stack, at: datetime = T0) -> dict:
    """InboxSweepSchedule fires: the sweep anchors the chain head."""
    return sweep(stack, Clock(at), at)


def keystore_args(stack) -> list[str]:
    env = next(iter(stack.functions.values())).environment
    return ["--keystore-table", env["PHI_KEYSTORE_TABLE"], "--branch-key-id", env["PHI_BRANCH_KEY_ID"]]


def verify_cli(stack, capsys, *extra: str) -> tuple[int, str]:
    code = main(
        [
            "audit",
            "verify",
            "--table",
            stack.ref("AuditTable"),
            "--anchor-bucket",
            stack.ref("AuditAnchorBucket"),
            "--key-arn",
            stack.arn("DataKey"),
            *keystore_args(stack),
            "--no-record",
            *extra,
        ]
    )
    return code, capsys.readouterr().out


def raw(stack, sequence: int) -> dict:
    return stack.table("AuditTable").get_item(Key={"pk": "CHAIN", "sk": sequence})["Item"]


def put_raw(stack, item: dict) -> None:
    stack.table("AuditTable").put_item(Item=item)  # what someone with table access could do


def delete_raw(stack, sequence: int) -> None:
    stack.table("AuditTable").delete_item(Key={"pk": "CHAIN", "sk": sequence})


def rewrite_from(stack, log: DynamoAuditLog, sequence: int, **change) -> None:
    """The careful forger: change record ``sequence`` and re-chain everything after it, head included,
    so the table alone is self-consistent again (SHA-256 takes no key)."""
    records = {r.sequence: r for r in log.chain()}
    previous = records[sequence - 1].hash if sequence > 1 else "0" * 64
    last = max(records)
    for n in range(sequence, last + 1):
        item = {**raw(stack, n), **(change if n == sequence else {}), "previous_hash": previous}
        put_raw(stack, item)
        record = log.chain(after=n - 1, limit=1)[0]
        item["hash"] = recomputed_hash(record)
        put_raw(stack, item)
        previous = item["hash"]
    put_raw(stack, {**raw(stack, 0), "last_hash": previous})


def test_an_intact_trail_verifies_with_a_summary(stack, log, capsys):
    fill(log, 5)
    anchor(stack)
    code, out = verify_cli(stack, capsys)
    head = log.head()
    assert code == 0, out
    assert "5 record(s) checked, sequences 1 .. 5" in out
    assert f"chain head: sequence 5, hash {head.hash}" in out
    assert "INTACT" in out


def test_the_sweep_anchors_the_head_in_the_object_lock_bucket(stack, log):
    fill(log, 3)
    result = anchor(stack)
    assert result["anchored"] == 3
    s3 = stack.client("s3")
    bucket = stack.ref("AuditAnchorBucket")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=ANCHOR_PREFIX)["Contents"]
    assert [entry["Key"] for entry in listed] == [anchor_key(3)]
    body = s3.get_object(Bucket=bucket, Key=anchor_key(3))["Body"].read().decode()
    assert log.head().hash in body and "nurse" not in body and CONVERSATION not in body
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    stored = s3.head_object(Bucket=bucket, Key=anchor_key(3))
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    assert stored["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=2000)
    version = s3.list_object_versions(Bucket=bucket, Prefix=ANCHOR_PREFIX)["Versions"][0]["VersionId"]
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=anchor_key(3), VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_an_empty_trail_is_not_anchored(stack, log):
    assert anchor(stack)["anchored"] is None


def test_a_changed_field_names_that_record(stack, log, capsys):
    fill(log, 6)
    put_raw(stack, {**raw(stack, 3), "username": "somebody else"})
    code, out = verify_cli(stack, capsys)
    assert code == 1
    assert "BROKEN: record 3 was altered" in out


def test_a_deleted_record_is_named_missing(stack, log, capsys):
    fill(log, 6)
    delete_raw(stack, 4)
    code, out = verify_cli(stack, capsys)
    assert code == 1
    assert "BROKEN: record(s) 4 missing" in out


def test_a_record_inserted_in_the_middle_breaks_the_next_link(stack, log, capsys):
    fill(log, 6)
    # Records 4..6 moved up one place and a forged record 4 sealed onto record 3, head moved to 7.
    for n in (6, 5, 4):
        item = raw(stack, n)
        put_raw(stack, {**item, "sk": n + 1, "sequence": n + 1})
    forged = {**raw(stack, 3), "sk": 4, "sequence": 4, "previous_hash": raw(stack, 3)["hash"]}
    put_raw(stack, forged)
    record = log.chain(after=3, limit=1)[0]
    put_raw(stack, {**forged, "hash": recomputed_hash(record)})
    put_raw(stack, {**raw(stack, 0), "last_sequence": 7, "last_hash": raw(stack, 7)["hash"]})
    code, out = verify_cli(stack, capsys)
    assert code == 1
    assert "BROKEN: record 5 was altered" in out  # old record 4, renumbered: its hash no longer fits


def test_a_record_inserted_past_the_head_is_named(stack, log, capsys):
    fill(log, 4)
    put_raw(stack, {**raw(stack, 4), "sk": 5, "sequence": 5})
    code, out = verify_cli(stack, capsys)
    assert code == 1
    assert "record at position 5 lies beyond the chain head" in out


def test_two_swapped_records_are_named_out_of_order(stack, log, capsys):
    fill(log, 6)
    two, three = raw(stack, 2), raw(stack, 3)
    put_raw(stack, {**three, "sk": 2})
    put_raw(stack, {**two, "sk": 3})
    code, out = verify_cli(stack, capsys)
    assert code == 1
    assert "BROKEN: record(s) 2, 3 out of order" in out


def test_records_cut_off_the_end_are_named_truncated(stack, log, capsys):
    fill(log, 6)
    delete_raw(stack, 5)
    delete_raw(stack, 6)
    code, out = verify_cli(stack, capsys)
    assert code == 1
    assert "BROKEN: record(s) 5, 6 cut off the end" in out


def test_truncation_with_the_head_rewound_is_found_by_the_anchor(stack, log, capsys):
    fill(log, 6)
    anchor(stack)
    delete_raw(stack, 5)
    delete_raw(stack, 6)
    put_raw(stack, {**raw(stack, 0), "last_sequence": 4, "last_hash": raw(stack, 4)["hash"]})
    code, out = verify_cli(stack, capsys)
    assert code == 1
    assert "BROKEN: record 6 does not match its anchor" in out
    # Without the anchors the table alone looks intact: that is what the anchor is for.
    code, out = main_without_anchors(stack, capsys)
    assert code == 0 and "records cut off the end go unseen" in out


def main_without_anchors(stack, capsys) -> tuple[int, str]:
    code = main(
        [
            "audit",
            "verify",
            "--table",
            stack.ref("AuditTable"),
            "--key-arn",
            stack.arn("DataKey"),
            *keystore_args(stack),
            "--no-record",
        ]
    )
    return code, capsys.readouterr().out


def test_a_chain_rehashed_from_one_record_on_is_found_by_the_anchor(stack, log, capsys):
    fill(log, 6)
    anchor(stack)
    rewrite_from(stack, log, 3, username="somebody else")
    assert main_without_anchors(stack, capsys)[0] == 0  # self-consistent again
    code, out = verify_cli(stack, capsys)
    assert code == 1
    assert "record 6 does not match its anchor" in out


def test_later_records_after_an_anchor_verify(stack, log, capsys):
    fill(log, 3)
    anchor(stack)
    fill(log, 3)
    anchor(stack, T0 + timedelta(minutes=5))
    code, out = verify_cli(stack, capsys)
    assert code == 0, out


def test_a_forged_anchor_object_is_reported(stack, log, capsys):
    fill(log, 2)
    anchor(stack)
    stack.client("s3").put_object(
        Bucket=stack.ref("AuditAnchorBucket"), Key=anchor_key(9), Body=b"{}", ChecksumAlgorithm="SHA256"
    )
    code, out = verify_cli(stack, capsys)
    assert code == 1 and "the audit anchors cannot be read" in out


def test_a_range_checks_only_its_records(stack, log, capsys):
    fill(log, 8)
    put_raw(stack, {**raw(stack, 7), "username": "x"})
    code, out = verify_cli(stack, capsys, "--from", "2", "--to", "5")
    assert code == 0 and "4 record(s) checked, sequences 2 .. 5" in out
    code, out = verify_cli(stack, capsys, "--from", "6")
    assert code == 1 and "record 7 was altered" in out


def test_a_range_names_a_missing_record_at_its_end(stack, log, capsys):
    fill(log, 8)
    delete_raw(stack, 5)
    code, out = verify_cli(stack, capsys, "--from", "2", "--to", "5")
    assert code == 1 and "record(s) 5 missing" in out


@pytest.mark.parametrize(
    ("extra", "field"), [(["--from", "0"], "from"), (["--from", "5", "--to", "2"], "to")]
)
def test_a_bad_range_is_refused(stack, log, capsys, extra, field):
    fill(log, 2)
    code, out = verify_cli(stack, capsys, *extra)
    assert code == 2 and out.startswith(f"{field}:")


def test_the_verification_is_recorded_in_the_trail(stack, log, capsys):
    fill(log, 2)
    where = ["--table", stack.ref("AuditTable"), "--key-arn", stack.arn("DataKey"), *keystore_args(stack)]
    code = main(["audit", "verify", *where])
    assert code == 0
    last = log.chain()[-1]
    assert last.action == "audit_verify" and dict(last.detail) == {"intact": "yes", "checked": "2"}
    assert last.user_agent == "clinictext-cli" and last.user_id.startswith("cli:")
    capsys.readouterr()


def anchor_versions(stack, sequence: int) -> list[dict]:
    s3 = stack.client("s3")
    listed = s3.list_object_versions(Bucket=stack.ref("AuditAnchorBucket"), Prefix=anchor_key(sequence))
    return listed.get("Versions", [])


def anchor_body(stack, sequence: int) -> bytes:
    s3 = stack.client("s3")
    return s3.get_object(Bucket=stack.ref("AuditAnchorBucket"), Key=anchor_key(sequence))["Body"].read()


def findings(caplog) -> list[tuple[str, int, int]]:
    return [(r.finding, r.sequence, r.anchored_sequence) for r in caplog.records if hasattr(r, "finding")]


def test_a_sweep_with_the_head_unmoved_writes_no_new_anchor_version(stack, log):
    fill(log, 3)
    assert anchor(stack)["anchored"] == 3
    assert anchor(stack, T0 + timedelta(minutes=5))["anchored"] is None  # nothing new to anchor
    assert len(anchor_versions(stack, 3)) == 1


def test_an_anchor_is_never_overwritten_and_a_head_that_differs_from_it_is_a_finding(
    stack, log, capsys, caplog
):
    caplog.set_level(logging.INFO)
    fill(log, 6)
    anchor(stack)
    original = anchor_body(stack, 6)
    # Someone with table access cuts records 5 and 6 off, rewinds the head, and the trail grows again:
    # sequence 6 comes back with another hash.
    delete_raw(stack, 5)
    delete_raw(stack, 6)
    put_raw(stack, {**raw(stack, 0), "last_sequence": 4, "last_hash": raw(stack, 4)["hash"]})
    capsys.readouterr()
    caplog.clear()
    assert anchor(stack, T0 + timedelta(minutes=5))["anchored"] == 4  # a new key: written
    assert "AuditAnchorConflict" in capsys.readouterr().out  # the metric
    assert findings(caplog) == [("head_behind_anchor", 4, 6)]  # and the log line
    caplog.clear()
    for n in (10, 11):
        log.append(event(n, username="somebody else"))
    assert log.head().sequence == 6 and f'"{log.head().hash}"' not in original.decode()
    assert anchor(stack, T0 + timedelta(minutes=10))["anchored"] is None  # refused: never overwritten
    out = capsys.readouterr().out
    assert "AuditAnchorConflict" in out
    assert findings(caplog) == [("head_differs_from_anchor", 6, 6)]
    logged = out + " ".join(str(vars(r)) for r in caplog.records)
    assert "somebody else" not in logged and CONVERSATION not in logged and "203.0.113.7" not in logged
    assert len(anchor_versions(stack, 6)) == 1 and anchor_body(stack, 6) == original
    code, out = verify_cli(stack, capsys)
    assert code == 1 and "record 6 does not match its anchor" in out
