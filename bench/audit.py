"""The audit trail: AWS requests per appended record (HTTP attempts, retries included), what a lost race
costs, and how fast a trail verifies. Figures only, never pass/fail.

    python -m bench.audit [--records N] [--verify-records M]

Requests are counted at botocore's ``before-send`` (one per HTTP attempt, so an SDK retry counts twice)
on moto in-process, with AuditTable built from template.yaml. Contention is simulated deterministically:
in the "two writers" run every append of writer A is overtaken by one of writer B between A's head read
and A's transaction, the worst case for a serialized chain.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# No benchmark may reach real AWS: fake credentials before anything builds a client.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)


def _event(n: int, *, break_glass: bool = False) -> Any:
    from shared.audit.domain import AuditAction, AuditEvent

    return AuditEvent(
        user_id=f"sub-{n % 7}",
        username=f"staff{n % 7}",
        action=AuditAction.BREAK_GLASS if break_glass else AuditAction.READ,
        source_ip="203.0.113.7",
        user_agent="Mozilla/5.0",
        conversation_id=f"c_{n % 50:022d}",
        detail={"via": "department"},
        reason="patient on the phone asking about a refill" if break_glass else None,
    )


@contextlib.contextmanager
def counting(clients: list[Any], attempts: Counter[str]) -> Iterator[None]:
    def count(request: Any, **kwargs: Any) -> None:
        attempts[kwargs.get("event_name", "before-send").split(".", 2)[1]] += 1

    def operation(model: Any, **kwargs: Any) -> None:
        attempts[f"op:{model.service_model.service_name}:{model.name}"] += 1

    for client in clients:
        client.meta.events.register_first("before-send", count)
        client.meta.events.register_first("before-call", operation)
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-send", count)
            client.meta.events.unregister("before-call", operation)


def run(records: int = 500, verify_records: int = 20_000) -> dict[str, Any]:
    from moto import mock_aws

    from infra.local.moto_speed import item_level_transactions
    from infra.local.stack import Stack
    from shared.audit.domain import GENESIS, seal, verify
    from shared.audit.service import Verifier
    from shared.audit.store import DynamoAuditLog
    from shared.core.clock import FixedClock
    from shared.crypto.kms import KmsEnvelopeCipher

    figures: dict[str, Any] = {}
    with mock_aws(), item_level_transactions():
        stack = Stack(parameters={}).provision()
        table = stack.table("AuditTable")
        cipher = KmsEnvelopeCipher(stack.arn("DataKey"))
        clock = FixedClock(datetime(2026, 11, 24, 15, 30, tzinfo=UTC))
        log = DynamoAuditLog(table, cipher, clock)
        clients = [table.meta.client]

        attempts: Counter[str] = Counter()
        started = time.perf_counter()
        with counting(clients, attempts):
            for n in range(records):
                log.append(_event(n))
                clock.advance(seconds=1)
        figures["single"] = (records, dict(attempts), time.perf_counter() - started)

        loser, winner = DynamoAuditLog(table, cipher, clock), DynamoAuditLog(table, cipher, clock)
        real = loser._client.transact_write_items
        state = {"armed": True}

        def overtaken(**kwargs: Any) -> Any:
            if state["armed"]:
                state["armed"] = False
                winner.append(_event(0))
            return real(**kwargs)

        loser._client = type("Client", (), {"transact_write_items": staticmethod(overtaken)})()
        contended: Counter[str] = Counter()
        with counting(clients, contended):
            for n in range(records // 5):
                state["armed"] = True
                loser.append(_event(n))
        figures["contended"] = (records // 5, dict(contended), loser.retries)

        paged: Counter[str] = Counter()
        started = time.perf_counter()
        with counting(clients, paged):
            report = Verifier(log).run()
        figures["verify_table"] = (report.checked, dict(paged), time.perf_counter() - started, report.intact)

    chain, previous = [], GENESIS
    at = datetime(2026, 11, 24, tzinfo=UTC)
    started = time.perf_counter()
    for n in range(1, verify_records + 1):
        record = seal(_event(n), sequence=n, previous_hash=previous, at=at + timedelta(seconds=n))
        chain.append(record)
        previous = record.hash
    sealed = time.perf_counter() - started
    started = time.perf_counter()
    intact = verify(chain).intact
    figures["verify_memory"] = (verify_records, sealed, time.perf_counter() - started, intact)
    return figures


def table(figures: dict[str, Any]) -> str:
    records, attempts, seconds = figures["single"]
    ops = {k: v for k, v in attempts.items() if k.startswith("op:")}
    http = sum(v for k, v in attempts.items() if not k.startswith("op:"))
    lines = [
        "| run | records | HTTP attempts | per record | detail |",
        "|---|---:|---:|---:|---|",
        f"| one writer | {records} | {http} | {http / records:.2f} | "
        + ", ".join(f"{k[3:]} {v}" for k, v in sorted(ops.items()))
        + f"; {records / seconds:.0f} appends/s on moto |",
    ]
    count, contended, retries = figures["contended"]
    http = sum(v for k, v in contended.items() if not k.startswith("op:"))
    lines.append(
        f"| overtaken every time (writer A) | {count} | {http} | {http / count:.2f} | "
        f"{retries} lost races retried ({retries / count:.2f} per record), incl. B's appends |"
    )
    checked, paged, seconds, intact = figures["verify_table"]
    http = sum(v for k, v in paged.items() if not k.startswith("op:"))
    lines.append(
        f"| verify from the table | {checked} | {http} | {http / max(checked, 1):.4f} | "
        f"intact={intact}, {seconds:.2f} s |"
    )
    count, sealed, verified, intact = figures["verify_memory"]
    lines.append(
        f"| seal + verify in memory | {count} | 0 | 0 | seal {count / sealed:,.0f}/s, "
        f"verify {count / verified:,.0f}/s, intact={intact} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit")
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--verify-records", type=int, default=20_000)
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(io.StringIO()):
        figures = run(args.records, args.verify_records)
    print(table(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
