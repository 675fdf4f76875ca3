"""Cold-start cost of each handler: import time and resident memory of a fresh interpreter that imports
the handler module (what Lambda's init phase does), next to a minimal Powertools "hello" handler measured
in the same run, as a ratio. Each is measured ``runs`` times in a new process; the median is reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess  # nosec B404 - runs this interpreter on fixed code
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HELLO = "hello (Powertools Logger + Metrics + Tracer)"
# What Lambda runs in the init phase: import the module and build module-level objects.
_CHILD = r"""
import json, sys, time
started = time.perf_counter()
if sys.argv[1] == "hello":
    from aws_lambda_powertools import Logger, Metrics, Tracer
    logger, metrics, tracer = Logger(), Metrics(), Tracer()
    def handler(event, context):
        return "hello"
else:
    __import__(sys.argv[1])
elapsed = time.perf_counter() - started
# VmHWM: this process's peak resident set. ru_maxrss would not do: Linux keeps it across exec, so a child
# of a large benchmark process would report the parent's size.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "rss_kib": peak}))
"""


@dataclass(frozen=True)
class ColdStart:
    name: str
    seconds: float
    rss_mib: float


def _handlers() -> list[tuple[str, str]]:
    from infra.local.cfn_yaml import load_template

    resources = load_template(REPO / "template.yaml")["Resources"]
    return sorted(
        (logical, str(spec["Properties"]["Handler"]).rsplit(".", 1)[0])
        for logical, spec in resources.items()
        if spec["Type"] == "AWS::Serverless::Function"
    )


def measure(target: str, runs: int) -> tuple[float, float]:
    env = {
        **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}},
        "PYTHONPATH": str(REPO),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "ClinicText",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    seconds, rss = [], []
    for _ in range(runs):
        done = subprocess.run(  # our interpreter, fixed child code  # nosec B603
            [sys.executable, "-c", _CHILD, target], capture_output=True, text=True, env=env, check=True
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        seconds.append(figures["seconds"])
        rss.append(figures["rss_kib"] / 1024)
    return statistics.median(seconds), statistics.median(rss)


def run(runs: int = 5) -> list[ColdStart]:
    results = [ColdStart(HELLO, *measure("hello", runs))]
    for logical, module in _handlers():
        results.append(ColdStart(logical, *measure(module, runs)))
    return results


def table(results: list[ColdStart]) -> str:
    hello = results[0]
    lines = [
        f"Median of 5 fresh interpreters each (Python {sys.version.split()[0]}); ratios against {HELLO}.",
        "",
        "| handler | import s | x hello | peak RSS MiB | x hello |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.seconds:.3f} | {r.seconds / hello.seconds:.1f} | {r.rss_mib:.1f} | "
            f"{r.rss_mib / hello.rss_mib:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run()))
