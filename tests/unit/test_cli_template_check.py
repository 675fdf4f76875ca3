from __future__ import annotations

import pytest

from infra.cli import main


def test_template_check_names_the_ucs2_culprits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "check", "Hi – see you Tue… 👍"]) == 0
    out = capsys.readouterr().out
    assert "as written: UCS-2" in out
    assert "U+2013" in out and "U+2026" in out and "U+1F44D" in out
    assert "after normalization: UCS-2" in out  # the emoji still forces UCS-2
    assert "normalized text: Hi - see you Tue... 👍" in out


def test_template_check_warns_about_multi_segment_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "check", "x" * 161]) == 0
    out = capsys.readouterr().out
    assert "GSM-7, 161 characters, 161 units, 2 segments" in out
    assert "WARNING" in out


def test_template_check_plain_gsm_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "check", "Reply C to confirm"]) == 0
    out = capsys.readouterr().out
    assert "GSM-7, 18 characters, 18 units, 1 segment" in out
    assert "UCS-2" not in out and "WARNING" not in out


def test_scheduler_event_time_is_the_scheduled_instant_in_utc() -> None:
    from datetime import datetime, timedelta, timezone

    from infra.local.events import scheduler_event

    pacific = timezone(timedelta(hours=-8))
    event = scheduler_event(
        '{"time":"<aws.scheduler.scheduled-time>"}',
        scheduled_time=datetime(2026, 11, 24, 16, 0, tzinfo=pacific),
        schedule_arn="arn:aws:scheduler:us-east-1:1:schedule/default/x",
    )
    assert event["time"] == "2026-11-25T00:00:00Z"
