"""PHI protection: envelope encryption of record payloads and a keyed blind index for phone numbers.

* :class:`KmsEnvelopeCipher` encrypts a record's PHI fields as one JSON payload with the AWS Encryption
  SDK under the stack's KMS key, through a caching materials manager, so one data key serves many texts
  and a container makes about one KMS request per cache window for each direction (see below).
* :class:`KmsHmacBlindIndex` turns an E.164 number into ``HMAC-SHA256(key, number)`` computed by KMS
  (``GenerateMac`` on an HMAC_256 key). Tables are keyed by that value; the number itself is never
  stored in clear. Results are cached in memory for the life of the Lambda container.
* :class:`KmsDerivedFingerprint` keys the change-detection hash of an appointment intake: HMAC-SHA256
  computed in the container (Python's ``hmac``) under a key KMS derives once per container.

No cryptography is implemented here: KMS, the Encryption SDK and Python's ``hmac`` do all of it.

Ciphertext formats (both are base64 of an Encryption SDK message under the same KMS key):

* **Format 2 (written now).** The encryption context is constant per record kind
  (``clinictext:purpose = phi``, ``clinictext:kind = message``, ``clinictext:format = 2``), so the
  caching materials manager reuses a data key across records and every ciphertext written with it
  shares one encrypted data key, which a reader decrypts once per cache window. The record reference
  travels inside the encrypted, authenticated payload (``{"record": ref, "payload": {...}}``) and is
  compared on decrypt: a ciphertext copied onto another record still raises :class:`IntegrityError`.
* **Format 1 (read only).** Written by Powertools data masking before format 2: the encryption context
  names the record (``clinictext:record = message#<id>``), so every ciphertext has its own data key.
  It is checked against that context, as before; records are rewritten in format 2 when next written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections import OrderedDict
from typing import Any

from shared.core.errors import IntegrityError

CONTEXT_KEY = "clinictext:record"  # format 1 only: the record, in the encryption context
PURPOSE_KEY = "clinictext:purpose"
KIND_KEY = "clinictext:kind"
FORMAT_KEY = "clinictext:format"
FORMAT = "2"
# Added to the encryption context by the Encryption SDK itself for signed algorithm suites.
_SIGNING_KEY_CONTEXT = "aws-crypto-public-key"

# Data-key cache defaults (CoreSettings carries the deployed values). A data key is reused for at most
# MAX_MESSAGES_PER_DATA_KEY payloads and MAX_CACHE_AGE_SECONDS, whichever comes first, so a container
# that writes 1,000 texts inside one window asks KMS for one data key, and one that reads 1,000
# payloads written under one data key asks KMS to decrypt it once.
CACHE_CAPACITY = 256
MAX_CACHE_AGE_SECONDS = 600.0
MAX_MESSAGES_PER_DATA_KEY = 4096


def record_kind(record_ref: str) -> str:
    """``message`` for ``message#<id>``: the part of a record reference that names its kind."""
    kind, separator, record_id = record_ref.partition("#")
    if not (kind and separator and record_id):
        raise ValueError(
            f"record_ref {record_ref!r} is not '<kind>#<id>'; it binds a ciphertext to its record"
        )
    return kind


def _context(kind: str) -> dict[str, str]:
    return {PURPOSE_KEY: "phi", KIND_KEY: kind, FORMAT_KEY: FORMAT}


def _legacy_context(record_ref: str) -> dict[str, str]:
    return {CONTEXT_KEY: record_ref, PURPOSE_KEY: "phi"}


class KmsEnvelopeCipher:
    """Envelope encryption with the AWS Encryption SDK and a local data-key cache, for both directions.

    Encrypting reuses a cached data key per record kind for up to ``max_messages_encrypted`` payloads
    or ``max_cache_age_seconds``; decrypting reuses the plaintext data key of an encrypted data key it
    has decrypted before, for ``max_cache_age_seconds``. ``cache_capacity`` bounds the entries held
    (one per kind written, one per distinct data key read).
    """

    def __init__(
        self,
        key_arn: str,
        *,
        cache_capacity: int = CACHE_CAPACITY,
        max_cache_age_seconds: float = MAX_CACHE_AGE_SECONDS,
        max_messages_encrypted: int = MAX_MESSAGES_PER_DATA_KEY,
        botocore_session: Any = None,
    ) -> None:
        """``botocore_session``: the container's session (``shared.runtime.aws``), so the SDK's KMS
        client reuses its parsed models and credentials instead of building its own session."""
        # Imported lazily: the Encryption SDK is heavy and only functions touching PHI need it.
        import botocore.session
        from aws_encryption_sdk import (
            CachingCryptoMaterialsManager,
            CommitmentPolicy,
            EncryptionSDKClient,
            LocalCryptoMaterialsCache,
            StrictAwsKmsMasterKeyProvider,
        )

        if not key_arn:
            raise ValueError("key_arn is required: the KMS key that protects PHI (DATA_KEY_ARN)")
        self._client = EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
            max_encrypted_data_keys=1,  # every ciphertext here has exactly one: refuse crafted ones
        )
        provider = StrictAwsKmsMasterKeyProvider(
            key_ids=[key_arn], botocore_session=botocore_session or botocore.session.Session()
        )
        self._materials = CachingCryptoMaterialsManager(
            master_key_provider=provider,
            cache=LocalCryptoMaterialsCache(cache_capacity),
            max_age=float(max_cache_age_seconds),
            max_messages_encrypted=max_messages_encrypted,
        )

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str:
        kind = record_kind(record_ref)
        document = json.dumps({"record": record_ref, "payload": payload}, ensure_ascii=False)
        ciphertext, _header = self._client.encrypt(
            source=document.encode("utf-8"),
            materials_manager=self._materials,
            encryption_context=_context(kind),
        )
        return base64.b64encode(ciphertext).decode("ascii")

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
        from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError, DecryptKeyError
        from cryptography.exceptions import InvalidSignature, InvalidTag

        kind = record_kind(record_ref)
        wrong = f"ciphertext does not belong to record {record_ref!r}"
        try:
            message = base64.b64decode(ciphertext, validate=True)
            plaintext, header = self._client.decrypt(source=message, materials_manager=self._materials)
        except DecryptKeyError:
            raise  # KMS refused or failed (throttling, permissions): not a verdict on the ciphertext
        except (binascii.Error, ValueError, TypeError, AWSEncryptionSDKClientError) as exc:
            raise IntegrityError(f"{wrong}: it is not a ClinicText ciphertext or was altered") from exc
        except (InvalidSignature, InvalidTag) as exc:
            raise IntegrityError(f"{wrong}: it was altered") from exc
        context = {k: v for k, v in header.encryption_context.items() if k != _SIGNING_KEY_CONTEXT}
        try:
            document = json.loads(plaintext.decode("utf-8"))
        except ValueError as exc:
            raise IntegrityError(f"{wrong}: it does not hold a payload object") from exc
        if context == _context(kind):
            # The context is shared by every record of this kind: the binding is the authenticated ref.
            if not isinstance(document, dict) or document.get("record") != record_ref:
                raise IntegrityError(wrong)
            payload = document.get("payload")
        elif context == _legacy_context(record_ref):
            payload = document  # format 1: the encryption context itself names the record
        else:
            raise IntegrityError(wrong)
        if not isinstance(payload, dict):
            raise IntegrityError(f"ciphertext of record {record_ref!r} does not hold a payload object")
        return payload


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


class KmsFingerprint:
    """Format 1 (read only): HMAC-SHA256 by KMS ``GenerateMac`` under the blind-index key, one request each.

    Kept to recognise the ``content_hash`` of appointments stored before format 2, so re-sending one of them
    after the upgrade still answers "unchanged".
    """

    def __init__(self, kms_client: Any, key_arn: str) -> None:
        self._kms = kms_client
        self._key_arn = key_arn

    def of(self, data: bytes) -> str:
        # GenerateMac takes at most 4 KiB: MAC a SHA-256 of the canonical bytes instead.
        digest = hashlib.sha256(data).digest()
        response = self._kms.generate_mac(
            KeyId=self._key_arn, MacAlgorithm="HMAC_SHA_256", Message=b"appointment-content:" + digest
        )
        return bytes(response["Mac"]).hex()

    def matches(self, stored: str | None, data: bytes) -> bool:
        return stored is not None and hmac.compare_digest(stored, self.of(data))


class KmsDerivedFingerprint:
    """Format 2: ``HMAC-SHA256(k, data)`` computed in the container, ``k`` derived by KMS once per container.

    ``k = GenerateMac(blind-index key, DERIVATION_LABEL)``: one KMS request on first use, then none (an
    ingest of hundreds of appointments used to make one ``GenerateMac`` each). The label is a message no
    other use of the key sends (blind indexes MAC ``phone:...``, format 1 ``appointment-content:...``), so
    ``k`` is independent of every value stored. ``k`` lives only in memory, like the Encryption SDK's cached
    data keys. Values carry the prefix ``f2:``; a stored value without it is format 1 and is checked with
    :class:`KmsFingerprint` (one request, only for an appointment stored before the upgrade and sent again).
    """

    PREFIX = "f2:"
    DERIVATION_LABEL = b"clinictext:derive-key:appointment-content:v2"

    def __init__(self, kms_client: Any, key_arn: str) -> None:
        self._kms = kms_client
        self._key_arn = key_arn
        self._key: bytes | None = None
        self._legacy = KmsFingerprint(kms_client, key_arn)

    def _derived_key(self) -> bytes:
        if self._key is None:
            response = self._kms.generate_mac(
                KeyId=self._key_arn, MacAlgorithm="HMAC_SHA_256", Message=self.DERIVATION_LABEL
            )
            self._key = bytes(response["Mac"])
        return self._key

    def of(self, data: bytes) -> str:
        return self.PREFIX + hmac.new(self._derived_key(), data, hashlib.sha256).hexdigest()

    def matches(self, stored: str | None, data: bytes) -> bool:
        if not stored:
            return False
        if stored.startswith(self.PREFIX):
            return hmac.compare_digest(stored, self.of(data))
        return self._legacy.matches(stored, data)


class KmsDerivedKey:
    """A 32-byte secret ``GenerateMac(blind-index key, label)``, asked of KMS once per container.

    For keyed hashes and signatures computed in the container (Python's ``hmac``, PyJWT's HS256), each use
    with its own ``label`` so the keys are independent of each other and of every value stored (blind
    indexes MAC ``phone:...``, fingerprints ``appointment-content:...`` and their own label). The key lives
    only in memory.
    """

    def __init__(self, kms_client: Any, key_arn: str, label: bytes) -> None:
        if not label.startswith(b"clinictext:derive-key:"):
            raise ValueError("a derivation label starts with clinictext:derive-key:")
        self._kms = kms_client
        self._key_arn = key_arn
        self._label = label
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            response = self._kms.generate_mac(
                KeyId=self._key_arn, MacAlgorithm="HMAC_SHA_256", Message=self._label
            )
            self._key = bytes(response["Mac"])
        return self._key
