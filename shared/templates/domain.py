"""Message templates the clinic writes: placeholders from an allowlist, rules carriers enforce, and cost.

A template is plain text with ``{placeholder}`` fields and optional parts in square brackets::

    {clinic_name}: Hi {first_name}, see you {when}[ at {location}]. Reply C to confirm, R to
    reschedule, STOP to opt out.

* Placeholders come from :data:`PLACEHOLDERS`, the minimum-necessary fields a reminder may carry (DOMAIN:
  first name, clinic name, date/time, the location's address, a callback number). Anything else, e.g.
  ``{reason}`` or ``{provider}``, is refused with a message naming it: clinical fields are never stored,
  so a template could not fill them, and must never try.
* ``[...]`` is an optional part: it is left out when a placeholder in it has no value, and optional parts
  are dropped, last first, when the full text would need a second segment.
* Rules checked on save (:func:`validate`): the text holds no control characters (ESC, BEL, a carriage
  return, a bidirectional override: each is refused by name and position; a plain line break is allowed),
  names the clinic (``{clinic_name}``), says how to opt out (STOP), never asks for CANCEL (carriers treat
  CANCEL as an opt-out), and a reminder says when the appointment is: ``{when}``, or ``{date}`` and
  ``{time}`` together (a time alone leaves the day to guess), outside optional parts, which may be dropped.
* Typographic punctuation is normalized to GSM-7 (:func:`shared.core.segments.normalize_for_gsm`) before the
  template is stored, and :func:`report` prices it on a long sample rendering; a template that still
  needs more than one segment is flagged.

Pure domain code: no AWS. Storage and versions are in :mod:`shared.templates.store`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.core.controls import controls_in, describe
from shared.core.errors import InvalidInput
from shared.core.segments import SegmentReport, analyze, normalize_for_gsm

# What each placeholder is filled with. Nothing here is clinical: reason, service, specialty,
# practitioner and notes are never stored, so no placeholder can reach them.
PLACEHOLDERS: dict[str, str] = {
    "clinic_name": "the clinic's name (ClinicName)",
    "first_name": "the patient's first name, if the EHR gave one",
    "when": "date and time in the appointment's zone, e.g. Tue Nov 24 at 3:30 PM",
    "date": "the date alone, e.g. Tue Nov 24",
    "time": "the time alone, e.g. 3:30 PM",
    "location": "the street address (a site name only when it reveals no condition)",
    "clinic_phone": "the callback number (ClinicPhone)",
}
# Long but realistic values: a template is priced on what a long name and address will cost.
SAMPLE_VALUES: dict[str, str] = {
    "first_name": "Christopher",
    "when": "Wed Sep 30 at 12:45 PM",
    "date": "Wed Sep 30",
    "time": "12:45 PM",
    "location": "12345 Northeast Hospital Way, Bellevue",
    "clinic_phone": "(206) 555-0100",
}
TEMPLATE_NAMES = ("reminder",)  # the automated texts ClinicText sends from a stored template
# Placeholders that say when the appointment is; a reminder needs one of these sets outside optional parts.
TIME_PLACEHOLDERS: dict[str, tuple[frozenset[str], ...]] = {
    "reminder": (frozenset({"when"}), frozenset({"date", "time"})),
}
ALLOWED_CONTROLS = "\n"  # a line break is text in an SMS (GSM-7 has LF); every other control is refused
MAX_TEMPLATE_CHARACTERS = 640
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")
_STOP = re.compile(r"\bSTOP\b", re.IGNORECASE)
_CANCEL = re.compile(r"\bCANCEL\b", re.IGNORECASE)


@dataclass(frozen=True)
class Template:
    """A validated template body (already normalized to GSM-7 where it can be)."""

    body: str
    placeholders: tuple[str, ...]


@dataclass(frozen=True)
class TemplateReport:
    """What a template costs and what saving it changed: the same report on the API and the CLI."""

    template: Template  # the validated, normalized template the report is about
    as_written: SegmentReport
    normalized: SegmentReport
    sample: str  # the normalized template rendered with long sample values
    sample_report: SegmentReport
    warnings: list[str] = field(default_factory=list)

    @property
    def normalized_body(self) -> str:
        return self.template.body

    @property
    def placeholders(self) -> tuple[str, ...]:
        return self.template.placeholders

    @property
    def multi_segment(self) -> bool:
        return self.sample_report.segments > 1


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name not in TEMPLATE_NAMES:
        raise InvalidInput(
            f"unknown template name; templates that can be stored: {', '.join(TEMPLATE_NAMES)}",
            field="name",
        )
    return name


def placeholders_of(
    body: str, *, allowed: Mapping[str, str] = PLACEHOLDERS, optional_parts: bool = True
) -> tuple[str, ...]:
    """The ``{placeholder}`` names in ``body``, in order, each once. Refuses malformed ones and any not in
    ``allowed`` (a reminder's :data:`PLACEHOLDERS` unless told). With ``optional_parts`` square brackets
    mark optional parts and must pair up; without, they are plain text."""
    if optional_parts and (
        body.count("[") != body.count("]") or _OPTIONAL.sub("", body).count("[") or "[[" in body
    ):
        raise InvalidInput(
            "square brackets mark optional parts and must come in pairs, not nested", field="body"
        )
    try:
        parsed = list(string.Formatter().parse(body))
    except ValueError as exc:
        raise InvalidInput(
            f"malformed placeholder ({exc}); write placeholders as {{first_name}}", field="body"
        ) from exc
    names: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            raise InvalidInput(f"placeholder {{{name}}} may not carry a format or conversion", field="body")
        if name not in names:
            names.append(name)
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise InvalidInput(
            f"unknown placeholder{'s' if len(unknown) > 1 else ''} "
            + ", ".join(f"{{{name}}}" for name in unknown)
            + "; allowed: "
            + ", ".join(f"{{{known}}}" for known in allowed),
            field="body",
        )
    return tuple(names)


def check_controls(body: str) -> None:
    """Refuse control characters, naming the first by code point, name and (1-based) position."""
    found = controls_in(body, allowed=ALLOWED_CONTROLS)
    if found:
        position, ch = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InvalidInput(
            f"control character {describe(ch)} at position {position}{more}: remove it; a template is "
            "letters, digits, punctuation, spaces and plain line breaks",
            field="body",
        )


def check_time(body: str, names: tuple[str, ...], kind: str) -> None:
    """A reminder must say when: one of :data:`TIME_PLACEHOLDERS` outside ``[optional]`` parts."""
    required = TIME_PLACEHOLDERS.get(kind)
    if not required:
        return
    always = set(_names_in(_OPTIONAL.sub("", body)))
    if any(needed <= always for needed in required):
        return
    optional_only = any(needed <= set(names) for needed in required)
    where = " outside [optional] parts, which may be left out" if optional_only else ""
    raise InvalidInput(
        f"a {kind} must say when the appointment is: put {{when}} in it (or {{date}} and {{time}}){where}",
        field="body",
    )


def validate(body: str, *, kind: str = "reminder") -> Template:
    """Normalize and check a template a person wrote; raises :class:`InvalidInput` naming the problem.
    ``kind`` is the template's name (what it is used for): a reminder must carry the appointment time."""
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("the template is empty", field="body")
    if len(body) > MAX_TEMPLATE_CHARACTERS:
        raise InvalidInput(f"the template is longer than {MAX_TEMPLATE_CHARACTERS} characters", field="body")
    check_controls(body)
    normalized = normalize_for_gsm(body.strip())
    names = placeholders_of(normalized)
    if "clinic_name" not in names:
        raise InvalidInput(
            "the text must name the clinic: put {clinic_name} in it (carriers require the program name)",
            field="body",
        )
    if not _STOP.search(_without_placeholders(normalized)):
        raise InvalidInput(
            "the text must say how to opt out, e.g. 'Reply STOP to opt out' (healthcare exemption rules)",
            field="body",
        )
    if _CANCEL.search(_without_placeholders(normalized)):
        raise InvalidInput(
            "CANCEL is an opt-out word: a patient who replies CANCEL is unsubscribed; ask for R to "
            "reschedule instead",
            field="body",
        )
    check_time(normalized, names, kind)
    return Template(normalized, names)


def render(template: Template, values: Mapping[str, str | None]) -> str:
    """Fill the placeholders. An optional part whose placeholders lack a value is left out; when the text
    then needs more than one segment, optional parts are dropped last first until it fits (or none is
    left). Every value is normalized to GSM-7 where it can be."""
    clean = _clean(values)
    groups = _OPTIONAL.findall(template.body)
    kept = [all(clean.get(name) for name in _names_in(group)) for group in groups]
    best = _fill(template.body, clean, kept)
    for index in reversed(range(len(groups))):
        if analyze(best).segments <= 1:
            break
        if kept[index]:
            kept[index] = False
            best = _fill(template.body, clean, kept)
    return best


def report(body: str, *, clinic_name: str, clinic_phone: str = "", kind: str = "reminder") -> TemplateReport:
    """Encoding and segments as written, after normalization, and on a long sample rendering."""
    template = validate(body, kind=kind)
    values = {**SAMPLE_VALUES, "clinic_name": clinic_name, "clinic_phone": clinic_phone or "(206) 555-0100"}
    clean = _clean(values)
    sample = _fill(template.body, clean, [True] * len(_OPTIONAL.findall(template.body)))
    sample_report = analyze(sample)
    warnings = []
    if sample_report.segments > 1:
        shortest = render(template, values)
        note = (
            f"; left out optional parts it takes {analyze(shortest).segments}" if shortest != sample else ""
        )
        warnings.append(
            f"needs {sample_report.segments} segments with a long name and address{note}: "
            "every extra segment is billed"
        )
    if sample_report.encoding == "UCS-2":
        culprits = " ".join(f"U+{ord(ch):04X}" for ch in sample_report.ucs2_culprits)
        warnings.append(f"sent as UCS-2 (70 characters a segment) because of {culprits}")
    return TemplateReport(
        template=template,
        as_written=analyze(body),
        normalized=analyze(template.body),
        sample=sample,
        sample_report=sample_report,
        warnings=warnings,
    )


def _clean(values: Mapping[str, str | None]) -> dict[str, str]:
    """Every placeholder's value, normalized to GSM-7 where it can be; a missing one is empty."""
    return {name: normalize_for_gsm(str(values.get(name) or "")).strip() for name in PLACEHOLDERS}


def _names_in(text: str) -> list[str]:
    return [name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name]


def _without_placeholders(body: str) -> str:
    return re.sub(r"\{[^{}]*\}", " ", body)


def _fill(body: str, values: Mapping[str, str], kept: list[bool]) -> str:
    position = iter(kept)

    def optional(match: re.Match[str]) -> str:
        return match.group(1) if next(position) else ""

    text = _OPTIONAL.sub(optional, body).format_map(values)
    # A missing first name leaves "Hi , ...": close the gap the way a person would have written it.
    text = re.sub(r"[ \t]+([,.!?;:])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()
