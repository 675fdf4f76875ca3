"""Carrier keywords (CTIA): whole-message match, insensitive to case, spaces, punctuation and accents."""

from __future__ import annotations

import re
import unicodedata

from shared.core.models import InboundKind

OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "REMOVE", "ARRET", "TD"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_NOT_LETTERS = re.compile(r"[^A-Z0-9]+")


def canonical(body: str) -> str:
    """``" Stop-All! "`` -> ``"STOPALL"``; ``"Arrêt"`` -> ``"ARRET"``."""
    decomposed = unicodedata.normalize("NFKD", body)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_LETTERS.sub("", without_marks.upper())


def classify_keyword(body: str) -> tuple[InboundKind, str | None]:
    """The carrier-keyword class of a whole message and the canonical keyword, or OTHER."""
    word = canonical(body)
    if word in OPT_OUT_WORDS:
        return InboundKind.OPT_OUT, word
    if word in OPT_IN_WORDS:
        return InboundKind.OPT_IN, word
    if word in HELP_WORDS:
        return InboundKind.HELP, word
    return InboundKind.OTHER, None
