"""KMS requests per 1,000 texts when appointments come from many ingest containers (issue 11 §3).

``python -m bench.kms [--texts 1000] [--ingest-containers 5] [--windows 3]``

The scenario the reminder pipeline bench does not show: appointments are ingested over days by several
ingest containers, each in several cache windows (so, in format 2, each under a data key of its own),
and then one sender container sends all the texts inside one cache window: for each text it decrypts
the appointment's contact and encrypts the message-log body. Run on moto, with the cipher as deployed
(``shared.crypto.kms.KmsEnvelopeCipher``), once writing format 2 (the previous cipher: caching materials
manager) and once format 3 (hierarchical keyring). Every KMS and keystore (DynamoDB) HTTP request is
counted (botocore ``before-send``, retries included). The caches' clocks (the Encryption SDK's and the
MPL's) read a virtual clock that moves one cache window between ingest windows.

Also printed: CPU time per encrypt and per decrypt (``time.process_time``) in the sender, since the
MPL's Dafny-generated code costs more CPU per message than the Encryption SDK's own materials manager.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 600.0  # PHI_CACHE_MAX_AGE_SECONDS's default
KEYSTORE_TABLE = "bench-PhiKeyStoreTable"
BRANCH_KEY_ID = "bench-phi"
CONTACT = {"first_name": "Sam", "phone": "+12065550123", "location_name": None, "location_address": "1 Main"}


@dataclass
class Run:
    label: str
    texts: int
    ingest: Counter[str] = field(default_factory=Counter)
    sender: Counter[str] = field(default_factory=Counter)
    encrypt_cpu_ms: float = 0.0
    decrypt_cpu_ms: float = 0.0

    def kms_per_1000(self) -> float:
        return 1000 * sum(n for op, n in self.sender.items() if op.startswith("kms:")) / self.texts


@contextmanager
def _virtual_clock(now: list[float]) -> Iterator[None]:
    from aws_encryption_sdk import caches

    undo: list[tuple[Any, str, Any]] = []

    class _Time:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        def time(self) -> float:
            return now[0]

    undo.append((caches, "time", caches.time))
    caches.time = _Time()  # type: ignore[assignment]
    try:
        from smithy_dafny_standard_library.internaldafny.generated import Time as DafnyTime

        for name, value in (
            ("CurrentRelativeTime", staticmethod(lambda: round(now[0]))),
            ("CurrentRelativeTimeMilli", staticmethod(lambda: round(now[0] * 1000))),
        ):
            undo.append((DafnyTime.default__, name, getattr(DafnyTime.default__, name)))
            setattr(DafnyTime.default__, name, value)
    except ImportError:
        pass
    try:
        yield
    finally:
        for owner, name, value in reversed(undo):
            setattr(owner, name, value)


def run(texts: int = 1000, ingest_containers: int = 5, windows: int = 3) -> list[Run]:
    import boto3
    import botocore.handlers
    from moto import mock_aws

    from shared.crypto.kms import BranchKeyStore, KmsEnvelopeCipher, create_branch_key

    counts: Counter[str] = Counter()

    def count(event_name: str, **_kwargs: Any) -> None:
        _, service, operation = event_name.split(".")
        counts[f"{service}:{operation}"] += 1

    saved = list(botocore.handlers.BUILTIN_HANDLERS)
    botocore.handlers.BUILTIN_HANDLERS[:0] = [("before-send.kms", count), ("before-send.dynamodb", count)]
    now = [1_800_000_000.0]
    results = []
    try:
        with mock_aws(), _virtual_clock(now):
            setup = boto3.session.Session()
            key_arn = setup.client("kms").create_key(Description="bench data key")["KeyMetadata"]["Arn"]
            ddb = setup.client("dynamodb")
            ddb.create_table(
                TableName=KEYSTORE_TABLE,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[
                    {"AttributeName": "branch-key-id", "KeyType": "HASH"},
                    {"AttributeName": "type", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "branch-key-id", "AttributeType": "S"},
                    {"AttributeName": "type", "AttributeType": "S"},
                ],
            )
            create_branch_key(
                BranchKeyStore(KEYSTORE_TABLE, BRANCH_KEY_ID, ddb, setup.client("kms")), key_arn
            )

            def container(format_3: bool) -> KmsEnvelopeCipher:
                session = boto3.session.Session()
                store = (
                    BranchKeyStore(
                        KEYSTORE_TABLE, BRANCH_KEY_ID, session.client("dynamodb"), session.client("kms")
                    )
                    if format_3
                    else None
                )
                return KmsEnvelopeCipher(key_arn, keystore=store, botocore_session=session._session)

            for label, format_3 in (("format 2 (before)", False), ("format 3 (after)", True)):
                result = Run(label=label, texts=texts)
                counts.clear()
                ingesters = [container(format_3) for _ in range(ingest_containers)]
                contacts: list[str] = []
                batches = ingest_containers * windows
                for i in range(texts):
                    batch = i * batches // texts  # containers take turns; a new window every round
                    window, k = divmod(batch, ingest_containers)
                    now[0] = 1_800_000_000.0 + window * (WINDOW_SECONDS + 1)
                    contacts.append(ingesters[k].encrypt(f"appointment#a-{i}", {**CONTACT, "n": i}))
                result.ingest.update(counts)
                counts.clear()
                now[0] += 86_400.0  # the send, a day later, inside one cache window
                sender = container(format_3)
                encrypt_cpu = decrypt_cpu = 0.0
                for i, contact_ct in enumerate(contacts):
                    started = time.process_time()
                    contact = sender.decrypt(f"appointment#a-{i}", contact_ct)
                    middle = time.process_time()
                    sender.encrypt(f"message#m-{i}", {"body": f"Hi {contact['first_name']}"})
                    encrypt_cpu += time.process_time() - middle
                    decrypt_cpu += middle - started
                result.sender.update(counts)
                result.encrypt_cpu_ms = 1000 * encrypt_cpu / texts
                result.decrypt_cpu_ms = 1000 * decrypt_cpu / texts
                results.append(result)
    finally:
        botocore.handlers.BUILTIN_HANDLERS[:] = saved
    return results


def table(results: list[Run], ingest_containers: int, windows: int) -> str:
    lines = [
        f"{results[0].texts if results else 0} appointments written by {ingest_containers} ingest containers "
        f"over {windows} cache windows each; one sender container decrypts each contact and encrypts each "
        "message-log body inside one window.",
        "",
        "| format | ingest: KMS / keystore requests | sender: KMS / keystore requests | "
        "sender KMS per 1,000 texts | target | CPU per encrypt / decrypt (sender) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:

        def split(c: Counter[str]) -> str:
            kms = ", ".join(f"{op[4:]} {n}" for op, n in sorted(c.items()) if op.startswith("kms:"))
            ddb = ", ".join(f"{op[9:]} {n}" for op, n in sorted(c.items()) if op.startswith("dynamodb:"))
            return f"{kms or 'none'} / {ddb or 'none'}"

        per = r.kms_per_1000()
        met = "met" if per <= 1.0 else "NOT met"
        cpu = f"{r.encrypt_cpu_ms:.1f} ms / {r.decrypt_cpu_ms:.1f} ms"
        lines.append(
            f"| {r.label} | {split(r.ingest)} | {split(r.sender)} | {per:.1f} | ≤ 1 ({met}) | {cpu} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kms")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--ingest-containers", type=int, default=5)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    results = run(args.texts, args.ingest_containers, args.windows)
    print(table(results, args.ingest_containers, args.windows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
