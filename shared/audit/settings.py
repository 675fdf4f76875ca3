"""Where the audit trail lives (the template's AuditTable, as AUDIT_TABLE) and where its head is anchored
(AuditAnchorBucket, as AUDIT_ANCHOR_BUCKET; only the inbox sweep writes anchors)."""

from __future__ import annotations

from pydantic import Field

from shared.runtime.settings import EnvSettings


class AuditSettings(EnvSettings):
    audit_table: str = Field(min_length=3, max_length=255)
    audit_anchor_bucket: str | None = Field(default=None, min_length=3, max_length=63)
