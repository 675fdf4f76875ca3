"""The web composer's segment counter (web/src/segments.ts) is tested against a table generated from
shared/core/segments.py; this checks that table is what the Python implementation says today, so a change
to the Python rules without regenerating the fixture fails here."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "web" / "scripts" / "segment_cases.py"
FIXTURE = ROOT / "web" / "test" / "segment-cases.json"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(  # our own script
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_fixture_is_current() -> None:
    result = _run("--check")
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_fixture(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert data["cases"], "the fixture has cases"
    data["cases"][0]["segments"] += 1
    stale = tmp_path / "segment-cases.json"
    stale.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    result = _run("--check", "--fixture", str(stale))
    assert result.returncode == 1
    assert "stale" in result.stderr
