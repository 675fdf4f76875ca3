"""``make bench``: benchmarks that print figures (never pass/fail tests).

python -m bench [--reminders N] [--pacing-scale X] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess  # nosec B404 - reads the git revision only
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# No benchmark may reach real AWS: fake credentials before anything builds a client.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ClinicText",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)


def machine() -> str:
    try:
        revision = subprocess.run(  # fixed git command  # nosec B603
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        revision = "?"
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; commit {revision or '?'}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--reminders", type=int, default=1000, help="reminders through the pipeline, per rate"
    )
    parser.add_argument(
        "--fast-pollers",
        type=int,
        default=None,
        help="SenderConcurrency at 100 parts/s (default: what template.yaml picks for ShortCode)",
    )
    parser.add_argument(
        "--slow-pollers",
        type=int,
        default=None,
        help="SenderConcurrency at 1 part/s (default: what template.yaml picks for TenDLC)",
    )
    parser.add_argument("--pacing-scale", type=float, default=0.5, help="fraction of each pacing scenario")
    parser.add_argument("--write", type=Path, help="also write the report (markdown) to this file")
    args = parser.parse_args(argv)

    import contextlib
    import io

    from bench import coldstart, fanout, inbox, kms, pacing, requests

    pollers = "".join(
        f" --{name}-pollers {value}"
        for name, value in (("fast", args.fast_pollers), ("slow", args.slow_pollers))
        if value is not None
    )
    sections = [
        f"Machine: {machine()}",
        f"Command: `python -m bench --reminders {args.reminders} "
        f"--pacing-scale {args.pacing_scale}{pollers}` (`make bench`)",
    ]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the functions' JSON logs and metrics
        runs = requests.run(args.reminders, fast_pollers=args.fast_pollers, slow_pollers=args.slow_pollers)
    sections += [
        "",
        "## AWS requests per delivered reminder, all in, at 100 and 1 parts/s (moto, in-process)",
        "",
        requests.table(runs),
    ]
    print("\n".join(sections), flush=True)
    for title, make in (
        (
            "KMS per 1,000 texts: one sender container, 1,000 texts in one cache window",
            lambda: kms.table(kms.run(), ingest_containers=5, windows=3),
        ),
        (
            "Fan-out at scale: 10,000 and 100,000 due reminders (in-memory index)",
            lambda: fanout.table(fanout.run()),
        ),
        (
            "Cold start: init + first invocation and resident memory per handler",
            lambda: coldstart.table(coldstart.run()),
        ),
        ("Inbox domain: triage, business hours, metrics (pure Python)", lambda: inbox.table(inbox.run())),
        (
            "Pacing accuracy (achieved vs configured send rate)",
            lambda: pacing.table(pacing.run_all(args.pacing_scale)),
        ),
    ):
        body = make()
        sections += ["", f"## {title}", "", body]
        print(f"\n## {title}\n\n{body}", flush=True)
    print(f"\n(benchmarks took {time.perf_counter() - started:.0f} s)")
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("\n".join(sections) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
