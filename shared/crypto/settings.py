"""Settings of the PHI cipher: its data-key cache, read from the environment the template declares."""

from __future__ import annotations

from pydantic import Field

from shared.crypto import kms
from shared.runtime.settings import EnvSettings


class CipherSettings(EnvSettings):
    """How long and how often one data key is reused (same variables as before: PHI_CACHE_*)."""

    # PHI data-key cache (shared.crypto.kms): one data key serves up to N payloads or this many seconds, so a
    # container that writes or reads 1,000 texts in one window makes one KMS request for each direction.
    phi_cache_capacity: int = Field(default=kms.CACHE_CAPACITY, ge=1, le=100_000)
    phi_cache_max_age_seconds: float = Field(default=kms.MAX_CACHE_AGE_SECONDS, gt=0.0, le=3600.0)
    phi_cache_max_messages_per_key: int = Field(default=kms.MAX_MESSAGES_PER_DATA_KEY, ge=1, le=2**32)
