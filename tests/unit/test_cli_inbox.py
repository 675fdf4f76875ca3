"""``clinictext inbox start | metrics | staff | assign --user``: the requests the CLI makes of the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra import staff
from infra.cli import build_parser


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> list[tuple[str, str, Any]]:
    calls: list[tuple[str, str, Any]] = []

    def fake(sandbox_dir: Any, method: str, path: str, body: Any = None, *, api: str | None = None) -> Any:
        calls.append((method, path, body))
        return 200, {"ok": True}

    monkeypatch.setattr(staff, "_staff_call", fake)
    return calls


def run(*argv: str) -> int:
    args = build_parser().parse_args(["inbox", *argv])
    return staff.cmd_inbox(args, Path("/nonexistent"))


def test_start_posts_the_number_department_and_body(sent: list[Any]) -> None:
    assert run("start", "--phone", "+12065550177", "--department", "nursing", "--body", "Hello") == 0
    assert sent == [
        ("POST", "/inbox/conversations", {"phone": "+12065550177", "department": "nursing", "body": "Hello"})
    ]
    sent.clear()
    run("start", "--phone", "+12065550177", "--department", "nursing", "--canned", "cr_x")
    assert sent[0][2] == {"phone": "+12065550177", "department": "nursing", "canned_response_id": "cr_x"}


def test_metrics_and_staff_query_the_api(sent: list[Any]) -> None:
    run(
        "metrics",
        "--department",
        "nursing",
        "--from",
        "2027-03-01",
        "--to",
        "2027-03-07",
        "--granularity",
        "day",
    )
    run("metrics")
    run("staff", "--department", "front-desk")
    assert sent == [
        ("GET", "/inbox/metrics?department=nursing&from=2027-03-01&to=2027-03-07&granularity=day", None),
        ("GET", "/inbox/metrics", None),
        ("GET", "/inbox/staff?department=front-desk", None),
    ]


def test_assign_takes_a_user_or_a_department(sent: list[Any]) -> None:
    run("assign", "c_AAAAAAAAAAAAAAAAAAAAAA", "--version", "3", "--user", "noah.nurse")
    run("assign", "c_AAAAAAAAAAAAAAAAAAAAAA", "--version", "4", "--department", "billing")
    assert [body for _m, _p, body in sent] == [
        {"version": 3, "user": "noah.nurse"},
        {"version": 4, "department": "billing"},
    ]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inbox", "assign", "c_x", "--version", "1"])


def test_export_asks_for_the_transcript_and_prints_it_escaped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def fake(sandbox_dir: Any, method: str, path: str, body: Any = None, *, api: str | None = None) -> Any:
        calls.append(f"{method} {path}")
        if "format=json" in path:
            return 200, {"export": {"messages": 1}}
        return 200, "Conversation transcript\n    hi \x1b[2J there\n"

    monkeypatch.setattr(staff, "_staff_call", fake)
    assert run("export", "c_AAAAAAAAAAAAAAAAAAAAAA") == 0
    out = capsys.readouterr().out
    assert out == "Conversation transcript\n    hi \\x1b[2J there\n"  # ESC shown, never sent to the terminal
    assert run("export", "c_AAAAAAAAAAAAAAAAAAAAAA", "--format", "json") == 0
    assert '"messages": 1' in capsys.readouterr().out
    assert calls == [
        "GET /inbox/conversations/c_AAAAAAAAAAAAAAAAAAAAAA/export?format=text",
        "GET /inbox/conversations/c_AAAAAAAAAAAAAAAAAAAAAA/export?format=json",
    ]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inbox", "export", "c_x", "--format", "pdf"])
