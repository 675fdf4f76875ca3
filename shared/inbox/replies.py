"""The inbox's automated texts: the after-hours reply and the urgent reply, in English and Spanish.

* :func:`after_hours_reply`: when the department opens next ("We open again Tuesday at 8:30 AM") and what
  to do in an emergency (call 911). Sent at most once per closed period per conversation
  (:meth:`shared.inbox.hours.BusinessHours.closed_period`), never to an opted-out number.
* :func:`urgent_reply`: "If this is an emergency, call 911 now", whatever the hour, and that staff were
  alerted; for a text that reads as self-harm it also gives 988, the Suicide & Crisis Lifeline.

Each names the clinic (the CTIA program name), carries no PHI (not even the first name: the number may
be shared), is GSM-7 (Spanish is written without the accents GSM-7 lacks, as the other replies are) and
fits two segments with a 40-character clinic name (``ClinicName``'s limit). The language is the one
:func:`shared.inbox.triage.triage` saw: Spanish when the patient wrote in Spanish.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from shared.core.segments import is_gsm7, normalize_for_gsm
from shared.inbox.hours import BusinessHours, ClosedPeriod
from shared.inbox.triage import Category

_DAYS_EN: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAYS_ES: Final = ("lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo")
_MONTHS_EN: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_ES: Final = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic")


def clinic_label(clinic_name: str) -> str:
    """The clinic's name in GSM-7 where it can be: typographic punctuation normalized, and a letter GSM-7
    lacks written without its accent ("Clinica San Jose" for "Clínica San José"), so one accent does not
    turn the reply into UCS-2 and three segments. Other characters are kept."""
    out = []
    for ch in normalize_for_gsm(" ".join(clinic_name.split())):
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if not is_gsm7(ch) and base and is_gsm7(base) else ch)
    return "".join(out)


def after_hours_period(hours: BusinessHours, at: datetime, last_key: str | None) -> ClosedPeriod | None:
    """The closed period a text at ``at`` should get the after-hours reply for, or None: open at ``at``,
    or the conversation was already answered in this period (``last_key`` is the key recorded when the
    last after-hours reply went out). The caller still checks consent: never to an opted-out number."""
    period = hours.closed_period(at)
    if period is None or period.key == last_key:
        return None
    return period


def describe_opening(opening: datetime, now: datetime, zone: ZoneInfo, language: str = "en") -> str:
    """When ``opening`` is, as a person says it from ``now`` in ``zone``: "today at 1:00 PM", "tomorrow at
    8:30 AM", "Tuesday at 8:30 AM" (within the week), "Tue Dec 29 at 8:30 AM"; in Spanish "hoy a la 1:00
    p.m.", "manana a las 8:30 a.m.", "el martes a las 8:30 a.m.", "el mar 29 dic a las 8:30 a.m."."""
    local, today = opening.astimezone(zone), now.astimezone(zone).date()
    days = (local.date() - today).days
    hour12 = local.hour % 12 or 12
    clock = f"{hour12}:{local.minute:02d}"
    if language == "es":
        at = f"a la{'s' if hour12 != 1 else ''} {clock} {'a.m.' if local.hour < 12 else 'p.m.'}"
        if days <= 0:
            return f"hoy {at}"
        if days == 1:
            return f"manana {at}"
        if days < 7:
            return f"el {_DAYS_ES[local.weekday()]} {at}"
        return f"el {_DAYS_ES[local.weekday()][:3]} {local.day} {_MONTHS_ES[local.month - 1]} {at}"
    at = f"at {clock} {'AM' if local.hour < 12 else 'PM'}"
    if days <= 0:
        return f"today {at}"
    if days == 1:
        return f"tomorrow {at}"
    if days < 7:
        return f"{_DAYS_EN[local.weekday()]} {at}"
    return f"{_DAYS_EN[local.weekday()][:3]} {_MONTHS_EN[local.month - 1]} {local.day} {at}"


def after_hours_reply(
    clinic_name: str,
    opening: datetime | None,
    now: datetime,
    zone: ZoneInfo,
    language: str = "en",
) -> str:
    """The one after-hours reply; ``opening`` is :meth:`BusinessHours.next_opening` (None: not known)."""
    clinic = clinic_label(clinic_name)
    when = describe_opening(opening, now, zone, language) if opening is not None else None
    if language == "es":
        back = f"Abrimos de nuevo {when} y le responderemos entonces." if when else "Le responderemos pronto."
        return (
            f"{clinic}: Gracias por su mensaje. Estamos cerrados. {back} Si es una emergencia, llame al 911."
        )
    back = f"We open again {when} and will reply then." if when else "We will reply as soon as we can."
    return f"{clinic}: Thanks for your message. We are closed now. {back} If this is an emergency, call 911."


def urgent_reply(clinic_name: str, language: str = "en", category: Category | None = None) -> str:
    """The immediate reply to a text that reads as urgent, whatever the hour."""
    clinic = clinic_label(clinic_name)
    crisis = category is Category.SELF_HARM
    if language == "es":
        line = " Si piensa en hacerse dano, llame o envie un texto al 988." if crisis else ""
        return (
            f"{clinic}: Si es una emergencia, llame al 911 ahora o vaya a la sala de emergencias."
            f"{line} Avisamos a nuestro personal y le contactaremos pronto."
        )
    line = " If you are thinking of harming yourself, call or text 988." if crisis else ""
    return (
        f"{clinic}: If this is an emergency, call 911 now or go to the nearest ER.{line} "
        "We have alerted our staff and will contact you soon."
    )
