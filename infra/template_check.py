"""``clinictext template check``: what a text costs, and the rules a stored template must meet."""

from __future__ import annotations

from infra.terminal import printable


def check_template(text: str, clinic_name: str) -> int:
    """Report what a text costs as sent, and what it would cost after typographic normalization; for a
    template with {placeholders}, also the rules a stored template must meet and its cost on a long
    sample rendering (the same report PUT /templates/{name} answers with)."""
    from shared.core.errors import InvalidInput
    from shared.core.segments import analyze, normalize_for_gsm
    from shared.templates.domain import report

    def show(label: str, text: str) -> int:
        result = analyze(text)
        print(
            f"{label}: {result.encoding}, {result.characters} characters, {result.units} units, "
            f"{result.segments} segment{'s' if result.segments != 1 else ''}"
        )
        if result.ucs2_culprits:
            print(
                "  forced to UCS-2 by: " + " ".join(f"{c!r} (U+{ord(c):04X})" for c in result.ucs2_culprits)
            )
        return result.segments

    segments = show("as written", text)
    normalized = normalize_for_gsm(text)
    if normalized != text:
        segments = show("after normalization", normalized)
        print(f"  normalized text: {printable(normalized)}")
    if "{" in text or "}" in text:
        try:
            result = report(text, clinic_name=clinic_name)
        except InvalidInput as exc:
            print(f"  REFUSED as a template: {printable(exc.message)}")
            return 1
        print("  placeholders: " + (", ".join(f"{{{p}}}" for p in result.placeholders) or "none"))
        segments = show("with long sample values", result.sample)
        print(f"  sample text: {printable(result.sample)}")
    if segments > 1:
        print("  WARNING: needs more than one segment; every extra segment is billed")
    return 0
