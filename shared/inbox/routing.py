"""Which department an inbound patient text goes to: the number texted, then words, else the default.

:func:`route` decides, in this order:

1. **The clinic number that was texted.** A department whose ``numbers`` hold it gets the text. When
   several departments list the same number, the text's keywords choose among them (as in 2), and
   without a keyword the default department when it is one of them, else the first by name.
2. **Words in the text.** Each department's ``keywords`` are matched as whole words (a phrase as
   consecutive words), case- and accent-insensitively, with a plural "s"/"es" tolerated ("bill" matches
   "Bills", "factura" matches "FACTURAS"; "bill" does not match "billing"). The department with the most
   distinct keywords in the text wins; a tie goes to the one whose first keyword comes earliest in the
   text, then to the first by name, so the same text always lands in the same place.
3. **The default department.**

The decision carries the rule that decided (``number``, ``keyword``, ``default``), never the words, so it
can be logged and counted without PHI. Pure domain code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from shared.inbox.departments import DepartmentSettings

Rule = Literal["number", "keyword", "default"]
_NOT_WORD: Final = re.compile(r"[^\w]+|_")


@dataclass(frozen=True)
class Route:
    department: str
    rule: Rule


def fold(text: str) -> list[str]:
    """``"Copáy? BILLS!"`` -> ``["copay", "bills"]``: accents and case folded, apostrophes dropped, words."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    folded = folded.replace("'", "").replace("\u2019", "")
    return [word for word in _NOT_WORD.sub(" ", folded).split() if word]


def _matches(words: list[str], keyword: list[str], at: int) -> bool:
    if at + len(keyword) > len(words):
        return False
    for offset, wanted in enumerate(keyword):
        word = words[at + offset]
        last = offset == len(keyword) - 1
        if word != wanted and not (last and word in (wanted + "s", wanted + "es")):
            return False
    return True


def _first_positions(words: list[str], keywords: list[str]) -> list[int]:
    """For each keyword found in ``words``, the index of its first occurrence."""
    found: list[int] = []
    for keyword in keywords:
        parts = fold(keyword)
        if not parts:
            continue
        for at in range(len(words)):
            if _matches(words, parts, at):
                found.append(at)
                break
    return found


def _by_keywords(words: list[str], candidates: Mapping[str, DepartmentSettings]) -> str | None:
    best: tuple[int, int, str] | None = None  # (-count, first position, name): smallest wins
    for name, settings in candidates.items():
        positions = _first_positions(words, settings.keywords)
        if positions:
            score = (-len(positions), min(positions), name)
            best = score if best is None or score < best else best
    return best[2] if best else None


def route(
    body: str,
    texted_number: str,
    departments: Mapping[str, DepartmentSettings],
    default_department: str,
) -> Route:
    """The department for an inbound text sent to ``texted_number`` (E.164); see the module docstring."""
    words = fold(body)
    owners = {name: settings for name, settings in departments.items() if texted_number in settings.numbers}
    if len(owners) == 1:
        return Route(next(iter(owners)), "number")
    if owners:
        chosen = _by_keywords(words, owners)
        if chosen is not None:
            return Route(chosen, "keyword")
        return Route(default_department if default_department in owners else min(owners), "number")
    chosen = _by_keywords(words, departments)
    if chosen is not None:
        return Route(chosen, "keyword")
    return Route(default_department, "default")
