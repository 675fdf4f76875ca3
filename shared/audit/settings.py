"""Where the audit trail lives (the template's AuditTable, as AUDIT_TABLE)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuditSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    audit_table: str = Field(min_length=3, max_length=255)
