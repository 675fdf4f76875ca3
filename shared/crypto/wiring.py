"""The KMS cipher, blind index and fingerprint, built once per container."""

from __future__ import annotations

from shared.crypto.kms import KmsDerivedFingerprint, KmsDerivedKey, KmsEnvelopeCipher, KmsHmacBlindIndex
from shared.crypto.settings import CipherSettings
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings


@cached
def cipher() -> KmsEnvelopeCipher:
    settings = CipherSettings()
    return KmsEnvelopeCipher(
        core_settings().data_key_arn,
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


@cached
def secure_link_key() -> KmsDerivedKey:
    """Keys the hash a secure-message link's token is stored as (never the token itself)."""
    return KmsDerivedKey(
        aws.client("kms"), core_settings().blind_index_key_arn, b"clinictext:derive-key:secure-link-token:v1"
    )


@cached
def secure_session_key() -> KmsDerivedKey:
    """Signs (HS256) the short session a patient gets after passing a secure message's date-of-birth check."""
    return KmsDerivedKey(
        aws.client("kms"), core_settings().blind_index_key_arn, b"clinictext:derive-key:secure-session:v1"
    )
