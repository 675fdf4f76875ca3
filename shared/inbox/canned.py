"""Canned responses: standard replies per department that still sound personal, with no PHI.

``POST /inbox/canned-responses`` (admins) takes :class:`CannedResponseRequest` (``department``, ``name``,
``body``). The body may use only the placeholders in :data:`CANNED_PLACEHOLDERS`: nothing in them goes
beyond the patient's first name. Creation refuses, naming the field: an unknown placeholder (every one is
named, with the allowed list), a control character (named by code point and position), an empty or
over-long body or name. Typographic punctuation is normalized to GSM-7 before the body is stored
(:func:`shared.core.segments.normalize_for_gsm`), the placeholder parser and control check are the
templates' own (:mod:`shared.templates.domain`), and :func:`sample_report` prices the body on a long
rendering.

:func:`render` fills a canned response for one conversation. Without a first name a greeting reads
naturally: "Hi {first_name}," becomes "Hi there,", "Dear {first_name}," "Dear patient,", and elsewhere the
name is left out and the punctuation around the gap closed ("Hola {first_name}," -> "Hola,", "Thanks
{first_name}!" -> "Thanks!", "{first_name}, your forms" -> "Your forms").

``{department}`` renders the department's name ("front-desk" -> "Front Desk"). DOMAIN.md counts a
department name that reveals a condition (oncology, psychiatry, ...) as PHI: such a department should not
use the placeholder; the name is the clinic's choice, so this module cannot tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.core.controls import controls_in, describe, is_control
from shared.core.errors import InvalidInput
from shared.core.segments import SegmentReport, analyze, normalize_for_gsm
from shared.inbox.departments import DepartmentName
from shared.templates.domain import check_controls, placeholders_of

CANNED_PLACEHOLDERS: Final[dict[str, str]] = {
    "first_name": "the patient's first name, when known",
    "clinic_name": "the clinic's name (ClinicName)",
    "department": "the department's name, e.g. Front Desk",
    "clinic_phone": "the callback number (ClinicPhone)",
    "next_opening": "when the department opens next, e.g. Tuesday at 8:30 AM",
}
MAX_BODY_CHARACTERS: Final = 480  # three concatenated GSM-7 segments, less room for a long first name
MAX_NAME_CHARACTERS: Final = 60
SAMPLE_VALUES: Final[dict[str, str]] = {
    "first_name": "Christopher",
    "clinic_name": "Northeast Family Medicine of Bellevue",
    "department": "Front Desk",
    "clinic_phone": "(206) 555-0100",
    "next_opening": "Wednesday at 12:30 PM",
}
# Greetings that name the patient, and what they read without a name.
_GREETINGS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"\b(Hi|Hello|Hey)[ \t]+\{first_name\}", re.IGNORECASE), r"\1 there"),
    (re.compile(r"\b(Dear)[ \t]+\{first_name\}", re.IGNORECASE), r"\1 patient"),
    (re.compile(r"\b(Estimad[oa])[ \t]+\{first_name\}", re.IGNORECASE), r"\1 paciente"),
)


class CannedResponseRequest(BaseModel):
    """A canned response as an admin writes it. ``body`` comes back normalized to GSM-7."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    department: DepartmentName
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARACTERS)
    body: str = Field(min_length=1, max_length=MAX_BODY_CHARACTERS)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        found = controls_in(value)
        if found:
            raise ValueError(f"control character {describe(found[0][1])} in the name: remove it")
        if not value.strip():
            raise ValueError("the name is empty")
        return " ".join(value.split())

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        try:
            check_controls(value)
            body = normalize_for_gsm(value.strip())
            if not body:
                raise InvalidInput("the body is empty", field="body")
            placeholders_of(body, allowed=CANNED_PLACEHOLDERS, optional_parts=False)
        except InvalidInput as exc:
            raise ValueError(exc.message) from exc
        return body

    @property
    def placeholders(self) -> tuple[str, ...]:
        return placeholders_of(self.body, allowed=CANNED_PLACEHOLDERS, optional_parts=False)


@dataclass(frozen=True)
class CannedContext:
    """The values a canned response is filled with for one conversation; nothing clinical."""

    clinic_name: str
    department: str
    clinic_phone: str = ""
    first_name: str | None = None
    next_opening: str | None = None  # from shared.inbox.replies.describe_opening


def department_label(department: str) -> str:
    """``"front-desk"`` -> ``"Front Desk"``."""
    return " ".join(part.capitalize() for part in department.split("-") if part)


def render(canned: CannedResponseRequest, context: CannedContext) -> str:
    """The text a staff member sends; see the module docstring for a missing first name."""
    body = canned.body
    first_name = _clean_name(context.first_name)
    if not first_name:
        for greeting, without_name in _GREETINGS:
            body = greeting.sub(without_name, body)
    values = {
        "first_name": first_name,
        "clinic_name": normalize_for_gsm(context.clinic_name.strip()),
        "department": department_label(context.department),
        "clinic_phone": normalize_for_gsm(context.clinic_phone.strip()),
        "next_opening": context.next_opening or "our next business day",
    }
    text = body.format_map(values)
    # A value left out leaves "Thanks !" or "Hi , ": close the gap as a person would have written it.
    text = re.sub(r"[ \t]+([,.!?;:])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    text = re.sub(r"^[,;:.!?\s]+", "", text)
    return text[:1].upper() + text[1:]


def _clean_name(raw: str | None) -> str:
    """A first name fit for a text: GSM-normalized, controls removed, spaces collapsed; "" unless it
    holds a letter (a name of only marks or symbols is treated as missing)."""
    name = normalize_for_gsm(raw or "")
    name = "".join(ch for ch in name if not is_control(ch) and ch.isprintable())
    name = " ".join(name.split())
    return name if any(ch.isalpha() for ch in name) else ""


def sample_report(canned: CannedResponseRequest) -> SegmentReport:
    """What the response costs with long sample values (a long name and clinic name)."""
    return analyze(canned.body.format_map(SAMPLE_VALUES))
