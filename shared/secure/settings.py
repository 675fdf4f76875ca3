"""Secure messages' settings, from the environment template.yaml declares."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from shared.runtime.settings import CoreSettings


class SecureSettings(CoreSettings):
    conversations_table: str
    audit_table: str
    # Where the patient page answers (the link is <url>#<token>): the staff app's origin /s, through
    # CloudFront, unless the template's SecurePageUrl says otherwise.
    secure_page_url: str = Field(min_length=1, max_length=200, pattern=r"^https?://[^\s#?]+$")
    secure_link_ttl_days: int = Field(default=7, ge=1, le=30)

    @property
    def ttl(self) -> timedelta:
        return timedelta(days=self.secure_link_ttl_days)
