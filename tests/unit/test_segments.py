"""SMS segment calculator: exact GSM-7 / UCS-2 boundaries, culprits, normalisation, properties."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.core.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    NORMALIZATION_MAP,
    SegmentReport,
    analyze,
    is_gsm7,
    normalize_for_gsm,
    split_segments,
)

EMOJI = "\N{GRINNING FACE}"  # U+1F600, a surrogate pair in UTF-16
EURO = "\N{EURO SIGN}"
EXTENSION_CHARS = f"{EURO}[]{{}}\\^~|"


def _units(text: str, encoding: str) -> int:
    if encoding == "GSM-7":
        return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _assert_report(text: str, *, encoding: str, units: int, segments: int, limit: int) -> SegmentReport:
    report = analyze(text)
    assert (report.encoding, report.units, report.segments, report.per_segment_limit) == (
        encoding,
        units,
        segments,
        limit,
    )
    assert len(split_segments(text)) == segments
    assert "".join(split_segments(text)) == text
    return report


# --- alphabet ---------------------------------------------------------------------------------------


def test_basic_table_has_127_characters_plus_escape() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points, 0x1B is the escape
    assert "\x1b" not in GSM7_BASIC
    assert GSM7_BASIC.isdisjoint(GSM7_EXTENSION)


@pytest.mark.parametrize(
    "ch", ["é", "ü", "ñ", "Ä", "£", "¥", "Ø", "ß", "Δ", "Ω", "¡", "¿", "§", "à", "Ç", "\n"]
)
def test_basic_table_characters_are_gsm(ch: str) -> None:
    assert is_gsm7(ch)
    assert analyze(ch).units == 1


@pytest.mark.parametrize("ch", list(EXTENSION_CHARS))
def test_extension_characters_count_two(ch: str) -> None:
    report = _assert_report(ch, encoding="GSM-7", units=2, segments=1, limit=160)
    assert report.characters == 1


@pytest.mark.parametrize(
    "ch", ["á", "í", "ó", "ú", "ç", "`", "\t", "\x1b", "\N{RIGHT SINGLE QUOTATION MARK}", EMOJI]
)
def test_non_gsm_characters(ch: str) -> None:
    assert not is_gsm7(ch)
    assert analyze(ch).encoding == "UCS-2"


def test_empty_text() -> None:
    report = _assert_report("", encoding="GSM-7", units=0, segments=0, limit=160)
    assert report.characters == 0
    assert report.ucs2_culprits == []
    assert is_gsm7("")


# --- GSM-7 boundaries -------------------------------------------------------------------------------


def test_gsm_160_is_one_segment_161_is_two() -> None:
    _assert_report("a" * 160, encoding="GSM-7", units=160, segments=1, limit=160)
    _assert_report("a" * 161, encoding="GSM-7", units=161, segments=2, limit=153)


def test_gsm_concatenated_boundaries() -> None:
    _assert_report("a" * 306, encoding="GSM-7", units=306, segments=2, limit=153)
    _assert_report("a" * 307, encoding="GSM-7", units=307, segments=3, limit=153)
    _assert_report("a" * 459, encoding="GSM-7", units=459, segments=3, limit=153)
    _assert_report("a" * 460, encoding="GSM-7", units=460, segments=4, limit=153)
    assert [len(part) for part in split_segments("a" * 307)] == [153, 153, 1]


def test_extension_chars_fill_a_single_segment_at_80() -> None:
    _assert_report(EURO * 80, encoding="GSM-7", units=160, segments=1, limit=160)
    _assert_report(EURO * 80 + "a", encoding="GSM-7", units=161, segments=2, limit=153)


def test_escape_pair_at_160th_septet() -> None:
    # 158 + 2 = 160 septets: still one segment.
    report = _assert_report("a" * 158 + EURO, encoding="GSM-7", units=160, segments=1, limit=160)
    assert report.characters == 159
    # 159 + 2 = 161: the escape pair's first half would be the 160th septet; the message no longer fits.
    _assert_report("a" * 159 + EURO, encoding="GSM-7", units=161, segments=2, limit=153)


def test_escape_pair_is_never_split_across_parts() -> None:
    # 306 septets = 2 * 153, but the euro would straddle the first boundary (septets 153 and 154), so
    # part one holds 152 septets and one "a" spills into a third part.
    text = "a" * 152 + EURO + "a" * 152
    _assert_report(text, encoding="GSM-7", units=306, segments=3, limit=153)
    parts = split_segments(text)
    assert parts[0] == "a" * 152
    assert parts[1] == EURO + "a" * 151
    assert parts[2] == "a"
    # Shifted by one, the euro sits wholly inside part one and 2 segments suffice.
    _assert_report("a" * 151 + EURO + "a" * 153, encoding="GSM-7", units=306, segments=2, limit=153)


# --- UCS-2 boundaries -------------------------------------------------------------------------------


def test_ucs2_70_is_one_segment_71_is_two() -> None:
    _assert_report("\N{EN DASH}" + "a" * 69, encoding="UCS-2", units=70, segments=1, limit=70)
    _assert_report("\N{EN DASH}" + "a" * 70, encoding="UCS-2", units=71, segments=2, limit=67)


def test_ucs2_concatenated_boundaries() -> None:
    _assert_report("\N{EN DASH}" + "a" * 133, encoding="UCS-2", units=134, segments=2, limit=67)
    _assert_report("\N{EN DASH}" + "a" * 134, encoding="UCS-2", units=135, segments=3, limit=67)
    _assert_report("\N{EN DASH}" + "a" * 200, encoding="UCS-2", units=201, segments=3, limit=67)
    _assert_report("\N{EN DASH}" + "a" * 201, encoding="UCS-2", units=202, segments=4, limit=67)


def test_emoji_is_two_units_and_one_character() -> None:
    report = _assert_report(EMOJI, encoding="UCS-2", units=2, segments=1, limit=70)
    assert report.characters == 1
    _assert_report(EMOJI * 35, encoding="UCS-2", units=70, segments=1, limit=70)
    _assert_report(EMOJI * 35 + "a", encoding="UCS-2", units=71, segments=2, limit=67)
    _assert_report(EMOJI + "a" * 68, encoding="UCS-2", units=70, segments=1, limit=70)
    _assert_report(EMOJI + "a" * 69, encoding="UCS-2", units=71, segments=2, limit=67)


def test_surrogate_pair_is_never_split_at_the_67_boundary() -> None:
    # Emoji at units 67-68 would straddle the boundary: part one stops at 66 units, a third part follows.
    text = "a" * 66 + EMOJI + "a" * 66
    _assert_report(text, encoding="UCS-2", units=134, segments=3, limit=67)
    parts = split_segments(text)
    assert parts == ["a" * 66, EMOJI + "a" * 65, "a"]
    # Emoji at units 66-67 fits exactly in part one: 134 units in 2 segments.
    text = "a" * 65 + EMOJI + "a" * 67
    _assert_report(text, encoding="UCS-2", units=134, segments=2, limit=67)
    assert split_segments(text) == ["a" * 65 + EMOJI, "a" * 67]


def test_all_emoji_message_splits_on_pairs() -> None:
    # 34 emoji = 68 units > 67 per part: 33 emoji (66 units) per part.
    text = EMOJI * 36  # 72 units
    _assert_report(text, encoding="UCS-2", units=72, segments=2, limit=67)
    assert split_segments(text) == [EMOJI * 33, EMOJI * 3]


# --- characters (graphemes) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "characters", "units"),
    [
        ("\N{THUMBS UP SIGN}\N{EMOJI MODIFIER FITZPATRICK TYPE-4}", 1, 4),
        ("\N{REGIONAL INDICATOR SYMBOL LETTER U}\N{REGIONAL INDICATOR SYMBOL LETTER S}", 1, 4),
        ("\N{REGIONAL INDICATOR SYMBOL LETTER U}" * 3, 2, 6),
        ("\N{MAN}\N{ZERO WIDTH JOINER}\N{WOMAN}\N{ZERO WIDTH JOINER}\N{GIRL}", 1, 8),
        ("e\N{COMBINING ACUTE ACCENT}", 1, 2),
        ("\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}", 1, 2),
        ("a\r\nb", 3, 4),
    ],
)
def test_characters_count_what_a_person_sees(text: str, characters: int, units: int) -> None:
    report = analyze(text)
    assert report.characters == characters
    assert report.units == units


# --- culprits ---------------------------------------------------------------------------------------


def test_culprits_are_distinct_and_in_order_of_first_appearance() -> None:
    text = (
        "Hi Ana, it\N{RIGHT SINGLE QUOTATION MARK}s Dr. Lee\N{RIGHT SINGLE QUOTATION MARK}s office "
        "\N{EN DASH} 9\N{EN DASH}10am \N{LEFT DOUBLE QUOTATION MARK}ok\N{RIGHT DOUBLE QUOTATION MARK} "
        f"{EMOJI}{EMOJI} caf\N{LATIN SMALL LETTER E WITH ACUTE}"
    )
    report = analyze(text)
    assert report.encoding == "UCS-2"
    assert report.ucs2_culprits == [
        "\N{RIGHT SINGLE QUOTATION MARK}",
        "\N{EN DASH}",
        "\N{LEFT DOUBLE QUOTATION MARK}",
        "\N{RIGHT DOUBLE QUOTATION MARK}",
        EMOJI,
    ]


def test_gsm_text_has_no_culprits() -> None:
    report = analyze("Caf\N{LATIN SMALL LETTER E WITH ACUTE} {Mon} costs \N{EURO SIGN}5 | \N{POUND SIGN}4")
    assert report.encoding == "GSM-7"
    assert report.ucs2_culprits == []


def test_report_is_frozen() -> None:
    report = analyze("hello")
    with pytest.raises(ValueError, match="frozen"):
        report.segments = 2  # type: ignore[misc]


# --- normalisation ----------------------------------------------------------------------------------

LDQ, RDQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"
LSQ, RSQ = "\N{LEFT SINGLE QUOTATION MARK}", "\N{RIGHT SINGLE QUOTATION MARK}"
TYPOGRAPHIC_TEMPLATE = (
    f"{LDQ}Hi Ana{RDQ}\N{EM DASH}it{RSQ}s Riverside Clinic\N{NO-BREAK SPACE}\N{EN DASH} your visit is "
    "Tue 3/4, 9:00\N{NARROW NO-BREAK SPACE}AM\N{HORIZONTAL ELLIPSIS} \N{BULLET} Reply C to confirm "
    "\N{BULLET} Call 555\N{NON-BREAKING HYPHEN}0100\N{ZERO WIDTH SPACE}. "
    f"{LSQ}STOP{RSQ} to opt out. 5\N{PRIME}10\N{DOUBLE PRIME}, \N{MINUS SIGN}2"
    "\N{SOFT HYPHEN}\N{FIGURE DASH}3\N{THIN SPACE}\N{WORD JOINER}x"
)


def test_normalize_turns_typographic_template_into_one_gsm_segment() -> None:
    before = analyze(TYPOGRAPHIC_TEMPLATE)
    assert before.encoding == "UCS-2"
    assert before.segments == 3
    normalized = normalize_for_gsm(TYPOGRAPHIC_TEMPLATE)
    assert normalized == (
        '"Hi Ana"-it\'s Riverside Clinic - your visit is Tue 3/4, 9:00 AM... - Reply C to confirm - '
        "Call 555-0100. 'STOP' to opt out. 5'10\", -2-3 x"
    )
    after = analyze(normalized)
    assert after.encoding == "GSM-7"
    assert after.ucs2_culprits == []
    assert after.segments == 1


def test_normalize_map_keys_are_non_gsm_and_values_gsm() -> None:
    for key, value in NORMALIZATION_MAP.items():
        assert not is_gsm7(key), repr(key)
        assert is_gsm7(value), repr(key)
        assert normalize_for_gsm(key) == value


def test_normalize_leaves_gsm_characters_alone() -> None:
    every_gsm = "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))
    assert normalize_for_gsm(every_gsm) == every_gsm
    text = (
        "Se\N{LATIN SMALL LETTER N WITH TILDE}or M\N{LATIN SMALL LETTER U WITH DIAERESIS}ller, \N{EURO SIGN}5"
    )
    assert normalize_for_gsm(text) == text


def test_normalize_keeps_emoji_and_other_non_gsm_characters() -> None:
    family = "\N{MAN}\N{ZERO WIDTH JOINER}\N{WOMAN}\N{ZERO WIDTH JOINER}\N{GIRL}"
    heart = "\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}"
    text = (
        f"Gracias, Jos\N{LATIN SMALL LETTER E WITH ACUTE} {EMOJI} {family} {heart} "
        "d\N{LATIN SMALL LETTER I WITH ACUTE}a \N{CJK UNIFIED IDEOGRAPH-4F60}\N{CJK UNIFIED IDEOGRAPH-597D}"
    )
    normalized = normalize_for_gsm(text)
    assert normalized == text
    report = analyze(normalized)
    assert report.encoding == "UCS-2"
    assert EMOJI in report.ucs2_culprits
    assert "\N{LATIN SMALL LETTER I WITH ACUTE}" in report.ucs2_culprits


def test_normalize_composes_combining_accents_into_gsm_letters() -> None:
    assert normalize_for_gsm("Jose\N{COMBINING ACUTE ACCENT}") == "Jos\N{LATIN SMALL LETTER E WITH ACUTE}"
    assert normalize_for_gsm("\N{ANGSTROM SIGN}") == "\N{LATIN CAPITAL LETTER A WITH RING ABOVE}"
    assert normalize_for_gsm("\N{OHM SIGN}") == "\N{GREEK CAPITAL LETTER OMEGA}"
    # Composed, but not GSM: left as written.
    assert normalize_for_gsm("a\N{COMBINING ACUTE ACCENT}") == "a\N{COMBINING ACUTE ACCENT}"


def test_normalize_drops_stray_joiners_but_keeps_them_in_emoji() -> None:
    assert normalize_for_gsm("Hi\N{ZERO WIDTH JOINER} there\N{LEFT-TO-RIGHT MARK}") == "Hi there"
    assert normalize_for_gsm("ok\N{VARIATION SELECTOR-16}") == "ok"
    keycap = "1\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}"
    assert normalize_for_gsm(keycap) == keycap


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\N{LEFT SINGLE QUOTATION MARK}x\N{RIGHT SINGLE QUOTATION MARK}", "'x'"),
        ("\N{SINGLE LOW-9 QUOTATION MARK}\N{DOUBLE LOW-9 QUOTATION MARK}", "'\""),
        ("\N{EN DASH}\N{EM DASH}\N{MINUS SIGN}\N{NON-BREAKING HYPHEN}\N{HYPHEN}", "-----"),
        ("\N{HORIZONTAL ELLIPSIS}", "..."),
        ("a\N{NO-BREAK SPACE}b\N{EM SPACE}c\N{IDEOGRAPHIC SPACE}d\te", "a b c d e"),
        ("a\N{ZERO WIDTH SPACE}b\N{ZERO WIDTH NO-BREAK SPACE}c", "abc"),
        ("\N{BULLET} one\N{LINE SEPARATOR}\N{BULLET} two", "- one\n- two"),
        (
            "\N{LEFT-POINTING DOUBLE ANGLE QUOTATION MARK}oui\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}",
            '"oui"',
        ),
        ("1\N{FRACTION SLASH}2", "1/2"),
    ],
)
def test_normalize_replacements(raw: str, expected: str) -> None:
    assert normalize_for_gsm(raw) == expected


# --- properties -------------------------------------------------------------------------------------

# Any code point, surrogates included (a lone surrogate can come out of a bad decode).
any_text = st.text(st.characters(exclude_categories=()), max_size=400)
# A mix weighted towards the interesting characters, so long and tricky texts come up often.
_interesting = (
    sorted(GSM7_BASIC)[:20]
    + list(GSM7_EXTENSION)
    + list(NORMALIZATION_MAP)
    + [
        "\N{ZERO WIDTH JOINER}",
        "\N{ZERO WIDTH NON-JOINER}",
        "\N{VARIATION SELECTOR-16}",
        "\N{LEFT-TO-RIGHT MARK}",
        "\N{COMBINING ACUTE ACCENT}",
        "\N{COMBINING RING ABOVE}",
        "\N{COMBINING ENCLOSING KEYCAP}",
        "\N{ANGSTROM SIGN}",
        "\N{GREEK QUESTION MARK}",
        EMOJI,
        "\N{EMOJI MODIFIER FITZPATRICK TYPE-4}",
        "\N{REGIONAL INDICATOR SYMBOL LETTER U}",
        "\N{LATIN SMALL LETTER A WITH ACUTE}",
    ]
)
mixed_text = st.text(st.sampled_from(_interesting), max_size=400)
gsm_text = st.text(st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), max_size=500)


@settings(max_examples=300)
@given(st.one_of(any_text, mixed_text))
@example("e\N{ZERO WIDTH SPACE}\N{COMBINING ACUTE ACCENT}")
@example("e\N{COMBINING ACUTE ACCENT}\N{ZERO WIDTH JOINER}b")
@example("\N{RIGHT SINGLE QUOTATION MARK}\N{COMBINING ACUTE ACCENT}")
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_for_gsm(text)
    assert normalize_for_gsm(once) == once


@settings(max_examples=300)
@given(st.one_of(any_text, mixed_text))
def test_analyze_never_raises_and_is_consistent(text: str) -> None:
    report = analyze(text)
    single = 160 if report.encoding == "GSM-7" else 70
    assert report.encoding == ("GSM-7" if is_gsm7(text) else "UCS-2")
    assert (report.encoding == "GSM-7") == (report.ucs2_culprits == [])
    assert len(set(report.ucs2_culprits)) == len(report.ucs2_culprits)
    assert (report.segments == 0) == (text == "")
    if text:
        assert (report.segments == 1) == (report.units <= single)
    assert report.characters <= len(text) <= report.units
    parts = split_segments(text)
    assert "".join(parts) == text
    assert len(parts) == report.segments
    if report.segments > 1:
        assert all(_units(part, report.encoding) <= report.per_segment_limit for part in parts)


@settings(max_examples=300)
@given(gsm_text)
def test_gsm_text_units_at_least_characters(text: str) -> None:
    report = analyze(text)
    assert report.encoding == "GSM-7"
    assert report.units >= report.characters
    assert report.units == len(text) + sum(ch in GSM7_EXTENSION for ch in text)
    assert normalize_for_gsm(text) == text


@given(st.one_of(any_text, mixed_text))
def test_normalize_never_adds_culprits(text: str) -> None:
    before = set(analyze(text).ucs2_culprits)
    after = set(analyze(normalize_for_gsm(text)).ucs2_culprits)
    assert after <= before
