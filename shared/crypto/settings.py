"""Settings of the PHI cipher: its data-key cache, read from the environment the template declares."""

from __future__ import annotations

from pydantic import Field

from shared.crypto import kms
from shared.runtime.settings import EnvSettings


class CipherSettings(EnvSettings):
    """How long and how often key material is reused (PHI_CACHE_*), and where the branch key lives."""

    # PHI key caches (shared.crypto.kms): the branch key is reused for this many seconds, so a container
    # that reads and writes 1,000 texts in one window makes one KMS request; N bounds format-2 data keys.
    phi_cache_capacity: int = Field(default=kms.CACHE_CAPACITY, ge=1, le=100_000)
    phi_cache_max_age_seconds: float = Field(default=kms.MAX_CACHE_AGE_SECONDS, gt=0.0, le=3600.0)
    phi_cache_max_messages_per_key: int = Field(default=kms.MAX_MESSAGES_PER_DATA_KEY, ge=1, le=2**32)
    # Format 3 (hierarchical keyring): the keystore table and the branch key's id, both from the template.
    # Required: a function that touches PHI and lacks them fails at its first use, never writes format 2.
    phi_keystore_table: str = Field(min_length=3, max_length=255)
    phi_branch_key_id: str = Field(min_length=1, max_length=128)
