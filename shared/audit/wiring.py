"""The audit log, built once per container."""

from __future__ import annotations

from shared.audit.service import AuditReader, Verifier
from shared.audit.settings import AuditSettings
from shared.audit.store import DynamoAuditLog
from shared.core.clock import SystemClock
from shared.crypto.wiring import cipher
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


def audit_verifier() -> Verifier:
    return Verifier(audit_log())


def audit_reader() -> AuditReader:
    return AuditReader(audit_log())
