"""SMS encoding and segment calculator (GSM 03.38 GSM-7 and UCS-2), and GSM-7 normalisation.

Carriers bill per segment, so the segment count of every outbound message is a cost metric, and one
non-GSM character (a curly quote pasted from a word processor, an en dash, an emoji) switches the whole
message to UCS-2 and roughly doubles that cost. This module answers three questions without any AWS or
network access:

* :func:`analyze` - which encoding a text needs, how many code units and segments it takes, and which
  characters forced UCS-2.
* :func:`normalize_for_gsm` - replace typographic look-alikes (curly quotes, dashes, ellipsis, unusual
  spaces, zero-width characters, bullets) with their GSM-7 equivalents, leaving real content alone.
* :func:`is_gsm7` - whether a text can be sent in GSM-7 as it is.

Rules (3GPP TS 23.038 / GSM 03.38 default alphabet, TS 23.040 concatenation):

* GSM-7: one septet per basic-table character; the extension-table characters ``€ [ ] { } \\ ^ ~ |`` (and
  form feed) are sent as ESC + character, i.e. two septets. 160 septets fit one segment; a concatenated
  message loses 7 septets per part to the user data header, leaving 153.
* UCS-2 (in practice UTF-16): one unit per BMP code point, two (a surrogate pair) for anything above
  U+FFFF such as most emoji. 70 units fit one segment; 67 per part when concatenated.
* A part boundary never splits an escape pair or a surrogate pair, so a part can hold one unit fewer than
  its limit and a message can need one more segment than ``ceil(units / limit)``.

PyPI has a few small packages in this space (``smsutil``, last release 2020, no segment-safe handling of
national shift tables; ``sms-counter`` and ``smssafe``, 0.0.1 releases; ``gsm0338``, a codec only; and
``py-smsify``, which transliterates emoji away). None is a maintained, clearly better counter, and the
rules above are small and fully specified, so they are implemented here.
"""

import unicodedata
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "GSM7_BASIC",
    "GSM7_CONCAT_LIMIT",
    "GSM7_EXTENSION",
    "GSM7_SINGLE_LIMIT",
    "NORMALIZATION_MAP",
    "UCS2_CONCAT_LIMIT",
    "UCS2_SINGLE_LIMIT",
    "Encoding",
    "SegmentReport",
    "analyze",
    "is_gsm7",
    "normalize_for_gsm",
    "split_segments",
]

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_SINGLE_LIMIT: Final = 160
GSM7_CONCAT_LIMIT: Final = 153
UCS2_SINGLE_LIMIT: Final = 70
UCS2_CONCAT_LIMIT: Final = 67

# GSM 03.38 default alphabet, in code order 0x00-0x7F. 0x1B (ESC) is the escape to the extension table,
# not a character of its own, so it is left out.
GSM7_BASIC: Final[frozenset[str]] = frozenset(
    "@\N{POUND SIGN}$\N{YEN SIGN}\N{LATIN SMALL LETTER E WITH GRAVE}\N{LATIN SMALL LETTER E WITH ACUTE}"
    "\N{LATIN SMALL LETTER U WITH GRAVE}\N{LATIN SMALL LETTER I WITH GRAVE}"
    "\N{LATIN SMALL LETTER O WITH GRAVE}\N{LATIN CAPITAL LETTER C WITH CEDILLA}\n"
    "\N{LATIN CAPITAL LETTER O WITH STROKE}\N{LATIN SMALL LETTER O WITH STROKE}\r"
    "\N{LATIN CAPITAL LETTER A WITH RING ABOVE}\N{LATIN SMALL LETTER A WITH RING ABOVE}"
    "\N{GREEK CAPITAL LETTER DELTA}_\N{GREEK CAPITAL LETTER PHI}\N{GREEK CAPITAL LETTER GAMMA}"
    "\N{GREEK CAPITAL LETTER LAMDA}\N{GREEK CAPITAL LETTER OMEGA}\N{GREEK CAPITAL LETTER PI}"
    "\N{GREEK CAPITAL LETTER PSI}\N{GREEK CAPITAL LETTER SIGMA}\N{GREEK CAPITAL LETTER THETA}"
    "\N{GREEK CAPITAL LETTER XI}"
    "\N{LATIN CAPITAL LETTER AE}\N{LATIN SMALL LETTER AE}\N{LATIN SMALL LETTER SHARP S}"
    "\N{LATIN CAPITAL LETTER E WITH ACUTE}"
    " !\"#\N{CURRENCY SIGN}%&'()*+,-./0123456789:;<=>?"
    "\N{INVERTED EXCLAMATION MARK}ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "\N{LATIN CAPITAL LETTER A WITH DIAERESIS}\N{LATIN CAPITAL LETTER O WITH DIAERESIS}"
    "\N{LATIN CAPITAL LETTER N WITH TILDE}\N{LATIN CAPITAL LETTER U WITH DIAERESIS}\N{SECTION SIGN}"
    "\N{INVERTED QUESTION MARK}abcdefghijklmnopqrstuvwxyz"
    "\N{LATIN SMALL LETTER A WITH DIAERESIS}\N{LATIN SMALL LETTER O WITH DIAERESIS}"
    "\N{LATIN SMALL LETTER N WITH TILDE}\N{LATIN SMALL LETTER U WITH DIAERESIS}"
    "\N{LATIN SMALL LETTER A WITH GRAVE}"
)

# GSM 03.38 extension table: each is sent as ESC + code, i.e. two septets. Form feed (ESC 0x0A, "page
# break") is part of the table too.
GSM7_EXTENSION: Final[frozenset[str]] = frozenset("\f^{}\\[~]|\N{EURO SIGN}")

_GSM7_ALL: Final[frozenset[str]] = GSM7_BASIC | GSM7_EXTENSION


class SegmentReport(BaseModel):
    """What sending a text costs: its encoding, size and segment count."""

    model_config = ConfigDict(frozen=True)

    encoding: Encoding
    """"GSM-7" when every character is in the GSM 03.38 basic or extension table, else "UCS-2"."""
    characters: int
    """Characters as a person sees them (grapheme clusters: an emoji with a skin-tone modifier, a flag or
    a letter with a combining accent counts once)."""
    units: int
    """GSM-7 septets (2 for each extension character) or UTF-16 code units (2 for a surrogate pair)."""
    segments: int
    """Billable message parts; 0 for an empty text."""
    ucs2_culprits: list[str]
    """Distinct characters (code points), in order of first appearance, that forced UCS-2."""
    per_segment_limit: int
    """Units per segment: 160/70 for a single-part message (and an empty one), 153/67 when concatenated."""


def is_gsm7(text: str) -> bool:
    """True when ``text`` can be sent in GSM-7 (basic or extension table only)."""
    return all(ch in _GSM7_ALL for ch in text)


def analyze(text: str) -> SegmentReport:
    """Encoding, size, segment count and UCS-2 culprits of ``text``. Never raises for any ``str``."""
    culprits = _culprits(text)
    gsm = not culprits
    costs = _unit_costs(text, gsm=gsm)
    units = sum(costs)
    single, concat = (GSM7_SINGLE_LIMIT, GSM7_CONCAT_LIMIT) if gsm else (UCS2_SINGLE_LIMIT, UCS2_CONCAT_LIMIT)
    if units == 0:
        segments, limit = 0, single
    elif units <= single:
        segments, limit = 1, single
    else:
        segments, limit = len(_part_bounds(costs, concat)), concat
    return SegmentReport(
        encoding="GSM-7" if gsm else "UCS-2",
        characters=_grapheme_count(text),
        units=units,
        segments=segments,
        ucs2_culprits=culprits,
        per_segment_limit=limit,
    )


def split_segments(text: str) -> list[str]:
    """The parts ``text`` is sent as, split the way :func:`analyze` counts them.

    ``len(split_segments(t)) == analyze(t).segments`` and ``"".join(split_segments(t)) == t``. No part
    ends in the middle of a GSM escape pair or a UTF-16 surrogate pair.
    """
    if not text:
        return []
    gsm = is_gsm7(text)
    costs = _unit_costs(text, gsm=gsm)
    single, concat = (GSM7_SINGLE_LIMIT, GSM7_CONCAT_LIMIT) if gsm else (UCS2_SINGLE_LIMIT, UCS2_CONCAT_LIMIT)
    if sum(costs) <= single:
        return [text]
    starts = _part_bounds(costs, concat)
    ends = [*starts[1:], len(text)]
    return [text[start:end] for start, end in zip(starts, ends, strict=True)]


def _culprits(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for ch in text:
        if ch not in _GSM7_ALL:
            seen.setdefault(ch, None)
    return list(seen)


def _unit_costs(text: str, *, gsm: bool) -> list[int]:
    """Units per code point: septets for GSM-7, UTF-16 code units for UCS-2."""
    if gsm:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # Computed from code points rather than by encoding, so a lone surrogate (from a bad decode) counts
    # as one unit instead of raising.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _part_bounds(costs: list[int], limit: int) -> list[int]:
    """Start index of each part when packing greedily; a 2-unit character is never split."""
    starts: list[int] = []
    used = limit  # forces a new part at index 0
    for index, cost in enumerate(costs):
        if used + cost > limit:
            starts.append(index)
            used = 0
        used += cost
    return starts


# --- grapheme clusters ------------------------------------------------------------------------------
# A compact approximation of UAX #29 extended grapheme clusters, enough for SMS text: CR LF, combining
# marks and other extenders, emoji modifiers and tags, ZWJ emoji sequences and regional-indicator flags.
# (Hangul jamo sequences and prepend characters are not joined; both are rare in SMS.)

_ZWJ: Final = "\N{ZERO WIDTH JOINER}"
_ZWNJ: Final = "\N{ZERO WIDTH NON-JOINER}"


def _is_tag(cp: int) -> bool:
    return 0xE0020 <= cp <= 0xE007F


def _is_extend(ch: str) -> bool:
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch in (_ZWJ, _ZWNJ)
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or _is_tag(cp)
    )


def _is_control(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category in ("Cc", "Zl", "Zp"):
        return True
    return category == "Cf" and ch not in (_ZWJ, _ZWNJ) and not _is_tag(ord(ch))


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_pictographic(ch: str) -> bool:
    cp = ord(ch)
    return unicodedata.category(ch) == "So" or 0x1F000 <= cp <= 0x1FAFF


def _grapheme_count(text: str) -> int:
    count = 0
    prev = ""
    regional_run = 0  # regional indicators in a row ending at prev
    for ch in text:
        regional = _is_regional_indicator(ch)
        if not prev:
            joins = False
        elif prev == "\r" and ch == "\n":
            joins = True
        elif _is_control(prev) or _is_control(ch):
            joins = False
        elif _is_extend(ch) or (prev == _ZWJ and _is_pictographic(ch)):
            joins = True
        else:
            joins = regional and regional_run % 2 == 1
        if not joins:
            count += 1
        regional_run = regional_run + 1 if regional else 0
        prev = ch
    return count


# --- normalisation ----------------------------------------------------------------------------------

_APOSTROPHES = (
    "\N{LEFT SINGLE QUOTATION MARK}",
    "\N{RIGHT SINGLE QUOTATION MARK}",
    "\N{SINGLE LOW-9 QUOTATION MARK}",
    "\N{SINGLE HIGH-REVERSED-9 QUOTATION MARK}",
    "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}",
    "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}",
    "\N{PRIME}",
    "\N{REVERSED PRIME}",
    "\N{MODIFIER LETTER PRIME}",
    "\N{MODIFIER LETTER TURNED COMMA}",  # also the Hawaiian okina, typed as ' on most phones
    "\N{MODIFIER LETTER APOSTROPHE}",
    "\N{MODIFIER LETTER REVERSED COMMA}",
    "\N{GRAVE ACCENT}",  # ` is not in the GSM alphabet
    "\N{ACUTE ACCENT}",
)
_DOUBLE_QUOTES = (
    "\N{LEFT DOUBLE QUOTATION MARK}",
    "\N{RIGHT DOUBLE QUOTATION MARK}",
    "\N{DOUBLE LOW-9 QUOTATION MARK}",
    "\N{DOUBLE HIGH-REVERSED-9 QUOTATION MARK}",
    "\N{LEFT-POINTING DOUBLE ANGLE QUOTATION MARK}",
    "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}",
    "\N{DOUBLE PRIME}",
    "\N{REVERSED DOUBLE PRIME}",
    "\N{MODIFIER LETTER DOUBLE PRIME}",
    "\N{DOUBLE ACUTE ACCENT}",
)
_DASHES_AND_BULLETS = (
    "\N{HYPHEN}",
    "\N{NON-BREAKING HYPHEN}",
    "\N{FIGURE DASH}",
    "\N{EN DASH}",
    "\N{EM DASH}",
    "\N{HORIZONTAL BAR}",
    "\N{MINUS SIGN}",
    "\N{SMALL EM DASH}",
    "\N{SMALL HYPHEN-MINUS}",
    "\N{FULLWIDTH HYPHEN-MINUS}",
    "\N{HYPHEN BULLET}",
    "\N{BULLET}",
    "\N{TRIANGULAR BULLET}",
    "\N{WHITE BULLET}",
    "\N{BULLET OPERATOR}",
)
_SPACES = (
    "\N{CHARACTER TABULATION}",  # tab is not in the GSM alphabet
    "\N{NO-BREAK SPACE}",
    "\N{OGHAM SPACE MARK}",
    "\N{EN QUAD}",
    "\N{EM QUAD}",
    "\N{EN SPACE}",
    "\N{EM SPACE}",
    "\N{THREE-PER-EM SPACE}",
    "\N{FOUR-PER-EM SPACE}",
    "\N{SIX-PER-EM SPACE}",
    "\N{FIGURE SPACE}",
    "\N{PUNCTUATION SPACE}",
    "\N{THIN SPACE}",
    "\N{HAIR SPACE}",
    "\N{NARROW NO-BREAK SPACE}",
    "\N{MEDIUM MATHEMATICAL SPACE}",
    "\N{IDEOGRAPHIC SPACE}",
)
_LINE_BREAKS = ("\N{LINE SEPARATOR}", "\N{PARAGRAPH SEPARATOR}", "\N{NEXT LINE}")
# Invisible characters that carry no meaning in an SMS: always removed.
_ALWAYS_REMOVED = (
    "\N{ZERO WIDTH SPACE}",
    "\N{WORD JOINER}",
    "\N{ZERO WIDTH NO-BREAK SPACE}",  # also the byte order mark
    "\N{SOFT HYPHEN}",
)

NORMALIZATION_MAP: Final[dict[str, str]] = {
    **dict.fromkeys(_APOSTROPHES, "'"),
    **dict.fromkeys(_DOUBLE_QUOTES, '"'),
    **dict.fromkeys(_DASHES_AND_BULLETS, "-"),
    **dict.fromkeys(_SPACES, " "),
    **dict.fromkeys(_LINE_BREAKS, "\n"),
    **dict.fromkeys(_ALWAYS_REMOVED, ""),
    "\N{HORIZONTAL ELLIPSIS}": "...",
    "\N{FRACTION SLASH}": "/",
    "\N{DIVISION SLASH}": "/",
    "\N{MODIFIER LETTER CIRCUMFLEX ACCENT}": "^",
    "\N{SMALL TILDE}": "~",
}
"""Typographic character -> GSM-7 replacement ("" = removed). Every key is outside the GSM alphabet and
every value inside it."""

_TRANSLATION: Final = str.maketrans(NORMALIZATION_MAP)

# Invisible joiners and direction/presentation controls. They matter inside emoji sequences and
# non-Latin scripts (which are UCS-2 anyway), so a run of them is removed only when the characters on
# both sides of it are GSM-7 (or the text ends there), i.e. when they are stray copy-paste debris.
_CONTEXTUAL_INVISIBLES: Final[frozenset[str]] = frozenset(
    [_ZWNJ, _ZWJ, "\N{LEFT-TO-RIGHT MARK}", "\N{RIGHT-TO-LEFT MARK}"]
    + [chr(cp) for cp in range(0x202A, 0x202F)]  # LRE, RLE, PDF, LRO, RLO
    + [chr(cp) for cp in range(0x2066, 0x206A)]  # LRI, RLI, FSI, PDI
    + [chr(cp) for cp in range(0xFE00, 0xFE10)]  # variation selectors 1-16
)


def normalize_for_gsm(text: str) -> str:
    """Replace typographic look-alikes with GSM-7 characters; leave everything else as it is.

    * :data:`NORMALIZATION_MAP`: curly and angle quotes, primes, backtick and acute accent -> ``'`` or
      ``"``; hyphen, non-breaking hyphen, figure/en/em dash, horizontal bar, minus sign and bullets ->
      ``-``; ellipsis -> ``...``; tab, no-break and other Unicode spaces -> space; line/paragraph
      separators -> newline; fraction and division slash -> ``/``; modifier circumflex and small tilde ->
      ``^`` and ``~``; zero-width space, word joiner, BOM and soft hyphen removed.
    * A letter written with combining accents, or a compatibility singleton (Angstrom, Ohm, Kelvin
      sign, Greek question mark), is composed (NFC) when that makes it a GSM-7 character:
      ``"e" + U+0301`` becomes ``"é"``.
    * Zero-width joiners, direction marks and variation selectors are removed only where both
      neighbours are GSM-7, so emoji sequences and non-Latin text keep them.

    Characters in the GSM basic or extension tables (é, ü, ñ, Ä, £, €, ...) are never changed, and
    other non-GSM characters (emoji, á, ç, CJK, ...) are kept: :func:`analyze` reports them as culprits.
    The function is idempotent.
    """
    return _drop_stray_invisibles(_compose_to_gsm(text.translate(_TRANSLATION)))


def _compose_to_gsm(text: str) -> str:
    """NFC-compose each base character + its combining marks when the result is GSM-7."""
    out: list[str] = []
    index, length = 0, len(text)
    while index < length:
        end = index + 1
        while end < length and unicodedata.category(text[end]).startswith("M"):
            end += 1
        cluster = text[index:end]
        if not is_gsm7(cluster):
            composed = unicodedata.normalize("NFC", cluster)
            if is_gsm7(composed):
                cluster = composed
        out.append(cluster)
        index = end
    return "".join(out)


def _drop_stray_invisibles(text: str) -> str:
    out: list[str] = []
    index, length = 0, len(text)
    while index < length:
        ch = text[index]
        if ch not in _CONTEXTUAL_INVISIBLES:
            out.append(ch)
            index += 1
            continue
        end = index
        while end < length and text[end] in _CONTEXTUAL_INVISIBLES:
            end += 1
        before_ok = index == 0 or text[index - 1] in _GSM7_ALL
        after_ok = end == length or text[end] in _GSM7_ALL
        if not (before_ok and after_ok):
            out.append(text[index:end])
        index = end
    return "".join(out)
