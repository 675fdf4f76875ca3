"""``clinictext import`` and ``clinictext run-reminders`` against one sandbox started for the module."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.cli import main

# A refused fan-out run adds no metric; Powertools warns about that, which is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

# Far enough ahead that the two-day reminder is still to come (the book plans against the wall clock).
START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=17, minute=30, second=0, microsecond=0)
TWO_DAYS_BEFORE = START - timedelta(days=2)


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    from infra.local.sandbox import Sandbox

    with Sandbox() as sandbox:
        yield sandbox.api_url


def write_csv(tmp_path: Path, rows: list[str]) -> str:
    path = tmp_path / "appointments.csv"
    header = "Appointment ID,start,patient_id,mobile_phone,first_name,time_zone,reason\n"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_import_reports_each_row_and_run_reminders_counts(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = write_csv(
        tmp_path,
        [
            f"cli-1,{START.isoformat()},P-1,(206) 555-0138,Rosa,America/Los_Angeles,Diabetes follow-up",
            f"cli-2,{START.isoformat()},P-2,555-1234-99,Ivan,America/Los_Angeles,Prenatal visit",
            f"cli-3,{START.isoformat()},P-3,+12065550139,Lee,Mars/Olympus_Mons,",
        ],
    )
    assert main(["import", csv_path, "--api", api]) == 1  # a refused row makes the exit code 1
    out = capsys.readouterr().out
    due = [f"{START - timedelta(minutes=m):%Y-%m-%dT%H:%M}Z" for m in (2880, 120)]
    assert f"row    2: booked (created): 2 reminders planned, due {due[0]}, {due[1]}" in out
    assert "row    3: refused  mobile_phone:" in out
    assert "row    4: refused  time_zone:" in out
    assert "ignored columns (never stored): reason" in out
    assert "1 accepted, 2 refused, 2 reminders planned" in out
    at = (TWO_DAYS_BEFORE + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"send it with: clinictext run-reminders --at {at}" in out
    for value in ("555-1234-99", "Mars/Olympus_Mons", "Diabetes", "Ivan"):
        assert value not in out  # the report names columns, never values

    assert main(["import", csv_path, "--api", api]) == 1
    assert "row    2: booked (unchanged): 2 reminders planned" in capsys.readouterr().out

    at = (TWO_DAYS_BEFORE + timedelta(minutes=5)).isoformat()
    assert main(["run-reminders", "--at", at, "--api", api]) == 0
    out = capsys.readouterr().out
    assert "found 1, queued 1" in out and "hour buckets" in out
    assert main(["run-reminders", "--at", at, "--api", api]) == 0  # a replay of the same run
    assert "queued 0" in capsys.readouterr().out

    window = ["--start", (TWO_DAYS_BEFORE - timedelta(hours=1)).isoformat(), "--end", at]
    assert main(["run-reminders", *window, "--api", api]) == 0
    out = capsys.readouterr().out
    assert "queued 0" in out and f"{TWO_DAYS_BEFORE - timedelta(hours=1):%Y-%m-%dT%H}" in out


def test_import_refuses_a_file_without_the_required_columns(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("appointment_id,start\nx-1,2030-01-01T09:00:00Z\n", encoding="utf-8")
    assert main(["import", str(path), "--api", api]) == 1
    out = capsys.readouterr().out
    assert out.startswith("import refused (400):") and "mobile_phone" in out
    assert main(["import", str(tmp_path / "missing.csv"), "--api", api]) == 2


def test_run_reminders_refuses_bad_windows(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "run-reminders",
                "--start",
                "2030-01-02T00:00:00Z",
                "--end",
                "2030-01-01T00:00:00Z",
                "--api",
                api,
            ]
        )
        == 1
    )
    assert "run refused (400): window.start must be before window.end" in capsys.readouterr().out
    assert main(["run-reminders", "--at", "2030-01-01T09:00", "--api", api]) == 1
    assert "needs a UTC offset" in capsys.readouterr().out
    assert main(["run-reminders", "--start", "2030-01-01T00:00:00Z", "--api", api]) == 2
    assert main(["run-reminders", "--at", "2030-01-01T00:00:00Z", "--end", "2030-01-02T00:00:00Z"]) == 2


def test_import_to_a_deployed_api_goes_through_post_appointments_signed(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox's API Gateway requires a SigV4 Authorization header, as the deployed one does.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "deployed-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "deployed-test")
    csv_path = write_csv(
        tmp_path,
        [
            f"dep-1,{START.isoformat()},P-7,(206) 555-0137,Rosa,America/Los_Angeles,Diabetes follow-up",
            f"dep-2,{START.isoformat()},P-8,not-a-number,Ivan,America/Los_Angeles,",
            f"dep-3,{START.isoformat()},P-9,+1 800 555 0199,Lena,America/Los_Angeles,",
        ],
    )
    assert main(["import", csv_path, "--deployed", "--api", api, "--region", "us-east-1"]) == 1
    out = capsys.readouterr().out
    assert "row    2: 201 Created" in out
    assert "row    3: refused  mobile_phone:" in out
    [toll_free] = [line for line in out.splitlines() if line.startswith("row    4:")]
    assert toll_free.startswith("row    4: 201 Created  mobile_phone is a toll-free number")
    assert "No reminder will be sent" in toll_free
    assert "2 sent, 1 refused" in out
    assert "Diabetes" not in out and "0137" not in out


def test_import_says_what_each_row_planned_and_why_some_plan_nothing(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 10 §7: a cancelled row was reported "accepted (created)", and rows planning no reminder said
    # nothing about it.
    path = tmp_path / "why.csv"
    soon = datetime.now(UTC) + timedelta(minutes=30)
    path.write_text(
        "appointment_id,start,patient_id,mobile_phone,status,first_name\n"
        f"why-1,{START.isoformat()},P-21,+1 800 555 0199,booked,Lena\n"
        "why-2,,,,cancelled,\n"
        f"why-3,{START.isoformat()},P-23,+12065550152,proposed,Omar\n"
        f"why-4,{soon.isoformat()},P-24,+12065550153,booked,Ana\n",
        encoding="utf-8",
    )

    assert main(["import", str(path), "--api", api]) == 0
    out = capsys.readouterr().out

    assert "row    2: booked (created): no reminder: mobile_phone is a toll-free number" in out
    assert "row    3: cancelled (created): its reminders are stopped" in out
    assert "row    4: proposed (created): no reminder: only booked appointments are reminded" in out
    assert "row    5: booked (created): no reminder: every reminder time before the start" in out
    assert "accepted (created)" not in out
    assert "4 accepted, 0 refused, 0 reminders planned" in out
    for value in ("Lena", "Omar", "Ana", "0199", "0152"):
        assert value not in out


def test_the_sample_file_rehearses_whenever_it_is_run(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(Path(__file__).resolve().parents[2] / "events" / "appointments.csv")

    # As it is, its dates have passed: the report says so, and how to rehearse with it.
    assert main(["import", sample, "--api", api]) == 0
    out = capsys.readouterr().out
    assert "no reminder: every reminder time before the start" in out
    assert "add --dates-from-today" in out

    assert main(["import", sample, "--dates-from-today", "--api", api]) == 0
    out = capsys.readouterr().out
    assert "rehearsal: every start and end moved" in out
    assert "row    2: booked (updated): 2 reminders planned" in out
    assert "row    5: cancelled" in out and "its reminders are stopped" in out
    assert "row    7: booked (updated): no reminder: mobile_phone is a toll-free number" in out
    assert "row    8: proposed (updated): no reminder: only booked appointments are reminded" in out
    [hint] = [line for line in out.splitlines() if "send it with:" in line]
    command = hint.split("send it with: clinictext ", 1)[1].split()

    # The printed next step sends the first reminder.
    assert main([*command, "--api", api]) == 0
    out = capsys.readouterr().out
    assert "queued 1" in out or "queued 2" in out
    from urllib.request import urlopen

    with urlopen(f"{api}/_sandbox/outbox") as response:  # the local sandbox
        texts = [sms["text"] for sms in __import__("json").loads(response.read())]
    assert any("Hi Rosa" in text for text in texts)
