"""Printing text that came from outside (patient texts, carrier reasons, template bodies, API answers) to a
terminal without letting it drive the terminal.

A patient's text holding ESC ``[2J`` would clear the operator's screen, an OSC sequence can set the window
title or (in some terminals) write the clipboard, a BEL rings, a carriage return or line break forges a line
of output, and a right-to-left override makes ``STOP`` read as something else. :func:`printable` shows each
such character as a visible escape instead (``\\x1b``, ``\\u202e``, ``\\n``), and doubles a backslash so
an escape can never be faked by typing one. Everything the CLI prints that it did not write itself goes
through it.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from shared.core.controls import is_control

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ZWJ = "\u200d"  # joins emoji (family, profession): shown as is


def _hidden(ch: str) -> bool:
    """A control, an invisible format character (zero-width space, BOM, tag characters) or an unpaired
    surrogate (which ``print`` cannot even encode)."""
    return is_control(ch) or (unicodedata.category(ch) in ("Cf", "Cs") and ch != _ZWJ)


def _escape(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    if not _hidden(ch):
        return ch
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(value: Any) -> str:
    """``value`` as text for a terminal: every control character (C0, DEL, C1, bidirectional controls,
    line and paragraph separators), invisible format character and unpaired surrogate shown as a visible
    escape, and a backslash doubled. ``None`` is shown as an empty string."""
    if value is None:
        return ""
    text = str(value)
    if "\\" not in text and not any(_hidden(ch) for ch in text):
        return text
    return "".join(_escape(ch) for ch in text)
