"""KmsEnvelopeCipher against moto's KMS and DynamoDB: record binding in every ciphertext format, and KMS
requests.

Format 3 (written now) goes through the hierarchical keyring with its keystore table (the ``keystore``
fixture creates it as the template declares it, and the branch key as ``clinictext keys init`` does);
formats 1 and 2 are written here as the previous code wrote them and must stay readable.

KMS requests are counted as HTTP requests (botocore's ``before-send`` event, fired once per request sent,
retries included), not as client calls: the Encryption SDK makes its own clients, and what KMS bills is
requests.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

import boto3
import pytest

from shared.core.errors import IntegrityError
from shared.crypto.kms import (
    CONTEXT_KEY,
    FORMAT_3_PREFIX,
    PURPOSE_KEY,
    BranchKeyStore,
    KmsEnvelopeCipher,
    create_branch_key,
)

TEXTS = 1000
KEYSTORE_TABLE = "test-PhiKeyStoreTable"
BRANCH_KEY_ID = "test-phi"


@pytest.fixture
def key_arn(aws: None) -> str:
    return str(boto3.client("kms").create_key(Description="test data key")["KeyMetadata"]["Arn"])


def keystore_table_properties() -> dict[str, Any]:
    from infra.local.stack import Stack

    return dict(Stack().template["Resources"]["PhiKeyStoreTable"]["Properties"])


@pytest.fixture
def keystore(key_arn: str) -> BranchKeyStore:
    """The keystore table as template.yaml declares it, holding one branch key (``clinictext keys init``)."""
    props = keystore_table_properties()
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=KEYSTORE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
    )
    store = BranchKeyStore(KEYSTORE_TABLE, BRANCH_KEY_ID, ddb, boto3.client("kms"))
    assert create_branch_key(store, key_arn) is True
    return store


def container(key_arn: str, keystore: BranchKeyStore, **settings: Any) -> KmsEnvelopeCipher:
    """A new Lambda container's cipher: its own session and clients, nothing cached."""
    session = boto3.session.Session()
    fresh = BranchKeyStore(
        keystore.table, keystore.branch_key_id, session.client("dynamodb"), session.client("kms")
    )
    return KmsEnvelopeCipher(key_arn, keystore=fresh, botocore_session=session._session, **settings)


def hook_first(monkeypatch: pytest.MonkeyPatch, event: str, handler: Any) -> None:
    """Put ``handler`` first in botocore's built-in handlers for ``event``, so every session created
    after this calls it before moto's own ``before-send`` handler answers the request."""
    import botocore.handlers

    monkeypatch.setattr(
        botocore.handlers, "BUILTIN_HANDLERS", [(event, handler), *botocore.handlers.BUILTIN_HANDLERS]
    )


def rotate_branch_key(keystore: BranchKeyStore, key_arn: str) -> None:
    """A new active version of the branch key (the MPL's VersionKey, as an operator rotates it)."""
    from aws_cryptographic_material_providers.keystore.models import VersionKeyInput

    keystore.keystore(key_arn).version_key(VersionKeyInput(branch_key_identifier=keystore.branch_key_id))


@pytest.fixture
def keystore_items(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``type`` of every keystore item read (``branch:ACTIVE`` or ``branch:version:<id>``)."""
    items: list[str] = []

    def grab(params: dict[str, Any], **_kwargs: Any) -> None:
        items.append(str(params["Key"]["type"]["S"]))

    hook_first(monkeypatch, "provide-client-params.dynamodb.GetItem", grab)
    return items


def format_2_encrypt(key_arn: str, record_ref: str, payload: dict[str, Any]) -> str:
    """A format-2 ciphertext as the previous cipher wrote it (a cipher without a keystore still does)."""
    return KmsEnvelopeCipher(key_arn).encrypt(record_ref, payload)


def request_counter(monkeypatch: pytest.MonkeyPatch, service: str) -> Counter[str]:
    """``service``'s HTTP requests by operation, from every botocore session created after this."""
    counts: Counter[str] = Counter()

    def count(event_name: str, **_kwargs: Any) -> None:
        counts[event_name.rsplit(".", 1)[-1]] += 1

    hook_first(monkeypatch, f"before-send.{service}", count)
    return counts


@pytest.fixture
def kms_requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """KMS HTTP requests by operation, from every botocore session created while the test runs (the
    counter goes first, so each new session calls it before moto's own ``before-send`` handler)."""
    return request_counter(monkeypatch, "kms")


@pytest.fixture
def keystore_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """DynamoDB HTTP requests by operation (the keystore's reads), from clients created after it."""
    return request_counter(monkeypatch, "dynamodb")


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

    assert not ciphertext.startswith(FORMAT_3_PREFIX)
    client = aws_encryption_sdk.EncryptionSDKClient()
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
    _plaintext, header = client.decrypt(source=base64.b64decode(ciphertext), key_provider=provider)
    return {k: v for k, v in header.encryption_context.items() if k != "aws-crypto-public-key"}


def format_3_context(keystore: BranchKeyStore, key_arn: str, ciphertext: str) -> dict[str, str]:
    """The encryption context stored in a format-3 message, read with a keyring of its own."""
    import aws_encryption_sdk
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsHierarchicalKeyringInput

    assert ciphertext.startswith(FORMAT_3_PREFIX)
    keyring = AwsCryptographicMaterialProviders(
        config=MaterialProvidersConfig()
    ).create_aws_kms_hierarchical_keyring(
        input=CreateAwsKmsHierarchicalKeyringInput(
            key_store=keystore.keystore(key_arn), branch_key_id=keystore.branch_key_id, ttl_seconds=60
        )
    )
    _plaintext, header = aws_encryption_sdk.EncryptionSDKClient().decrypt(
        source=base64.b64decode(ciphertext[len(FORMAT_3_PREFIX) :]), keyring=keyring
    )
    return {k: v for k, v in header.encryption_context.items() if k != "aws-crypto-public-key"}


def altered(ciphertext: str, at: int) -> str:
    raw = bytearray(base64.b64decode(ciphertext))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


CONTACT = {"first_name": "Ana", "phone": "+12065550123", "location_name": None, "location_address": "1 Main"}


# -- format 3 (written now) -------------------------------------------------------------------------------


def test_writes_format_3_with_the_record_in_the_encryption_context(
    key_arn: str, keystore: BranchKeyStore
) -> None:
    cipher = container(key_arn, keystore)
    first = cipher.encrypt("appointment#a-1", CONTACT)
    second = cipher.encrypt("appointment#a-2", {**CONTACT, "first_name": "Bo"})

    assert first.startswith(FORMAT_3_PREFIX)
    assert cipher.decrypt("appointment#a-1", first) == CONTACT
    assert cipher.decrypt("appointment#a-2", second)["first_name"] == "Bo"
    assert format_3_context(keystore, key_arn, first) == {
        "clinictext:purpose": "phi",
        "clinictext:record": "appointment#a-1",
        "clinictext:format": "3",
    }
    assert format_3_context(keystore, key_arn, second)["clinictext:record"] == "appointment#a-2"


@pytest.mark.parametrize("other", ["appointment#a-2", "appointment#a-10", "message#a-1", "consent#a-1"])
def test_format_3_ciphertext_moved_to_another_record_raises(
    key_arn: str, keystore: BranchKeyStore, other: str
) -> None:
    cipher = container(key_arn, keystore)
    ciphertext = cipher.encrypt("appointment#a-1", CONTACT)

    with pytest.raises(IntegrityError, match="does not belong to record"):
        cipher.decrypt(other, ciphertext)
    assert cipher.decrypt("appointment#a-1", ciphertext) == CONTACT


def test_format_3_ciphertext_moved_by_another_container_raises(
    key_arn: str, keystore: BranchKeyStore
) -> None:
    """The check does not depend on the reader's cache: a fresh container refuses the copy too."""
    ciphertext = container(key_arn, keystore).encrypt("message#m-1", {"body": "See you at 10"})

    with pytest.raises(IntegrityError):
        container(key_arn, keystore).decrypt("message#m-2", ciphertext)
    assert container(key_arn, keystore).decrypt("message#m-1", ciphertext) == {"body": "See you at 10"}


def test_no_altered_byte_of_a_format_3_ciphertext_yields_a_payload(
    key_arn: str, keystore: BranchKeyStore
) -> None:
    """One flipped bit anywhere (header, encryption context, the wrapped data key and its branch-key
    version, body, signature): IntegrityError, never a payload and never a KMS or keystore error."""
    cipher = container(key_arn, keystore)
    ciphertext = cipher.encrypt("message#m-1", {"body": "See you at 10"})
    body = ciphertext[len(FORMAT_3_PREFIX) :]
    for at in range(len(base64.b64decode(body))):
        with pytest.raises(IntegrityError):
            cipher.decrypt("message#m-1", FORMAT_3_PREFIX + altered(body, at))


def test_format_3_under_another_branch_key_raises(key_arn: str, keystore: BranchKeyStore) -> None:
    """A ciphertext of another keystore's branch key (another stack, or a forged one) is refused."""
    other = BranchKeyStore(keystore.table, "other-phi", boto3.client("dynamodb"), boto3.client("kms"))
    create_branch_key(other, key_arn)
    foreign = KmsEnvelopeCipher(key_arn, keystore=other).encrypt("message#m-1", {"body": "x"})

    with pytest.raises(IntegrityError):
        container(key_arn, keystore).decrypt("message#m-1", foreign)


def test_format_3_under_another_kms_key_raises(key_arn: str, keystore: BranchKeyStore) -> None:
    other_key = str(boto3.client("kms").create_key(Description="another")["KeyMetadata"]["Arn"])
    ciphertext = container(key_arn, keystore).encrypt("message#m-1", {"body": "x"})

    with pytest.raises(IntegrityError):
        container(other_key, keystore).decrypt("message#m-1", ciphertext)


def test_kms_failure_on_format_3_is_not_an_integrity_verdict(
    key_arn: str, keystore: BranchKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KMS refusing to unwrap the branch key (permissions, a disabled key, throttling) is operational: the
    caller retries or alarms; the record is not declared altered."""
    from moto.kms.exceptions import AccessDeniedException
    from moto.kms.models import KmsBackend

    ciphertext = container(key_arn, keystore).encrypt("message#m-1", {"body": "x"})

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AccessDeniedException("not authorized to perform kms:Decrypt")

    monkeypatch.setattr(KmsBackend, "decrypt", refuse)

    with pytest.raises(Exception) as raised:
        container(key_arn, keystore).decrypt("message#m-1", ciphertext)
    assert not isinstance(raised.value, IntegrityError)


def test_the_branch_key_is_created_once(key_arn: str, keystore: BranchKeyStore) -> None:
    written = container(key_arn, keystore).encrypt("message#m-1", {"body": "x"})

    assert create_branch_key(keystore, key_arn) is False  # `clinictext keys init` run again: no new key
    assert container(key_arn, keystore).decrypt("message#m-1", written) == {"body": "x"}


def test_branch_key_unwrap_matches_the_template_iam_condition(
    key_arn: str, keystore: BranchKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Functions may kms:Decrypt the branch key only with its encryption context (PhiBranchKeyUnwrap):
    every Decrypt the keyring sends names the keystore table and the branch key."""
    from infra.local.stack import Stack

    sent: list[dict[str, str]] = []

    def grab(params: dict[str, Any], **_kwargs: Any) -> None:
        sent.append(dict(params.get("EncryptionContext") or {}))

    hook_first(monkeypatch, "provide-client-params.kms.Decrypt", grab)
    cipher = container(key_arn, keystore)  # its session is made after the hook
    written = cipher.encrypt("message#m-1", {"body": "x"})
    rotate_branch_key(keystore, key_arn)
    # A new container reading a record of the old version: the active version (fetched first) and the
    # old version, each unwrapped once.
    container(key_arn, keystore).decrypt("message#m-1", written)

    template = Stack().template
    policies = template["Resources"]["TwilioWebhookFunction"]["Properties"]["Policies"]
    statement = next(
        s for p in policies for s in p.get("Statement", []) if s.get("Sid") == "PhiBranchKeyUnwrap"
    )
    condition = statement["Condition"]["StringEquals"]
    assert set(condition) == {"kms:EncryptionContext:tablename", "kms:EncryptionContext:branch-key-id"}
    assert len(sent) == 3  # the writer's active version; the reader's new active and old version
    for context in sent:
        assert context["tablename"] == keystore.table
        assert context["branch-key-id"] == keystore.branch_key_id


# -- format 2 (read only) ---------------------------------------------------------------------------------


def test_format_2_ciphertext_still_decrypts(key_arn: str, keystore: BranchKeyStore) -> None:
    old = format_2_encrypt(key_arn, "appointment#a-1", CONTACT)

    assert stored_context(key_arn, old) == {
        "clinictext:purpose": "phi",
        "clinictext:kind": "appointment",
        "clinictext:format": "2",
    }
    assert container(key_arn, keystore).decrypt("appointment#a-1", old) == CONTACT


@pytest.mark.parametrize("other", ["appointment#a-2", "appointment#a-10", "message#a-1", "consent#a-1"])
def test_format_2_ciphertext_moved_to_another_record_raises(
    key_arn: str, keystore: BranchKeyStore, other: str
) -> None:
    ciphertext = format_2_encrypt(key_arn, "appointment#a-1", CONTACT)
    cipher = container(key_arn, keystore)

    with pytest.raises(IntegrityError, match="does not belong to record"):
        cipher.decrypt(other, ciphertext)
    assert cipher.decrypt("appointment#a-1", ciphertext) == CONTACT


def test_a_record_rewritten_after_a_format_2_read_is_format_3(key_arn: str, keystore: BranchKeyStore) -> None:
    cipher = container(key_arn, keystore)
    payload = cipher.decrypt("message#m-1", format_2_encrypt(key_arn, "message#m-1", {"body": "x"}))

    rewritten = cipher.encrypt("message#m-1", payload)

    assert format_3_context(keystore, key_arn, rewritten)["clinictext:record"] == "message#m-1"
    assert cipher.decrypt("message#m-1", rewritten) == {"body": "x"}


# -- format 1 (written by the previous code; read only) ---------------------------------------------------


def test_format_1_ciphertext_still_decrypts(key_arn: str, keystore: BranchKeyStore) -> None:
    old = legacy_encrypt(key_arn, "consent#ph_abc", {"phone": "+12065550123"})

    assert container(key_arn, keystore).decrypt("consent#ph_abc", old) == {"phone": "+12065550123"}


@pytest.mark.parametrize("other", ["consent#ph_abd", "message#ph_abc"])
def test_format_1_ciphertext_moved_to_another_record_raises(
    key_arn: str, keystore: BranchKeyStore, other: str
) -> None:
    old = legacy_encrypt(key_arn, "consent#ph_abc", {"phone": "+12065550123"})

    with pytest.raises(IntegrityError, match="does not belong to record"):
        container(key_arn, keystore).decrypt(other, old)


def test_a_record_rewritten_after_a_format_1_read_is_format_3(key_arn: str, keystore: BranchKeyStore) -> None:
    cipher = container(key_arn, keystore)
    payload = cipher.decrypt("consent#ph_abc", legacy_encrypt(key_arn, "consent#ph_abc", {"phone": "+1206"}))

    rewritten = cipher.encrypt("consent#ph_abc", payload)

    assert rewritten.startswith(FORMAT_3_PREFIX)
    assert cipher.decrypt("consent#ph_abc", rewritten) == {"phone": "+1206"}


# -- tampering and malformed input (formats 1 and 2) ------------------------------------------------------


def test_no_altered_byte_of_a_format_2_ciphertext_yields_a_payload(
    key_arn: str, keystore: BranchKeyStore
) -> None:
    """One flipped bit anywhere: KMS refuses the data key (DecryptKeyError, as for any KMS failure) when
    the flip is in the encrypted data key or the encryption context it is bound to; anywhere else the
    cipher raises IntegrityError."""
    from aws_encryption_sdk.exceptions import DecryptKeyError

    cipher = container(key_arn, keystore)
    ciphertext = format_2_encrypt(key_arn, "message#m-1", {"body": "See you at 10"})
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


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not base64!",
        base64.b64encode(b"\x02\x05 not a message").decode(),
        "3:",
        "3:not base64!",
        "3:" + base64.b64encode(b"\x02\x05 not a message").decode(),
    ],
)
def test_garbage_raises(key_arn: str, keystore: BranchKeyStore, garbage: str) -> None:
    with pytest.raises(IntegrityError):
        container(key_arn, keystore).decrypt("message#m-1", garbage)


@pytest.mark.parametrize("ref", ["", "message", "message#", "#m-1"])
def test_a_record_ref_must_name_kind_and_id(key_arn: str, keystore: BranchKeyStore, ref: str) -> None:
    with pytest.raises(ValueError, match="<kind>#<id>"):
        container(key_arn, keystore).encrypt(ref, {"body": "x"})
    with pytest.raises(ValueError, match="<kind>#<id>"):
        container(key_arn, keystore).decrypt(ref, "3:AAAA")


# -- KMS requests -----------------------------------------------------------------------------------------


def test_kms_requests_for_1000_texts_in_one_container(
    key_arn: str,
    keystore: BranchKeyStore,
    kms_requests: Counter[str],
    keystore_reads: Counter[str],
    record_property: Any,
) -> None:
    """The send path: each text decrypts its appointment's contact, written by several ingest containers,
    and encrypts its message-log body. With the hierarchical keyring the sender's KMS requests do not
    depend on how many containers wrote what it reads: one Decrypt of the branch key per cache window,
    for reading and writing together (format 2 paid a Decrypt per ingest container's data key; the
    keyring alone paid one per direction)."""
    ingest_containers = 5
    contacts = []
    ingest_requests: Counter[str] = Counter()
    for k in range(ingest_containers):
        ingest = container(key_arn, keystore)
        kms_requests.clear()
        share = range(k * TEXTS // ingest_containers, (k + 1) * TEXTS // ingest_containers)
        contacts += [ingest.encrypt(f"appointment#a-{i}", {**CONTACT, "first_name": f"P{i}"}) for i in share]
        ingest_requests.update(kms_requests)
    kms_requests.clear()
    keystore_reads.clear()

    sender = container(key_arn, keystore)  # a new container: nothing cached
    bodies = []
    for i, contact_ct in enumerate(contacts):
        contact = sender.decrypt(f"appointment#a-{i}", contact_ct)
        assert contact["first_name"] == f"P{i}"
        bodies.append(sender.encrypt(f"message#m-{i}", {"body": f"Hi {contact['first_name']}"}))
    send_requests, send_reads = dict(kms_requests), dict(keystore_reads)
    kms_requests.clear()

    # The same container reading back what it wrote (a conversation view): nothing new to unwrap.
    assert [sender.decrypt(f"message#m-{i}", ct)["body"] for i, ct in enumerate(bodies)][-1] == "Hi P999"
    read_back_requests = dict(kms_requests)

    record_property(
        "figures",
        f"KMS HTTP requests for {TEXTS} texts: {ingest_containers} ingest containers "
        f"{dict(ingest_requests)}; "
        f"sender {TEXTS} decrypts + {TEXTS} encrypts {send_requests} (keystore {send_reads}); "
        f"{TEXTS} read-backs {read_back_requests}",
    )
    assert ingest_requests == {"Decrypt": ingest_containers}  # one branch-key unwrap per container
    assert send_requests == {"Decrypt": 1}  # the active version, cached for reading as its version
    assert send_reads == {"GetItem": 1}
    assert read_back_requests == {}


def test_the_cache_ttl_bounds_the_reuse_of_the_branch_key(
    key_arn: str, keystore: BranchKeyStore, kms_requests: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from smithy_dafny_standard_library.internaldafny.generated import Time

    now = [1_000_000.0]
    monkeypatch.setattr(Time.default__, "CurrentRelativeTime", staticmethod(lambda: round(now[0])))
    monkeypatch.setattr(
        Time.default__, "CurrentRelativeTimeMilli", staticmethod(lambda: round(now[0] * 1000))
    )
    cipher = container(key_arn, keystore, max_cache_age_seconds=60)
    kms_requests.clear()

    written = [cipher.encrypt(f"message#m-{i}", {"body": "x"}) for i in range(50)]
    cipher.decrypt("message#m-0", written[0])
    cipher.decrypt("message#m-1", written[1])
    assert kms_requests == {"Decrypt": 1}
    now[0] += 61  # past the TTL: KMS again, once for both directions
    cipher.decrypt("message#m-2", written[2])
    cipher.encrypt("message#m-x", {"body": "x"})
    assert kms_requests == {"Decrypt": 2}


def test_a_cache_of_one_entry_still_unwraps_once_per_window(
    key_arn: str, keystore: BranchKeyStore, kms_requests: Counter[str]
) -> None:
    """PHI_CACHE_CAPACITY=1 is allowed: the mirror must not push the active key out of a one-slot cache
    (it did, and every read then fetched the active key again)."""
    ingest = container(key_arn, keystore)
    contacts = [ingest.encrypt(f"appointment#a-{i}", {"n": i}) for i in range(10)]
    sender = container(key_arn, keystore, cache_capacity=1)
    kms_requests.clear()

    for i, contact in enumerate(contacts):
        assert sender.decrypt(f"appointment#a-{i}", contact) == {"n": i}
        sender.encrypt(f"message#m-{i}", {"body": "x"})
    assert kms_requests == {"Decrypt": 1}


def test_garbage_costs_no_aws_request(
    key_arn: str, keystore: BranchKeyStore, kms_requests: Counter[str], keystore_reads: Counter[str]
) -> None:
    cipher = container(key_arn, keystore)
    kms_requests.clear()
    keystore_reads.clear()
    with pytest.raises(IntegrityError):
        cipher.decrypt("message#m-1", "3:not base64 at all!")
    assert (kms_requests, keystore_reads) == (Counter(), Counter())


def test_a_broken_active_item_does_not_stop_reading_an_older_version(
    key_arn: str, keystore: BranchKeyStore
) -> None:
    """The read fetches the active key first to share its unwrap; if the active item is unusable, a
    record of an intact older version must still be read (the fetch is best effort)."""
    old = container(key_arn, keystore).encrypt("appointment#a-1", {"n": 1})
    rotate_branch_key(keystore, key_arn)
    active = {"branch-key-id": {"S": keystore.branch_key_id}, "type": {"S": "branch:ACTIVE"}}
    item = keystore.ddb_client.get_item(TableName=keystore.table, Key=active)["Item"]
    keystore.ddb_client.put_item(TableName=keystore.table, Item={**item, "enc": {"B": b"\x00" * 60}})

    assert container(key_arn, keystore).decrypt("appointment#a-1", old) == {"n": 1}


def test_a_window_that_starts_with_a_write_reads_from_the_same_unwrap(
    key_arn: str, keystore: BranchKeyStore, kms_requests: Counter[str]
) -> None:
    ingest = container(key_arn, keystore)
    contacts = [ingest.encrypt(f"appointment#a-{i}", {"n": i}) for i in range(20)]
    sender = container(key_arn, keystore)
    kms_requests.clear()

    sender.encrypt("message#m-0", {"body": "first"})  # write first: the active version is fetched
    assert [sender.decrypt(f"appointment#a-{i}", ct)["n"] for i, ct in enumerate(contacts)] == list(range(20))
    assert kms_requests == {"Decrypt": 1}


def test_after_a_rotation_old_records_read_and_new_ones_are_written_under_the_new_version(
    key_arn: str, keystore: BranchKeyStore, kms_requests: Counter[str], keystore_items: list[str]
) -> None:
    """The cache shares only the active version's unwrap: a record of an older version is still fetched
    by its version (one Decrypt more per window), and a rotation is not hidden by the shared entry."""
    before = container(key_arn, keystore)
    old = [before.encrypt(f"appointment#a-{i}", {"n": i}) for i in range(5)]
    rotate_branch_key(keystore, key_arn)
    reader = container(key_arn, keystore)
    kms_requests.clear()

    assert [reader.decrypt(f"appointment#a-{i}", ct)["n"] for i, ct in enumerate(old)] == list(range(5))
    new = reader.encrypt("message#m-1", {"body": "after"})
    assert reader.decrypt("message#m-1", new) == {"body": "after"}
    assert kms_requests == {"Decrypt": 2}  # the new active version (shared) and the old version

    # A fresh container: the new record is read from the active entry alone (so it was written under
    # the new version); the old one needs its own version.
    keystore_items.clear()
    fresh = container(key_arn, keystore)
    assert fresh.decrypt("message#m-1", new) == {"body": "after"}
    assert keystore_items == ["branch:ACTIVE"]
    assert fresh.decrypt("appointment#a-0", old[0]) == {"n": 0}
    assert keystore_items[1].startswith("branch:version:")


def test_a_wrong_cache_identifier_would_cost_a_request_per_direction(
    key_arn: str, keystore: BranchKeyStore, kms_requests: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared entry is what saves the request: with the version stored under any other identifier
    (as if the MPL named its entries differently), a read-and-write window pays two unwraps again."""
    from shared.crypto import branch_cache

    monkeypatch.setattr(
        branch_cache.SharedBranchKeyCache, "version_id", lambda _self, version: b"other" + version.encode()
    )
    cipher = container(key_arn, keystore)
    written = cipher.encrypt("message#m-1", {"body": "x"})
    kms_requests.clear()
    reader = container(key_arn, keystore)
    reader.decrypt("message#m-1", written)
    reader.encrypt("message#m-2", {"body": "y"})
    assert kms_requests == {"Decrypt": 2}


def test_format_2_reads_are_cached_per_data_key(
    key_arn: str, keystore: BranchKeyStore, kms_requests: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import aws_encryption_sdk.caches as caches

    now = [1_000_000.0]
    monkeypatch.setattr(caches.time, "time", lambda: now[0])  # the cache's entry ages
    writer = KmsEnvelopeCipher(key_arn, max_messages_encrypted=100, max_cache_age_seconds=60)
    written = [writer.encrypt(f"message#m-{i}", {"body": "x"}) for i in range(TEXTS)]
    assert kms_requests == {"GenerateDataKey": TEXTS // 100}  # a new data key after every 100 payloads

    reader = container(key_arn, keystore, max_cache_age_seconds=60)
    kms_requests.clear()
    reader.decrypt("message#m-0", written[0])
    reader.decrypt("message#m-1", written[1])  # same data key, cached
    now[0] += 61  # past max age: KMS again
    reader.decrypt("message#m-2", written[2])
    assert kms_requests == {"Decrypt": 2}


def test_wiring_builds_the_cipher_from_the_settings(
    key_arn: str, keystore: BranchKeyStore, monkeypatch: pytest.MonkeyPatch, kms_requests: Counter[str]
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
        "PHI_KEYSTORE_TABLE": keystore.table,
        "PHI_BRANCH_KEY_ID": keystore.branch_key_id,
    }.items():
        monkeypatch.setenv(name, value)
    # The cipher's clients come from the container's one botocore session: make them after the counter.
    runtime_wiring.reset()
    try:
        cipher = crypto_wiring.cipher()
        written = [cipher.encrypt(f"message#m-{i}", {"body": "x"}) for i in range(30)]
    finally:
        runtime_wiring.reset(clients=False)
    assert all(ct.startswith(FORMAT_3_PREFIX) for ct in written)
    assert kms_requests == {"Decrypt": 1}


def test_wiring_refuses_to_build_the_cipher_without_the_keystore(
    key_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: a function missing PHI_KEYSTORE_* never falls back to writing format 2."""
    from pydantic import ValidationError

    from shared.crypto.settings import CipherSettings

    monkeypatch.delenv("PHI_KEYSTORE_TABLE", raising=False)
    monkeypatch.delenv("PHI_BRANCH_KEY_ID", raising=False)
    with pytest.raises(ValidationError):
        CipherSettings()
