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

    log = log_path.read_text(encoding="utf-8")
    assert log.count('"level"') >= 5  # the functions did log, through Powertools
    assert not re.search(r"\+?1?206\s?555\s?01\d\d|2065550\d{3}", log), "a phone number reached the logs"
    phi_values = ("Dana", "Whitfield", "parking", "Saturdays", "Petrova", "Okonkwo", "Lindqvist", "Raman")
    for phi in (*phi_values, "chemotherapy", "Oncology", "port flush", "medication list"):
        assert phi not in log, f"{phi!r} reached the logs"
