"""The reminder text: minimum necessary, one GSM-7 segment, and never "reply CANCEL".

The text names the clinic (the program name carriers require), the first name, the time in the
appointment's own zone and the place, and says how to answer. Reason for visit, service, specialty and
practitioner are not stored at all, so they cannot reach a text. When realistic values would need a
second segment the place goes first, then the first name, and a compact wording is the last resort.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.core.errors import InvalidInput
from shared.core.segments import analyze, normalize_for_gsm
from shared.runtime.observability import logger
from shared.templates.domain import render as render_stored
from shared.templates.domain import validate
from shared.templates.ports import StoredTemplate, TemplateStore

BUILTIN = "builtin"

ANSWER = "Reply C to confirm or R to reschedule. Reply STOP to opt out."


def render_when(start: datetime, time_zone: str) -> str:
    """``Tue Nov 24 at 3:30 PM`` in ``time_zone`` (no zero padding, English, locale-independent)."""
    local = start.astimezone(ZoneInfo(time_zone))
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    hour = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    day = f"{days[local.weekday()]} {months[local.month - 1]} {local.day}"
    return f"{day} at {hour}:{local.minute:02d} {meridiem}"


@dataclass(frozen=True)
class ReminderTemplate:
    """The reminder wording: the clinic's stored ``reminder`` template when it saved one
    (:mod:`shared.templates.domain`), else the built-in wording below."""

    clinic_name: str
    default_time_zone: str
    clinic_phone: str = ""
    store: TemplateStore | None = None

    def compose(
        self,
        *,
        start: datetime,
        time_zone: str | None,
        first_name: str | None,
        location: str | None,
    ) -> tuple[str, str]:
        """(text, which template made it: ``builtin`` or ``reminder@v<N>``)."""
        stored = self.store.current("reminder") if self.store is not None else None
        if stored is not None and not meets_the_rules(stored):
            # Saved before a rule it breaks existed (no appointment time, a control character): the
            # built-in wording is used until the clinic saves a version that passes.
            logger.warning(
                "stored reminder template breaks the rules; built-in wording used",
                extra={"template": stored.label},
            )
            stored = None
        if stored is None:
            return self.render(
                start=start, time_zone=time_zone, first_name=first_name, location=location
            ), BUILTIN
        when = render_when(start, time_zone or self.default_time_zone)
        date, _, at = when.partition(" at ")
        values = {
            "clinic_name": self.clinic_name,
            "first_name": first_name,
            "when": when,
            "date": date,
            "time": at,
            "location": location,
            "clinic_phone": self.clinic_phone,
        }
        return render_stored(stored.template(), values), stored.label

    def render(
        self,
        *,
        start: datetime,
        time_zone: str | None,
        first_name: str | None,
        location: str | None,
    ) -> str:
        """The built-in wording, fitted to one GSM-7 segment."""
        when = render_when(start, time_zone or self.default_time_zone)
        clinic = self.clinic_name
        candidates = []
        for name, place in ((first_name, location), (first_name, None), (None, None)):
            greeting = f"Hi {name}, reminder" if name else "Reminder"
            at = f" at {place}" if place else ""
            candidates.append(f"{clinic}: {greeting} of your appointment {when}{at}. {ANSWER}")
        candidates.append(
            f"{clinic}: Appointment {when}. Reply C to confirm, R to reschedule, STOP to opt out."
        )
        normalized = [normalize_for_gsm(text) for text in candidates]
        for text in normalized:
            report = analyze(text)
            if report.encoding == "GSM-7" and report.segments == 1:
                return text
        return normalized[-1]


def meets_the_rules(stored: StoredTemplate) -> bool:
    """True when a stored reminder template still passes :func:`shared.templates.domain.validate`."""
    return _passes(stored.body)


@lru_cache(maxsize=32)
def _passes(body: str) -> bool:
    try:
        validate(body, kind="reminder")
    except InvalidInput:
        return False
    return True


# Department or site names that reveal a condition must never reach a text (DOMAIN: PHI in a text).
SENSITIVE_SITE_WORDS = (
    "oncolog",
    "cancer",
    "tumor",
    "chemo",
    "radiation",
    "hiv",
    "aids",
    "std",
    "sti",
    "sexual",
    "psychiat",
    "mental",
    "behavioral",
    "behavioural",
    "addiction",
    "substance",
    "rehab",
    "detox",
    "methadone",
    "dialysis",
    "kidney",
    "fertility",
    "ivf",
    "abortion",
    "reproductive",
    "hospice",
    "palliative",
    "transplant",
    "infectious",
    "hepatitis",
    "diabet",
    "cardio",
    "neurolog",
    "dermatolog",
    "urolog",
    "gyn",
    "obstet",
    "pediatric",
    "geriatric",
    "eating disorder",
    "weight loss",
    "bariatric",
)


def _reveals_condition(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_SITE_WORDS)


def location_line(name: str | None, address: str | None) -> str | None:
    """The place as a reminder names it: the street address; a site name only when there is no address
    and the name reveals nothing about a condition ("Oncology Wing" never reaches a text)."""
    if address:
        return address
    if name and not _reveals_condition(name):
        return name
    return None
