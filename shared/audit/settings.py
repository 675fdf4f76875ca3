"""Where the audit trail lives (the template's AuditTable, as AUDIT_TABLE)."""

from __future__ import annotations

from pydantic import Field

from shared.runtime.settings import EnvSettings


class AuditSettings(EnvSettings):
    audit_table: str = Field(min_length=3, max_length=255)
