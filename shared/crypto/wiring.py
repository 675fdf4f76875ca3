"""The KMS cipher, blind index and fingerprint, built once per container.

The cipher is handed out as a :class:`LazyCipher`: services that hold it (the consent ledger, the message
log, the conversation store, ...) are built on a function's first invocation, but the Encryption SDK (and
``cryptography`` under it) is imported and its KMS client made only when a record's PHI is first encrypted
or decrypted (issue 11, cold start): a delivery receipt, a message lookup without bodies or an empty inbox
sweep never load it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from shared.crypto.kms import (
    BranchKeyStore,
    KmsDerivedFingerprint,
    KmsDerivedKey,
    KmsEnvelopeCipher,
    KmsHmacBlindIndex,
)
from shared.crypto.kms import create_branch_key as create_branch_key_in
from shared.crypto.ports import PhiCipher
from shared.crypto.settings import CipherSettings
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings


class LazyCipher:
    """A :class:`~shared.crypto.ports.PhiCipher` that builds the real one on its first encrypt or decrypt
    (once, also under threads) and hands every call to it."""

    def __init__(self, build: Callable[[], PhiCipher]) -> None:
        self._build = build
        self._cipher: PhiCipher | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._cipher is not None

    def _real(self) -> PhiCipher:
        if self._cipher is None:
            with self._lock:
                if self._cipher is None:
                    self._cipher = self._build()
        return self._cipher

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str:
        return self._real().encrypt(record_ref, payload)

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
        return self._real().decrypt(record_ref, ciphertext)


@cached
def cipher() -> LazyCipher:
    """The container's PHI cipher. Its settings are read and checked now (a missing key or a bad cache
    setting still fails where the service is built); the Encryption SDK is loaded on first use."""
    CipherSettings.from_env()
    key_arn = core_settings().data_key_arn
    if not key_arn:
        raise ValueError("key_arn is required: the KMS key that protects PHI (DATA_KEY_ARN)")
    return LazyCipher(lambda: cipher_for_key(key_arn))


def cipher_for_key(data_key_arn: str, **keystore: str) -> KmsEnvelopeCipher:
    """The cipher under a key named outright (an operator's command, which has no function environment:
    it names the keystore too, as ``phi_keystore_table=`` and ``phi_branch_key_id=``)."""
    settings = CipherSettings.from_env(**keystore)
    return KmsEnvelopeCipher(
        data_key_arn,
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


@cached
def secure_link_key() -> KmsDerivedKey:
    """Keys the hash a secure-message link's token is stored as (never the token itself)."""
    return KmsDerivedKey(
        aws.client("kms"), core_settings().blind_index_key_arn, b"clinictext:derive-key:secure-link-token:v1"
    )


@cached
def secure_answer_key() -> KmsDerivedKey:
    """Keys the hash a secure-message answer is taken once by (link, session and text; never the text)."""
    return KmsDerivedKey(
        aws.client("kms"), core_settings().blind_index_key_arn, b"clinictext:derive-key:secure-answer:v1"
    )


@cached
def secure_session_key() -> KmsDerivedKey:
    """Signs (HS256) the short session a patient gets after passing a secure message's date-of-birth check."""
    return KmsDerivedKey(
        aws.client("kms"), core_settings().blind_index_key_arn, b"clinictext:derive-key:secure-session:v1"
    )
