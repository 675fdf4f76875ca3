"""PHI protection: envelope encryption of record payloads and a keyed blind index for phone numbers.

* :class:`KmsEnvelopeCipher` encrypts a record's PHI fields as one JSON payload with the AWS Encryption
  SDK (through Powertools data masking) under the stack's KMS key, with a local data-key cache. The
  encryption context names the record (``clinictext:record = consent#<hmac>``, ``message#<id>`` ...),
  so a ciphertext copied onto another record fails to decrypt.
* :class:`KmsHmacBlindIndex` turns an E.164 number into ``HMAC-SHA256(key, number)`` computed by KMS
  (``GenerateMac`` on an HMAC_256 key). Tables are keyed by that value; the number itself is never
  stored in clear. Results are cached in memory for the life of the Lambda container.

No cryptography is implemented here: KMS and the Encryption SDK do all of it.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from typing import Any, Protocol

from shared.errors import IntegrityError

CONTEXT_KEY = "clinictext:record"
PURPOSE_KEY = "clinictext:purpose"


class PhiCipher(Protocol):
    """Encrypts and decrypts the PHI payload of one record, bound to that record's reference."""

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str: ...

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]: ...


class BlindIndex(Protocol):
    """Deterministic keyed hash of a phone number, used wherever a table needs to find a number."""

    def phone(self, e164: str) -> str: ...


class KmsEnvelopeCipher:
    """Envelope encryption with the AWS Encryption SDK via Powertools ``DataMasking``.

    The data-key cache (``local_cache_capacity``/``max_cache_age_seconds``/``max_messages_encrypted``)
    keeps KMS calls down: decrypting the same record again, or encrypting several payloads for the same
    record, reuses a cached data key until it ages out.
    """

    def __init__(
        self,
        key_arn: str,
        *,
        cache_capacity: int = 1000,
        max_cache_age_seconds: float = 300.0,
        max_messages_encrypted: int = 200,
    ) -> None:
        # Imported lazily: the Encryption SDK is heavy and only functions touching PHI need it.
        from aws_lambda_powertools.utilities.data_masking import DataMasking
        from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import (
            AWSEncryptionSDKProvider,
        )

        provider = AWSEncryptionSDKProvider(
            keys=[key_arn],
            local_cache_capacity=cache_capacity,
            max_cache_age_seconds=float(max_cache_age_seconds),
            max_messages_encrypted=max_messages_encrypted,
        )
        self._masker = DataMasking(provider=provider)

    @staticmethod
    def _context(record_ref: str) -> dict[str, str]:
        if not record_ref:
            raise ValueError("record_ref is required to bind the ciphertext to its record")
        return {CONTEXT_KEY: record_ref, PURPOSE_KEY: "phi"}

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str:
        result = self._masker.encrypt(payload, None, **self._context(record_ref))
        return str(result)

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.data_masking.exceptions import (
            DataMaskingContextMismatchError,
            DataMaskingDecryptValueError,
        )

        try:
            value = self._masker.decrypt(ciphertext, None, **self._context(record_ref))
        except (DataMaskingContextMismatchError, DataMaskingDecryptValueError) as exc:
            raise IntegrityError(f"ciphertext does not belong to record {record_ref!r}") from exc
        if not isinstance(value, dict):
            raise IntegrityError(f"ciphertext of record {record_ref!r} does not hold a payload object")
        return value


class KmsHmacBlindIndex:
    """``HMAC-SHA256`` of the E.164 number, computed by KMS ``GenerateMac`` and cached per container."""

    def __init__(self, kms_client: Any, key_arn: str, *, cache_size: int = 10_000) -> None:
        self._kms = kms_client
        self._key_arn = key_arn
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    def phone(self, e164: str) -> str:
        if not e164.startswith("+"):
            raise ValueError("blind index takes an E.164 number")
        cached = self._cache.get(e164)
        if cached is not None:
            self._cache.move_to_end(e164)
            return cached
        response = self._kms.generate_mac(
            KeyId=self._key_arn, MacAlgorithm="HMAC_SHA_256", Message=b"phone:" + e164.encode()
        )
        value = "ph_" + base64.urlsafe_b64encode(response["Mac"]).decode().rstrip("=")
        self._cache[e164] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return value
