"""The audit log, built once per container."""

from __future__ import annotations

from shared.audit.service import Anchorer, AuditReader, Verifier
from shared.audit.settings import AuditSettings
from shared.audit.store import DynamoAuditLog, S3AuditAnchors
from shared.core.clock import SystemClock
from shared.crypto.wiring import cipher, cipher_for_key
from shared.runtime import aws
from shared.runtime.observability import MetricsCounter
from shared.runtime.wiring import cached


@cached
def audit_settings() -> AuditSettings:
    return AuditSettings.from_env()  # read from the environment


@cached
def audit_log() -> DynamoAuditLog:
    return DynamoAuditLog(
        aws.table(audit_settings().audit_table), cipher(), SystemClock(), counter=MetricsCounter()
    )


@cached
def audit_anchors() -> S3AuditAnchors:
    bucket = audit_settings().audit_anchor_bucket
    if not bucket:
        raise RuntimeError("AUDIT_ANCHOR_BUCKET is not set (template.yaml gives it to the inbox sweep)")
    return S3AuditAnchors(aws.client("s3"), bucket)


def audit_anchorer() -> Anchorer:
    return Anchorer(audit_log(), audit_anchors())


def audit_verifier() -> Verifier:
    anchored = audit_settings().audit_anchor_bucket is not None
    return Verifier(audit_log(), anchors=audit_anchors() if anchored else None)


def audit_reader() -> AuditReader:
    return AuditReader(audit_log())


def operator_verifier(
    *, table: str, data_key_arn: str, anchor_bucket: str | None, keystore_table: str, branch_key_id: str
) -> Verifier:
    """``clinictext audit verify``: the trail named outright (no function environment), read with the
    caller's own AWS credentials and endpoint."""
    cipher = cipher_for_key(data_key_arn, phi_keystore_table=keystore_table, phi_branch_key_id=branch_key_id)
    log = DynamoAuditLog(aws.table(table), cipher, SystemClock())
    anchors = S3AuditAnchors(aws.client("s3"), anchor_bucket) if anchor_bucket else None
    return Verifier(log, anchors=anchors)
