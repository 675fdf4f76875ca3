"""End to end: the scripted sandbox story (what `make demo` plays) passes every check, and the
function logs it produced hold no phone number, name or message text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_story_passes_and_logs_hold_no_phi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from infra.demo import run_demo

    log_path = tmp_path / "functions.log"
    assert run_demo(log_path=log_path) == 0
    shown = capsys.readouterr().out
    assert "checks passed" in shown and "FAILED" not in shown
    assert "Hi Ana, reminder of your appointment" in shown  # the reminder story played
    assert "skipped_opted_out" in shown
    # the staff story: nursing answers with a canned response, billing's 404, urgent, after-hours, audit
    assert "[ok] the canned reply went out through the outbound pipeline" in shown
    assert "[ok] billing's 404 is identical to a missing conversation's" in shown
    assert "[ok] on-call was paged" in shown and "[ok] exactly one after-hours reply" in shown
    assert "demo.nurse  read" in shown and "demo.nurse  reply" in shown
    # the secure-message story (issue 13): wrong date of birth, right one, the answer in the thread
    assert (
        "[ok] the right one shows the message" in shown
        and "[ok] the nurse sees it opened and answered" in shown
    )

    log = log_path.read_text(encoding="utf-8")
    assert log.count('"level"') >= 5  # the functions did log, through Powertools
    assert not re.search(r"\+?1?206\s?555\s?01\d\d|2065550\d{3}", log), "a phone number reached the logs"
    phi_values = ("Dana", "Whitfield", "parking", "Saturdays", "Petrova", "Okonkwo", "Lindqvist", "Raman")
    staff_story = ("incision", "bleeding", "faint", "redness", "invoice")
    secure_story = ("normal range", "1975-06-30", "relief", "lab results")
    for phi in (
        *phi_values,
        *staff_story,
        *secure_story,
        "chemotherapy",
        "Oncology",
        "port flush",
        "medication list",
    ):
        assert phi not in log, f"{phi!r} reached the logs"


def test_demo_command_runs_in_a_clean_environment(tmp_path: Path) -> None:
    """`make demo` runs the CLI with none of the test suite's environment (a regression: Powertools was
    imported before the sandbox set its namespace, and every function failed)."""
    import os
    import subprocess
    import sys

    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "demo"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "checks passed" in result.stdout and "[FAILED]" not in result.stdout
