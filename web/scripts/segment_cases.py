"""Write web/test/segment-cases.json: texts and what shared/core/segments.py says about each, so the
composer's TypeScript port (web/src/segments.ts) is checked against the Python implementation.

    python web/scripts/segment_cases.py          # rewrite the fixture
    python web/scripts/segment_cases.py --check  # exit 1 when the fixture is not what this script writes
    (--fixture PATH reads or writes another file, for the test of --check itself)

Texts are escaped as lists of code points, so lone surrogates and invisible characters survive JSON.
"""

import json
import sys
from pathlib import Path

from shared.core.segments import analyze

FIXTURE = Path(__file__).resolve().parent.parent / "test" / "segment-cases.json"


def texts() -> list[str]:
    base = [
        "",
        "a",
        "Hello, your appointment is tomorrow at 9:30.",
        "Price: 10€ [confirm] {yes} ~ok~ ^ | \\ \f",
        "Curly \u2018quotes\u2019 and \u201cdoubles\u201d \u2013 dash\u2026 ellipsis",
        "Clínica: á is not GSM but é is",
        "emoji 😀 here",
        "flag 🇺🇸🇬🇧 and family 👨‍👩‍👧 and thumbs 👍🏽",
        "e\u0301 combining, CRLF\r\nnext",
        "\u200bzero width\u00a0nbsp\ttab",
        "lone \ud800 surrogate",
        "中文短信",
        "Ñoño ¿qué? ¡sí! ü ß Æ",
    ]
    for n in (152, 153, 154, 159, 160, 161, 306, 307, 459, 460):
        base.append("x" * n)
    for n in (69, 70, 71, 134, 135):
        base.append("á" * n)
    base.append("€" * 80)
    base.append("a" + "€" * 80)
    base.append("x" * 152 + "€" + "y" * 10)
    base.append("😀" * 35)
    base.append("😀" * 36)
    base.append("a" + "😀" * 40)
    base.append("x" * 66 + "😀" + "y" * 10)
    return base


def cases() -> list[dict[str, object]]:
    out = []
    for text in texts():
        report = analyze(text)
        out.append(
            {
                "code_points": [ord(ch) for ch in text],
                "encoding": report.encoding,
                "characters": report.characters,
                "units": report.units,
                "segments": report.segments,
                "ucs2_culprits": [ord(ch) for ch in report.ucs2_culprits],
                "per_segment_limit": report.per_segment_limit,
            }
        )
    return out


def render() -> str:
    return json.dumps({"generated_by": "web/scripts/segment_cases.py", "cases": cases()}, indent=1) + "\n"


def main(argv: list[str]) -> int:
    fixture = Path(argv[argv.index("--fixture") + 1]) if "--fixture" in argv else FIXTURE
    text = render()
    if "--check" in argv:
        current = fixture.read_text(encoding="utf-8") if fixture.exists() else ""
        if current != text:
            sys.stderr.write(f"{fixture} is stale: run python web/scripts/segment_cases.py\n")
            return 1
        return 0
    fixture.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
