"""KmsEnvelopeCipher against moto's KMS: record binding in both ciphertext formats, and KMS requests.

KMS requests are counted as HTTP requests (botocore's ``before-send`` event, fired once per request sent,
retries included), not as client calls: the Encryption SDK makes its own clients, and what KMS bills is
requests.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from shared.core.errors import IntegrityError
from shared.crypto.kms import CONTEXT_KEY, PURPOSE_KEY, KmsEnvelopeCipher

TEXTS = 1000


@pytest.fixture
def key_arn(aws: None) -> str:
    return str(boto3.client("kms").create_key(Description="test data key")["KeyMetadata"]["Arn"])


@pytest.fixture
def kms_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """KMS HTTP requests by operation, from every botocore session created while the test runs.

    The counter goes first in botocore's built-in handlers, so each new session calls it before moto's
    own ``before-send`` handler answers the request.
    """
    import botocore.handlers

    counts: Counter[str] = Counter()

    def count(event_name: str, **_kwargs: Any) -> None:
        counts[event_name.rsplit(".", 1)[-1]] += 1

    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [("before-send.kms", count), *botocore.handlers.BUILTIN_HANDLERS],
    )
    yield counts


def legacy_encrypt(key_arn: str, record_ref: str, payload: dict[str, Any]) -> str:
    """A format-1 ciphertext exactly as the previous KmsEnvelopeCipher wrote it (Powertools data masking,
    the record named in the encryption context)."""
    from aws_lambda_powertools.utilities.data_masking import DataMasking
    from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import (
        AWSEncryptionSDKProvider,
    )

    masker = DataMasking(provider=AWSEncryptionSDKProvider(keys=[key_arn]))
    return str(masker.encrypt(payload, None, **{CONTEXT_KEY: record_ref, PURPOSE_KEY: "phi"}))


def stored_context(key_arn: str, ciphertext: str) -> dict[str, str]:
    import aws_encryption_sdk

    client = aws_encryption_sdk.EncryptionSDKClient()
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
    _plaintext, header = client.decrypt(source=base64.b64decode(ciphertext), key_provider=provider)
    return {k: v for k, v in header.encryption_context.items() if k != "aws-crypto-public-key"}


def altered(ciphertext: str, at: int) -> str:
    raw = bytearray(base64.b64decode(ciphertext))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


CONTACT = {"first_name": "Ana", "phone": "+12065550123", "location_name": None, "location_address": "1 Main"}


# -- format 2 (written now) -------------------------------------------------------------------------------


def test_writes_format_2_with_a_constant_context_per_record_kind(key_arn: str) -> None:
    cipher = KmsEnvelopeCipher(key_arn)
    first = cipher.encrypt("appointment#a-1", CONTACT)
    second = cipher.encrypt("appointment#a-2", {**CONTACT, "first_name": "Bo"})

    assert cipher.decrypt("appointment#a-1", first) == CONTACT
    assert cipher.decrypt("appointment#a-2", second)["first_name"] == "Bo"
    expected = {"clinictext:purpose": "phi", "clinictext:kind": "appointment", "clinictext:format": "2"}
    assert stored_context(key_arn, first) == expected
    assert stored_context(key_arn, second) == expected  # no record in the context: the cache can hit


@pytest.mark.parametrize("other", ["appointment#a-2", "appointment#a-10", "message#a-1", "consent#a-1"])
def test_format_2_ciphertext_moved_to_another_record_raises(key_arn: str, other: str) -> None:
    cipher = KmsEnvelopeCipher(key_arn)
    ciphertext = cipher.encrypt("appointment#a-1", CONTACT)

    with pytest.raises(IntegrityError, match="does not belong to record"):
        cipher.decrypt(other, ciphertext)
    assert cipher.decrypt("appointment#a-1", ciphertext) == CONTACT


def test_format_2_ciphertext_moved_by_another_container_raises(key_arn: str) -> None:
    """The check does not depend on the reader's cache: a fresh container refuses the copy too."""
    ciphertext = KmsEnvelopeCipher(key_arn).encrypt("message#m-1", {"body": "See you at 10"})

    with pytest.raises(IntegrityError):
        KmsEnvelopeCipher(key_arn).decrypt("message#m-2", ciphertext)


# -- format 1 (written by the previous code; read only) ---------------------------------------------------


def test_format_1_ciphertext_still_decrypts(key_arn: str) -> None:
    old = legacy_encrypt(key_arn, "consent#ph_abc", {"phone": "+12065550123"})

    assert KmsEnvelopeCipher(key_arn).decrypt("consent#ph_abc", old) == {"phone": "+12065550123"}


@pytest.mark.parametrize("other", ["consent#ph_abd", "message#ph_abc"])
def test_format_1_ciphertext_moved_to_another_record_raises(key_arn: str, other: str) -> None:
    old = legacy_encrypt(key_arn, "consent#ph_abc", {"phone": "+12065550123"})

    with pytest.raises(IntegrityError, match="does not belong to record"):
        KmsEnvelopeCipher(key_arn).decrypt(other, old)


def test_a_record_rewritten_after_a_format_1_read_is_format_2(key_arn: str) -> None:
    cipher = KmsEnvelopeCipher(key_arn)
    payload = cipher.decrypt("consent#ph_abc", legacy_encrypt(key_arn, "consent#ph_abc", {"phone": "+1206"}))

    rewritten = cipher.encrypt("consent#ph_abc", payload)

    assert CONTEXT_KEY not in stored_context(key_arn, rewritten)
    assert cipher.decrypt("consent#ph_abc", rewritten) == {"phone": "+1206"}


# -- tampering and malformed input ------------------------------------------------------------------------


def test_no_altered_byte_yields_a_payload(key_arn: str) -> None:
    """One flipped bit anywhere: KMS refuses the data key (DecryptKeyError, as for any KMS failure) when
    the flip is in the encrypted data key or the encryption context it is bound to; anywhere else the
    cipher raises IntegrityError."""
    from aws_encryption_sdk.exceptions import DecryptKeyError

    cipher = KmsEnvelopeCipher(key_arn)
    ciphertext = cipher.encrypt("message#m-1", {"body": "See you at 10"})
    outcomes: Counter[str] = Counter()
    for at in range(len(base64.b64decode(ciphertext))):
        try:
            cipher.decrypt("message#m-1", altered(ciphertext, at))
        except IntegrityError:
            outcomes["integrity"] += 1
        except DecryptKeyError:
            outcomes["kms refused"] += 1
        else:
            pytest.fail(f"a ciphertext altered at byte {at} decrypted")
    assert outcomes["integrity"] > 0
    assert outcomes["kms refused"] > 0


@pytest.mark.parametrize("garbage", ["", "not base64!", base64.b64encode(b"\x02\x05 not a message").decode()])
def test_garbage_raises(key_arn: str, garbage: str) -> None:
    with pytest.raises(IntegrityError):
        KmsEnvelopeCipher(key_arn).decrypt("message#m-1", garbage)


@pytest.mark.parametrize("ref", ["", "message", "message#", "#m-1"])
def test_a_record_ref_must_name_kind_and_id(key_arn: str, ref: str) -> None:
    with pytest.raises(ValueError, match="<kind>#<id>"):
        KmsEnvelopeCipher(key_arn).encrypt(ref, {"body": "x"})


# -- KMS requests -----------------------------------------------------------------------------------------


def test_kms_requests_for_1000_texts_in_one_container(
    key_arn: str, kms_requests: Counter[str], record_property: Any
) -> None:
    """The send path: each text decrypts its appointment's contact (written by ingest, another container)
    and encrypts its message-log body. KMS: at most one request per 1,000 decrypts and one per 1,000
    encrypts in a cache window (the previous cipher made 2,000: a Decrypt and a GenerateDataKey per text).
    """
    ingest = KmsEnvelopeCipher(key_arn)
    contacts = [
        ingest.encrypt(f"appointment#a-{i}", {**CONTACT, "first_name": f"P{i}"}) for i in range(TEXTS)
    ]
    ingest_requests = dict(kms_requests)
    kms_requests.clear()

    sender = KmsEnvelopeCipher(key_arn)  # a new container: nothing cached
    bodies = []
    for i, contact_ct in enumerate(contacts):
        contact = sender.decrypt(f"appointment#a-{i}", contact_ct)
        assert contact["first_name"] == f"P{i}"
        bodies.append(sender.encrypt(f"message#m-{i}", {"body": f"Hi {contact['first_name']}"}))
    send_requests = dict(kms_requests)
    kms_requests.clear()

    # The same container reading back what it wrote (a conversation view): one Decrypt for the data key.
    assert [sender.decrypt(f"message#m-{i}", ct)["body"] for i, ct in enumerate(bodies)][-1] == "Hi P999"
    read_back_requests = dict(kms_requests)

    record_property(
        "figures",
        f"KMS HTTP requests for {TEXTS} texts: ingest {TEXTS} encrypts {ingest_requests}; "
        f"sender {TEXTS} decrypts + {TEXTS} encrypts {send_requests}; "
        f"{TEXTS} read-backs {read_back_requests}",
    )
    assert ingest_requests == {"GenerateDataKey": 1}
    assert send_requests == {"Decrypt": 1, "GenerateDataKey": 1}
    assert read_back_requests == {"Decrypt": 1}


def test_cache_limits_bound_the_reuse_of_a_data_key(
    key_arn: str, kms_requests: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import aws_encryption_sdk.caches as caches

    now = [1_000_000.0]
    monkeypatch.setattr(caches.time, "time", lambda: now[0])  # the cache's entry ages
    cipher = KmsEnvelopeCipher(key_arn, max_messages_encrypted=100, max_cache_age_seconds=60)

    written = [cipher.encrypt(f"message#m-{i}", {"body": "x"}) for i in range(TEXTS)]
    assert kms_requests == {"GenerateDataKey": TEXTS // 100}  # a new data key after every 100 payloads

    kms_requests.clear()
    cipher.decrypt("message#m-0", written[0])
    cipher.decrypt("message#m-1", written[1])  # same data key, cached
    now[0] += 61  # past max age: both directions ask KMS again
    cipher.decrypt("message#m-2", written[2])
    cipher.encrypt("message#m-x", {"body": "x"})
    assert kms_requests == {"Decrypt": 2, "GenerateDataKey": 1}


def test_wiring_builds_the_cipher_from_the_cache_settings(
    key_arn: str, monkeypatch: pytest.MonkeyPatch, kms_requests: Counter[str]
) -> None:
    from shared.crypto import wiring as crypto_wiring
    from shared.runtime import wiring as runtime_wiring

    for name, value in {
        "CLINIC_NAME": "Clinic",
        "SUPPORT_CONTACT": "help@example.org",
        "DATA_KEY_ARN": key_arn,
        "BLIND_INDEX_KEY_ARN": key_arn,
        "CONSENT_TABLE": "c",
        "MESSAGES_TABLE": "m",
        "DELIVERY_TABLE": "d",
        "IDEMPOTENCY_TABLE": "i",
        "APPOINTMENTS_TABLE": "a",
        "REMINDERS_TABLE": "r",
        "CONTROL_TABLE": "k",
        "PHI_CACHE_MAX_MESSAGES_PER_KEY": "10",
    }.items():
        monkeypatch.setenv(name, value)
    # The cipher's KMS client comes from the container's one botocore session: make it after the counter.
    runtime_wiring.reset()
    try:
        cipher = crypto_wiring.cipher()
        for i in range(30):
            cipher.encrypt(f"message#m-{i}", {"body": "x"})
    finally:
        runtime_wiring.reset(clients=False)
    assert kms_requests == {"GenerateDataKey": 3}
