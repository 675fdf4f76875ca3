"""template.yaml passes the same linters and scanners as `make template-check`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cfnlint.api import lint_file

from tests.template.cfn import FUNCTIONS, REPO, TEMPLATE_PATH

CHECKOV = REPO / ".venv-tools" / "bin" / "checkov"


def test_cfn_lint_reports_nothing() -> None:
    matches = lint_file(Path(TEMPLATE_PATH))
    assert not matches, "\n".join(f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches)


@pytest.fixture(scope="module")
def checkov_results() -> dict[str, list[dict[str, object]]]:
    if not CHECKOV.exists():
        pytest.skip(f"{CHECKOV} is missing: run `make template-check` once to install the scanner tools")
    completed = subprocess.run(
        [
            str(CHECKOV),
            "--compact",
            "--framework",
            "cloudformation",
            "--skip-download",  # offline: no Prisma Cloud guideline download
            "-o",
            "json",
            "-f",
            str(TEMPLATE_PATH),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.stdout.strip(), (
        f"checkov printed no report (exit {completed.returncode}):\n{completed.stderr}"
    )
    report = json.loads(completed.stdout)
    results: dict[str, list[dict[str, object]]] = report["results"]
    return results


def test_checkov_has_no_failed_checks(checkov_results: dict[str, list[dict[str, object]]]) -> None:
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in checkov_results["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert not checkov_results.get("parsing_errors")


def test_checkov_scans_the_sam_functions(checkov_results: dict[str, list[dict[str, object]]]) -> None:
    scanned = {
        str(check["resource"])
        for outcome in ("passed_checks", "skipped_checks")
        for check in checkov_results[outcome]
    }
    assert {f"AWS::Serverless::Function.{name}" for name in FUNCTIONS} <= scanned


def test_every_checkov_skip_gives_a_reason(checkov_results: dict[str, list[dict[str, object]]]) -> None:
    for check in checkov_results["skipped_checks"]:
        result = check["check_result"]
        assert isinstance(result, dict)
        comment = str(result.get("suppress_comment") or "")
        assert len(comment) >= 40 and comment != "No comment provided", (
            f"{check['check_id']} on {check['resource']} is skipped without a real reason"
        )
