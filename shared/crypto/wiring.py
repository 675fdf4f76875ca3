"""The KMS cipher, blind index and fingerprint, built once per container."""

from __future__ import annotations

from typing import Any

from shared.crypto.kms import (
    BranchKeyStore,
    KmsDerivedFingerprint,
    KmsEnvelopeCipher,
    KmsHmacBlindIndex,
)
from shared.crypto.kms import create_branch_key as create_branch_key_in
from shared.crypto.settings import CipherSettings
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings


@cached
def cipher() -> KmsEnvelopeCipher:
    settings = CipherSettings()
    return KmsEnvelopeCipher(
        core_settings().data_key_arn,
        keystore=BranchKeyStore(
            table=settings.phi_keystore_table,
            branch_key_id=settings.phi_branch_key_id,
            ddb_client=aws.client("dynamodb"),
            kms_client=aws.client("kms"),
        ),
        cache_capacity=settings.phi_cache_capacity,
        max_cache_age_seconds=settings.phi_cache_max_age_seconds,
        max_messages_encrypted=settings.phi_cache_max_messages_per_key,
        botocore_session=aws.botocore_session(),
    )


@cached
def blind_index() -> KmsHmacBlindIndex:
    return KmsHmacBlindIndex(aws.client("kms"), core_settings().blind_index_key_arn)


@cached
def fingerprint() -> KmsDerivedFingerprint:
    """Keyed hash of an appointment intake, under a key derived once per container (blind-index key)."""
    return KmsDerivedFingerprint(aws.client("kms"), core_settings().blind_index_key_arn)


def create_branch_key(
    *, table: str, branch_key_id: str, key_arn: str, ddb_client: Any, kms_client: Any
) -> bool:
    """Create the PHI branch key once: ``clinictext keys init`` after a deploy, and the local stack.

    Run with the deployer's credentials (no function may write the keystore). False when it exists.
    """
    store = BranchKeyStore(
        table=table, branch_key_id=branch_key_id, ddb_client=ddb_client, kms_client=kms_client
    )
    return create_branch_key_in(store, key_arn)
