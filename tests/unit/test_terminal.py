"""Issue 10 §6: text that reaches a terminal is escaped (``clinictext messages --bodies`` printed raw ESC/BEL
from patient texts). One helper, :func:`infra.terminal.printable`, for everything the CLI prints that came
from outside."""

from __future__ import annotations

import argparse
import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.terminal import printable

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\rSTOP\u202eDNE\x9b31m\n2026-01-01T00:00:00Z inbound forged\x00\ud800"


def unescape(shown: str) -> str:
    """Read the escapes back (they are Python's own), to prove nothing is lost or ambiguous."""
    return shown.encode("latin-1", "backslashreplace").decode("unicode_escape")


def test_controls_bidi_and_invisible_characters_are_shown_as_escapes():
    shown = printable(HOSTILE)
    assert shown == (
        "\\x1b[2J\\x1b]0;pwned\\x07\\rSTOP\\u202eDNE\\x9b31m\\n"
        "2026-01-01T00:00:00Z inbound forged\\x00\\ud800"
    )
    assert printable("a\u200bb\ufeff") == "a\\u200bb\\ufeff"
    assert printable("\U000e0041") == "\\U000e0041"


def test_ordinary_text_is_shown_as_it_is():
    for text in ("Hi Ann, see you Tue Nov 24 at 3:30 PM", "¿Puedo cambiar la cita? 👍", "👨\u200d👩\u200d👧"):
        assert printable(text) == text
    assert printable(None) == ""


def test_a_backslash_is_doubled_so_an_escape_cannot_be_typed():
    assert printable("C:\\x1b") == "C:\\\\x1b"
    assert unescape(printable("C:\\x1b")) == "C:\\x1b"


def _dangerous(ch: str) -> bool:
    code = ord(ch)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or ch in "\u2028\u2029"
        or (unicodedata.category(ch) in ("Cf", "Cs") and ch != "\u200d")
    )


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(codec=None), max_size=60))
def test_nothing_dangerous_survives_and_nothing_is_lost(text: str) -> None:
    shown = printable(text)
    assert not any(_dangerous(ch) for ch in shown)
    shown.encode("utf-8")  # printable even where a lone surrogate was
    assert unescape(shown) == text


def test_messages_bodies_reach_the_terminal_escaped(monkeypatch, capsys):
    from infra import cli

    answer = {
        "messages": [
            {
                "created_at": "2026-11-23T17:04:05.000000Z",
                "direction": "inbound",
                "kind": "other",
                "status": "failed",
                "template": "reminder@v1\x1b[0m",
                "delivery": {"detail": "carrier\x07 said\x1b]0;x\x07"},
                "body": HOSTILE,
            }
        ]
    }
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: (200, json.dumps(answer)))
    args = argparse.Namespace(phone="+12065550123", limit=5, bodies=True, api="http://x")
    assert cli.cmd_messages(args) == 0
    out = capsys.readouterr().out
    assert not any(_dangerous(ch) for ch in out.replace("\n", "")), out
    assert "\\x1b[2J" in out and "carrier\\x07 said" in out and "reminder@v1\\x1b[0m" in out
    assert out.count("\n") == 2  # one line for the record, one for its body: no forged line


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("outbox", [{"to": "+12065550123", "text": HOSTILE}]),
        (
            "show",
            {
                "template": {
                    "name": "reminder",
                    "version": 1,
                    "encoding": "GSM-7",
                    "segments": 1,
                    "body": HOSTILE,
                    "saved_at": "2026",
                    "saved_by": "arn\x1b[1m",
                },
                "versions": [],
            },
        ),
        ("error", {"error": {"message": HOSTILE}}),
    ],
)
def test_every_command_printing_outside_text_escapes_it(monkeypatch, capsys, command, answer: Any):
    from infra import cli

    status = 400 if command == "error" else 200
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: (status, json.dumps(answer)))
    if command == "outbox":
        cli.cmd_outbox(argparse.Namespace(api="http://x"))
    elif command == "show":
        cli.cmd_template_show(argparse.Namespace(api="http://x", name="reminder"))
    else:
        cli.cmd_messages(argparse.Namespace(phone="+12065550123", limit=5, bodies=True, api="http://x"))
    out = capsys.readouterr().out
    assert "\\x1b" in out
    assert not any(_dangerous(ch) for ch in out.replace("\n", "")), out
