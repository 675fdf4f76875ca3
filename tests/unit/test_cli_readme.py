"""The README's commands are real: every ``clinictext ...`` line in its shell and output blocks parses with
today's CLI, and the ones that need no sandbox (``template check``) run and succeed. (The sandbox ones
run against a sandbox in tests/e2e/test_sandbox_endpoints.py.) A README example the checker refuses, or a
flag that was renamed, fails here instead of in front of a new clinic."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from infra.cli import build_parser, main

README = Path(__file__).resolve().parents[2] / "README.md"
OFFLINE = {("template", "check")}  # commands that run without a sandbox


def readme_commands() -> list[list[str]]:
    """Arguments of every ``clinictext`` command in the README's ```sh and ```text blocks, in order."""
    commands = []
    for block in re.findall(r"^```(?:sh|text)\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S):
        for line in block.splitlines():
            for part in line.strip().removeprefix("$ ").split("&&"):
                words = shlex.split(part, comments=True)
                if words and Path(words[0]).name == "clinictext":
                    commands.append(words[1:])
    return commands


COMMANDS = readme_commands()


def test_the_readme_shows_the_commands_a_clinic_tries_first() -> None:
    shown = {tuple(args[:2]) if args[0] == "template" else (args[0],) for args in COMMANDS}
    for command in [("text",), ("outbox",), ("import",), ("run-reminders",), ("messages",), *OFFLINE]:
        assert command in shown, f"the README no longer shows `clinictext {' '.join(command)}`"


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(args)[:60] for args in COMMANDS])
def test_every_readme_command_parses(args: list[str]) -> None:
    build_parser().parse_args(args)  # argparse exits (SystemExit 2) on an unknown command or flag


@pytest.mark.parametrize(
    "args",
    [args for args in COMMANDS if tuple(args[:2]) in OFFLINE],
    ids=lambda args: " ".join(args)[:60],
)
def test_readme_template_checks_pass_the_checker(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "REFUSED" not in out and "placeholders: " in out


def test_the_sandbox_banner_suggests_commands_that_parse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make sandbox` tells a clinic to try next is as real as the README (no AWS is started)."""
    from infra.local.sandbox import Sandbox

    def start(self: Sandbox) -> Sandbox:
        self.aws_endpoint, self.api_url = "http://127.0.0.1:4566", "http://127.0.0.1:8787"
        return self

    def ctrl_c(self: Sandbox, interval: float = 0.5) -> None:
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Sandbox, "start", start)
    monkeypatch.setattr(Sandbox, "pump_forever", ctrl_c)
    monkeypatch.setattr(Sandbox, "stop", lambda self: None)
    assert main(["sandbox"]) == 0
    suggested = [
        shlex.split(line, comments=True)[1:]
        for line in capsys.readouterr().out.splitlines()
        if line.strip().startswith("clinictext ")
    ]
    assert len(suggested) >= 4 and ["import", "events/appointments.csv", "--dates-from-today"] in suggested
    for args in suggested:
        build_parser().parse_args(args)  # SystemExit on an unknown command or flag
