"""``clinictext text`` and the README's commands against one sandbox started for the module: ``text``
shows what the patient would receive and exits 1 with the reason when the text is refused; every
``clinictext`` command the README shows runs and succeeds (offline ones: tests/unit/test_cli_readme.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from infra.cli import main

# A refused fan-out run adds no metric; Powertools warns about that, which is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from infra.local.sandbox import Sandbox

    with Sandbox(seed_staff=True) as running:
        yield running


# -- clinictext text ---------------------------------------------------------------------------------
def test_text_shows_the_reply_the_patient_gets(sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    api = ["--api", sandbox.api_url]
    assert main(["text", "--from", "+12065550181", "STOP", *api]) == 0
    out = capsys.readouterr().out
    assert "handled as opt_out" in out
    assert "clinic -> +1206•••0181: Riverside Family Clinic: You are unsubscribed" in out
    assert "202" not in out and "delivered" not in out

    assert main(["text", "--from", "+12065550181", "STOP", *api]) == 0  # one confirmation only
    out = capsys.readouterr().out
    assert "clinic ->" not in out and "no reply" in out

    assert main(["text", "--from", "+12065550182", "HELP", "--twilio", *api]) == 0  # the TwiML reply
    out = capsys.readouterr().out
    assert "(Twilio webhook)" in out
    assert "clinic -> +1206•••0182: Riverside Family Clinic: appointment reminders" in out


@pytest.mark.parametrize("channel", [[], ["--twilio"]])
@pytest.mark.parametrize("number", ["+1206555", "2065550183", "+1 206 555 0183"])
def test_text_from_a_refused_number_exits_nonzero_with_the_reason(
    sandbox: Any, capsys: pytest.CaptureFixture[str], number: str, channel: list[str]
) -> None:
    before = len(sandbox.outbox())
    assert main(["text", "--from", number, "STOP", *channel, "--api", sandbox.api_url]) == 1
    out = capsys.readouterr().out
    assert "refused" in out and "E.164" in out
    assert len(sandbox.outbox()) == before  # nothing was texted


def test_text_output_escapes_terminal_control_characters(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["text", "--from", "+12065550184", "hi\x1b[2J\x07", "--api", sandbox.api_url]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "hi\\x1b[2J\\x07" in out


def test_cli_says_when_no_sandbox_is_listening(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["outbox", "--api", f"http://127.0.0.1:{port}"]) == 2
    assert "is `make sandbox` running?" in capsys.readouterr().out


# -- the README, walked ------------------------------------------------------------------------------------
def test_the_readme_commands_run_against_the_sandbox(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from infra import cli
    from tests.unit.test_cli_readme import COMMANDS, OFFLINE, README

    monkeypatch.chdir(README.parent)  # the README's paths (events/appointments.csv) are the repo's
    monkeypatch.setattr(cli, "SANDBOX_DIR", tmp_path)  # the staff token file, kept out of the checkout
    # `staff login` asks for the password the sandbox printed at start: type it in.
    passwords = {user: password for user, (_groups, password) in sandbox.seeded_staff.items()}
    monkeypatch.setattr(
        "getpass.getpass", lambda prompt="": passwords[prompt.removeprefix("password for ").rstrip(": ")]
    )
    # `audit verify` points this process at the sandbox's AWS, as a CLI run would: put it back afterwards.
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.setenv(name, "")  # registers "unset" as what teardown restores
            monkeypatch.delenv(name)
    walked = 0
    for args in COMMANDS:
        if tuple(args[:2]) in OFFLINE:
            continue  # run in tests/unit/test_cli_readme.py
        code = main([*args, "--api", sandbox.api_url])
        out = capsys.readouterr().out
        assert "Traceback" not in out
        if "--table" in args:
            # The deployed form with the README's placeholders (TABLE, KEY, ...): refused before any AWS call.
            assert code == 2 and "--key-arn must be a KMS key ARN" in out, out
            continue
        assert code == 0, f"`clinictext {' '.join(args)}` exited {code}:\n{out}"
        walked += 1
    assert walked >= 6
