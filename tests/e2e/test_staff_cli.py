"""``clinictext staff`` and ``clinictext inbox`` against a running sandbox: an admin-created user's first
login answers NEW_PASSWORD_REQUIRED, the tokens are kept in a file only its owner can read, and the
inbox commands use them."""

from __future__ import annotations

import io
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import cli


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from infra.local.sandbox import Sandbox

    with Sandbox() as running:
        yield running


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = ""
) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_add_login_with_a_new_password_and_use_the_inbox(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "SANDBOX_DIR", tmp_path)
    api = ("--api", sandbox.api_url)
    code, out = run(
        monkeypatch, capsys, "staff", "add", "--user", "rita.nurse", "--department", "nursing", *api
    )
    assert code == 0, out
    temporary = re.search(r"temporary password .*: (\S+)", out)
    assert temporary is not None
    new_password = "Chosen-Pass-4242!x"
    code, out = run(
        monkeypatch,
        capsys,
        "staff",
        "login",
        "--user",
        "rita.nurse",
        "--password-stdin",
        *api,
        stdin=f"{temporary.group(1)}\n{new_password}\n",
    )
    assert code == 0, out
    assert "choose a new password" in out
    token_file = tmp_path / "staff-tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert temporary.group(1) not in token_file.read_text() and new_password not in token_file.read_text()
    code, out = run(monkeypatch, capsys, "inbox", "me")
    assert code == 0, out
    me = json.loads(out)
    assert me["username"] == "rita.nurse" and me["departments"] == ["nursing"]
    code, out = run(monkeypatch, capsys, "inbox", "audit", "--user", me["user_id"])
    assert code == 1 and "admins" in out  # a nurse may not read the trail
    # The new password works from now on; the temporary one no longer does.
    assert (
        run(
            monkeypatch,
            capsys,
            "staff",
            "login",
            "--user",
            "rita.nurse",
            "--password-stdin",
            *api,
            stdin=f"{new_password}\n",
        )[0]
        == 0
    )
    code, out = run(
        monkeypatch,
        capsys,
        "staff",
        "login",
        "--user",
        "rita.nurse",
        "--password-stdin",
        *api,
        stdin=f"{temporary.group(1)}\n",
    )
    assert code == 1 and "refused" in out


def test_a_token_file_others_can_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "SANDBOX_DIR", tmp_path)
    token_file = tmp_path / "staff-tokens.json"
    token_file.write_text(json.dumps({"api": "http://127.0.0.1:1", "access_token": "x", "expires_at": 2**40}))
    token_file.chmod(0o644)
    with pytest.raises(SystemExit) as refused:
        cli.main(["inbox", "me"])
    assert "readable by others" in str(refused.value)
