"""PHI protection: envelope encryption of record payloads and a keyed blind index for phone numbers.

* :class:`KmsEnvelopeCipher` encrypts a record's PHI fields as one JSON payload with the AWS Encryption
  SDK under the stack's KMS key, through the hierarchical keyring, so a container makes one KMS request
  per cache window for reading and writing together, whatever the volume (see below).
* :class:`KmsHmacBlindIndex` turns an E.164 number into ``HMAC-SHA256(key, number)`` computed by KMS
  (``GenerateMac`` on an HMAC_256 key). Tables are keyed by that value; the number itself is never
  stored in clear. Results are cached in memory for the life of the Lambda container.
* :class:`KmsDerivedFingerprint` keys the change-detection hash of an appointment intake: HMAC-SHA256
  computed in the container (Python's ``hmac``) under a key KMS derives once per container.

No cryptography is implemented here: KMS, the Encryption SDK and Python's ``hmac`` do all of it.

Ciphertext formats (all are Encryption SDK messages under the same KMS key; base64 text):

* **Format 3 (written now), ``3:<base64>``.** The AWS KMS *hierarchical keyring* of the AWS Cryptographic
  Material Providers library (MPL). A branch key lives in the keystore table (``PhiKeyStoreTable``),
  wrapped by the KMS data key; a container asks KMS to unwrap it once per cache window
  (``max_cache_age_seconds``) for writing and reading records of the active version (the keyring's two
  cache entries are filled from one unwrap: :mod:`shared.crypto.branch_cache`), and once more for each
  older version it reads, whoever wrote the records: appointments ingested over days by many ingest
  containers are all read under the one branch key. Every message gets its own data key, derived locally
  from the branch key, so the encryption context is free to name the record: ``clinictext:record = <ref>``,
  ``clinictext:purpose = phi``, ``clinictext:format = 3``. The context is authenticated (bound into the
  data key's wrapping and the message header) and compared on decrypt: a ciphertext copied onto another
  record raises :class:`IntegrityError`. The ``3:`` prefix only routes the text to the right reader
  (base64 never contains ``:``); the authenticated context carries the format too.
* **Format 2 (read only).** The encryption context is constant per record kind
  (``clinictext:purpose = phi``, ``clinictext:kind = message``, ``clinictext:format = 2``), read through a
  caching materials manager (one KMS Decrypt per distinct data key and window). The record reference
  travels inside the encrypted, authenticated payload (``{"record": ref, "payload": {...}}``) and is
  compared on decrypt.
* **Format 1 (read only).** Written by Powertools data masking before format 2: the encryption context
  names the record (``clinictext:record = message#<id>``), so every ciphertext has its own data key.

Records in formats 1 and 2 are rewritten in format 3 when next written. A cipher built without a keystore
(``keystore=None``) writes format 2: kept for the tests that prove format 2 stays readable; the wiring
always passes one.

The branch key is created once per stack by :func:`create_branch_key` (``clinictext keys init`` after a
deploy; the local stack does it when it provisions the template). No function may write the keystore.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from shared.core.errors import IntegrityError

CONTEXT_KEY = "clinictext:record"  # format 1 only: the record, in the encryption context
PURPOSE_KEY = "clinictext:purpose"
KIND_KEY = "clinictext:kind"
FORMAT_KEY = "clinictext:format"
FORMAT = "2"  # format 2 (read only; written only by a cipher without a keystore)
FORMAT_3 = "3"
FORMAT_3_PREFIX = "3:"
# The MPL's error types for a failed AWS call (KMS or DynamoDB): operational, never a verdict on a ciphertext.
_SERVICE_ERRORS = {"ComAmazonawsKms", "ComAmazonawsDynamodb"}
# The hierarchical keyring's cache partition: named, so SharedBranchKeyCache can name its entries.
KEYRING_PARTITION = "clinictext-phi"
# The context of the throwaway encryption that fetches the active branch key (never stored).
_WARM_CONTEXT = {PURPOSE_KEY: "cache-warm-up"}
# Added to the encryption context by the Encryption SDK itself for signed algorithm suites.
_SIGNING_KEY_CONTEXT = "aws-crypto-public-key"

# Data-key cache defaults (CoreSettings carries the deployed values). A data key is reused for at most
# MAX_MESSAGES_PER_DATA_KEY payloads and MAX_CACHE_AGE_SECONDS, whichever comes first, so a container
# that writes 1,000 texts inside one window asks KMS for one data key, and one that reads 1,000
# payloads written under one data key asks KMS to decrypt it once.
CACHE_CAPACITY = 256
MAX_CACHE_AGE_SECONDS = 600.0
MAX_MESSAGES_PER_DATA_KEY = 4096
# The MPL's default (storm-tracking) cache refreshes an entry in the 10 s before it expires, so the
# keyring's TTL must exceed that grace period: shorter cache ages are raised to this for format 3.
MIN_KEYRING_TTL_SECONDS = 15


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


def _record_context(record_ref: str) -> dict[str, str]:
    """Format 3: the record itself in the encryption context (free with the hierarchical keyring)."""
    return {PURPOSE_KEY: "phi", CONTEXT_KEY: record_ref, FORMAT_KEY: FORMAT_3}


def _is_service_failure(exc: BaseException) -> bool:
    """Whether an MPL error is (or wraps) a failed KMS or DynamoDB call rather than a bad ciphertext."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        error = pending.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        if type(error).__name__ in _SERVICE_ERRORS:
            return True
        pending.extend(getattr(error, "list", None) or [])
        pending.extend(error.args)  # the SDK wraps an MPL error as its first argument
        pending.extend(getattr(error, name, None) for name in ("KeyStore", "__cause__", "__context__"))
    return False


@dataclass(frozen=True)
class BranchKeyStore:
    """Where the PHI branch key lives: the keystore table and the branch key's id (both from the template).

    ``ddb_client`` and ``kms_client`` are boto3 clients from the container's session; the keystore reads
    the table with ``GetItem`` and asks KMS to ``Decrypt`` the branch key (never to write either).
    """

    table: str
    branch_key_id: str
    ddb_client: Any
    kms_client: Any

    def keystore(self, kms_key_arn: str) -> Any:
        from aws_cryptographic_material_providers.keystore import KeyStore
        from aws_cryptographic_material_providers.keystore.config import KeyStoreConfig
        from aws_cryptographic_material_providers.keystore.models import KMSConfigurationKmsKeyArn

        if not (self.table and self.branch_key_id):
            raise ValueError("the PHI keystore needs its table and branch key id (PHI_KEYSTORE_*)")
        return KeyStore(
            config=KeyStoreConfig(
                ddb_client=self.ddb_client,
                ddb_table_name=self.table,
                logical_key_store_name=self.table,
                kms_client=self.kms_client,
                kms_configuration=KMSConfigurationKmsKeyArn(kms_key_arn),
            )
        )


def create_branch_key(store: BranchKeyStore, kms_key_arn: str) -> bool:
    """Create the PHI branch key once (an operator's or the local stack's job). False if it exists.

    Uses the MPL's ``CreateKey`` (KMS ``GenerateDataKeyWithoutPlaintext`` and ``ReEncrypt``, one DynamoDB
    transaction that refuses to overwrite an existing key), with a fixed id so the template can name it.
    """
    from aws_cryptographic_material_providers.keystore.models import CreateKeyInput

    existing = store.ddb_client.get_item(
        TableName=store.table,
        Key={"branch-key-id": {"S": store.branch_key_id}, "type": {"S": "branch:ACTIVE"}},
        ConsistentRead=True,
    )
    if existing.get("Item"):
        return False
    store.keystore(kms_key_arn).create_key(
        input=CreateKeyInput(branch_key_identifier=store.branch_key_id, encryption_context={"purpose": "phi"})
    )
    return True


class KmsEnvelopeCipher:
    """Envelope encryption with the AWS Encryption SDK: format 3 through the hierarchical keyring.

    Writing (format 3) and reading format 3 unwrap the branch key through KMS once per
    ``max_cache_age_seconds`` (the keyring's cache TTL) for both directions together (plus once per
    older branch key version read), whatever the number of records or of containers that wrote them.
    Formats 1 and 2 are read through a caching materials manager that reuses the plaintext data key of
    an encrypted data key it has decrypted before, for ``max_cache_age_seconds``. ``cache_capacity``
    bounds the entries held in either cache.
    ``max_messages_encrypted`` only bounds format-2 writes (a cipher without a keystore).
    """

    def __init__(
        self,
        key_arn: str,
        *,
        keystore: BranchKeyStore | None = None,
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
        self._keyring: Any = None
        self._branch_cache: Any = None
        if keystore is not None:
            from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
            from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
            from aws_cryptographic_material_providers.mpl.models import (
                CacheTypeMultiThreaded,
                CacheTypeShared,
                CreateAwsKmsHierarchicalKeyringInput,
                CreateCryptographicMaterialsCacheInput,
                MultiThreadedCache,
            )

            from shared.crypto.branch_cache import SharedBranchKeyCache

            providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
            # One cache for both directions: the active branch key is also cached as its version, so a
            # container that reads and writes unwraps the branch key once per window (branch_cache.py).
            self._branch_cache = SharedBranchKeyCache(
                providers.create_cryptographic_materials_cache(
                    input=CreateCryptographicMaterialsCacheInput(
                        cache=CacheTypeMultiThreaded(
                            # two entries at least: the active key and its mirror (with one, the mirror
                            # pushed the active entry out and every read fetched it again)
                            MultiThreadedCache(
                                entry_capacity=max(2, cache_capacity), entry_pruning_tail_size=1
                            )
                        )
                    )
                ),
                partition_id=KEYRING_PARTITION,
                logical_key_store_name=keystore.table,
                branch_key_id=keystore.branch_key_id,
            )
            self._keyring = providers.create_aws_kms_hierarchical_keyring(
                input=CreateAwsKmsHierarchicalKeyringInput(
                    key_store=keystore.keystore(key_arn),
                    branch_key_id=keystore.branch_key_id,
                    ttl_seconds=max(MIN_KEYRING_TTL_SECONDS, int(max_cache_age_seconds)),
                    cache=CacheTypeShared(self._branch_cache),
                    partition_id=KEYRING_PARTITION,
                )
            )

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str:
        kind = record_kind(record_ref)
        if self._keyring is None:  # format 2: only a cipher built without a keystore writes it
            document = json.dumps({"record": record_ref, "payload": payload}, ensure_ascii=False)
            ciphertext, _header = self._client.encrypt(
                source=document.encode("utf-8"),
                materials_manager=self._materials,
                encryption_context=_context(kind),
            )
            return base64.b64encode(ciphertext).decode("ascii")
        ciphertext, _header = self._client.encrypt(
            source=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            keyring=self._keyring,
            encryption_context=_record_context(record_ref),
        )
        return FORMAT_3_PREFIX + base64.b64encode(ciphertext).decode("ascii")

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
        record_kind(record_ref)
        if ciphertext.startswith(FORMAT_3_PREFIX):
            return self._decrypt_format_3(record_ref, ciphertext[len(FORMAT_3_PREFIX) :])
        return self._decrypt_legacy(record_ref, ciphertext)

    def _fetch_active_branch_key(self) -> None:
        """Before a read in a window with nothing cached, fetch the active branch key (it is then cached
        as its version too), so reads and writes in the window share one KMS unwrap. A throwaway
        encryption does it: the keyring's own path, nothing stored. A container that only reads records
        of an older branch key version (after a rotation) pays one unwrap more per window for this.

        Best effort: whatever goes wrong here (KMS throttled, a missing or malformed active item) is left
        to the read itself, which raises it as its own, or may not need the active key at all (a record
        of an older version).

        Lambda runs one request at a time per container; where threads share a cipher (the local
        sandbox), two of them may both fetch at a window's start: the multi-threaded cache, unlike the
        MPL's storm-tracking one, does not hold the second back."""
        if self._branch_cache.holds_active():
            return
        with contextlib.suppress(Exception):  # the SDK's and the MPL's error types: the read decides
            self._client.encrypt(source=b"{}", keyring=self._keyring, encryption_context=_WARM_CONTEXT)

    def _decrypt_format_3(self, record_ref: str, text: str) -> dict[str, Any]:
        from cryptography.exceptions import InvalidSignature, InvalidTag

        wrong = f"ciphertext does not belong to record {record_ref!r}"
        if self._keyring is None:
            raise ValueError("a format-3 ciphertext needs the PHI keystore (PHI_KEYSTORE_TABLE)")
        try:
            message = base64.b64decode(text, validate=True)  # garbage costs no AWS request
            self._fetch_active_branch_key()
            plaintext, header = self._client.decrypt(source=message, keyring=self._keyring)
        except (InvalidSignature, InvalidTag) as exc:
            raise IntegrityError(f"{wrong}: it was altered") from exc
        except Exception as exc:  # the SDK's and the MPL's error types (the SDK wraps the MPL's)
            if _is_service_failure(exc):
                raise  # KMS or DynamoDB failed (throttling, permissions): not a verdict on the ciphertext
            raise IntegrityError(f"{wrong}: it is not a ClinicText ciphertext or was altered") from exc
        context = {k: v for k, v in header.encryption_context.items() if k != _SIGNING_KEY_CONTEXT}
        if context != _record_context(record_ref):
            raise IntegrityError(wrong)
        try:
            payload = json.loads(plaintext.decode("utf-8"))
        except ValueError as exc:
            raise IntegrityError(f"{wrong}: it does not hold a payload object") from exc
        if not isinstance(payload, dict):
            raise IntegrityError(f"ciphertext of record {record_ref!r} does not hold a payload object")
        return payload

    def _decrypt_legacy(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
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
