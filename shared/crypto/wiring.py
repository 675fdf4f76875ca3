"""The KMS cipher, blind index and fingerprint, built once per container."""

from __future__ import annotations

from shared.crypto.kms import KmsDerivedFingerprint, KmsEnvelopeCipher, KmsHmacBlindIndex
from shared.crypto.settings import CipherSettings
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings


@cached
def cipher() -> KmsEnvelopeCipher:
    return cipher_for_key(core_settings().data_key_arn)


def cipher_for_key(data_key_arn: str) -> KmsEnvelopeCipher:
    """The cipher under a key named outright (an operator's command, which has no function environment)."""
    settings = CipherSettings()
    return KmsEnvelopeCipher(
        data_key_arn,
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
