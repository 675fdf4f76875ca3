"""Inbox domain speed: triage per text, business hours per question, metrics over many conversations.

Pure Python, no AWS: these run inside the inbound and metrics functions on every text and every
``GET /inbox/metrics``, so their cost is per-request CPU. ``python -m bench.inbox`` prints the table.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.inbox.departments import DepartmentSettings
from shared.inbox.sla import ConversationSummary, metrics
from shared.inbox.triage import triage

TEXTS = [
    "my incision is bleeding, should I worry?",
    "Hi, can I move my appointment to Tuesday afternoon? Thanks",
    "no bleeding since yesterday, when can I shower",
    "necesito una receta nueva por favor, gracias",
    "I can't breathe and my chest hurts",
    "What is the copay for the visit last week? I got a bill for $40 and I thought it was covered" * 3,
]
SETTINGS = DepartmentSettings(
    time_zone="America/New_York",
    hours={
        "mon": [["08:30", "12:00"], ["13:00", "17:00"]],
        "tue": [["08:30", "12:00"], ["13:00", "17:00"]],
        "wed": [["08:30", "12:00"], ["13:00", "17:00"]],
        "thu": [["08:30", "12:00"], ["13:00", "17:00"]],
        "fri": [["08:30", "12:00"], ["22:00", "06:00"]],
    },
)


def _per_call(function: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat


def run(conversations: int = 10_000) -> list[tuple[str, float, str]]:
    rng = random.Random(12)
    hours = SETTINGS.business_hours()
    start = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    instants = [start + timedelta(minutes=rng.randrange(0, 60 * 24 * 28)) for _ in range(200)]
    rows: list[tuple[str, float, str]] = []
    for text in TEXTS[:2] + TEXTS[-1:]:
        rows.append(
            (f"triage, {len(text)} characters", _per_call(lambda t=text: triage(t), 2000), "per text")
        )
    cycle = iter(instants * 10)
    rows.append(("is_open", _per_call(lambda: hours.is_open(next(cycle)), 2000), "per question"))
    cycle = iter(instants * 10)
    rows.append(("closed_period", _per_call(lambda: hours.closed_period(next(cycle)), 2000), "per question"))
    cycle = iter(instants * 10)
    rows.append(
        (
            "business_minutes over 3 days",
            _per_call(lambda: hours.business_minutes(t := next(cycle), t + timedelta(days=3)), 2000),
            "per question",
        )
    )
    summaries = []
    for _ in range(conversations):
        arrived = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 28))
        replied = arrived + timedelta(minutes=rng.randrange(1, 60 * 24 * 3))
        closed = replied + timedelta(minutes=rng.randrange(1, 60 * 24 * 5))
        department = rng.choice(["nursing", "billing", "front-desk"])
        summaries.append(ConversationSummary(department, arrived, replied, closed))
    started = time.perf_counter()
    metrics(
        summaries,
        lambda _name: SETTINGS,
        period_start=start,
        period_end=start + timedelta(days=28),
        now=start + timedelta(days=40),
    )
    rows.append((f"metrics over {conversations:,} conversations", time.perf_counter() - started, "per call"))
    return rows


def table(rows: list[tuple[str, float, str]]) -> str:
    lines = ["| what | time | unit |", "|---|---:|---|"]
    for what, seconds, unit in rows:
        shown = f"{seconds * 1e6:,.0f} µs" if seconds < 0.01 else f"{seconds:,.2f} s"
        lines.append(f"| {what} | {shown} | {unit} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run()))
