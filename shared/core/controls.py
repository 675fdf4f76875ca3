"""Control characters: which characters are not text, and how to name them in an error a person can act on.

"Control" here means what must never be taken for text: C0 controls (U+0000-U+001F), DEL, C1 controls
(U+0080-U+009F; U+009B is a terminal's CSI), the Unicode bidirectional controls that reorder what a reader
sees (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), and the line and paragraph separators
U+2028/U+2029. Templates refuse them (:mod:`shared.templates.domain`); the CLI escapes them before printing
text that came from outside (:mod:`infra.terminal`).
"""

from __future__ import annotations

import unicodedata

# The short names of ISO 6429 / Unicode for U+0000-U+001F and U+0080-U+009F.
_C0 = (
    *("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI"),
    *(
        "DLE",
        "DC1",
        "DC2",
        "DC3",
        "DC4",
        "NAK",
        "SYN",
        "ETB",
        "CAN",
        "EM",
        "SUB",
        "ESC",
        "FS",
        "GS",
        "RS",
        "US",
    ),
)
_C1 = (
    *("PAD", "HOP", "BPH", "NBH", "IND", "NEL", "SSA", "ESA", "HTS", "HTJ", "VTS", "PLD", "PLU", "RI", "SS2"),
    *("SS3", "DCS", "PU1", "PU2", "STS", "CCH", "MW", "SPA", "EPA", "SOS", "SGCI", "SCI", "CSI", "ST", "OSC"),
    *("PM", "APC"),
)
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
SEPARATORS = frozenset("\u2028\u2029")


def is_control(ch: str) -> bool:
    """True for a C0 or C1 control, DEL, a bidirectional control, or a line/paragraph separator."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or ch in BIDI_CONTROLS or ch in SEPARATORS


def describe(ch: str) -> str:
    """``U+001B (ESC)``, ``U+202E (RIGHT-TO-LEFT OVERRIDE)``: the code point and its short name."""
    code = ord(ch)
    if code < 0x20:
        name = _C0[code]
    elif code == 0x7F:
        name = "DEL"
    elif 0x80 <= code <= 0x9F:
        name = _C1[code - 0x80]
    else:
        name = unicodedata.name(ch, "unnamed")
    return f"U+{code:04X} ({name})"


def controls_in(text: str, *, allowed: str = "") -> list[tuple[int, str]]:
    """Every control character in ``text`` but those in ``allowed``, as (1-based position, character)."""
    return [(i, ch) for i, ch in enumerate(text, start=1) if is_control(ch) and ch not in allowed]
