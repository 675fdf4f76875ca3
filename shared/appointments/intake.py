"""What ClinicText keeps of an appointment it is told about, and the per-entry answer it gives back.

``AppointmentIntake`` is deliberately narrow: it has a field for everything a reminder may say (minimum
necessary: first name, date/time, place) and for nothing else. Reason for visit, description, service type,
specialty, appointment type, comments, patient instructions, practitioner names and any other free text have
no field here, and ``extra="forbid"`` makes adding one by accident a validation error rather than a leak.

Every value that can reach a text is checked here, whichever door it came in by (FHIR or CSV): names,
locations and addresses are one line of printable text of a bounded length (:func:`text_problem`), and
instants lie inside :func:`shared.core.clock.check_instant`'s window, so what is stored can always be read
back.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from functools import lru_cache
from typing import Any, Final, Literal, get_args

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.core.clock import Instant
from shared.core.dates import birth_date_problem
from shared.core.errors import InvalidPhoneNumber
from shared.core.phone import is_e164, to_e164

AppointmentStatus = Literal[
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
]
APPOINTMENT_STATUSES: Final[frozenset[str]] = frozenset(get_args(AppointmentStatus))

# Statuses that stop reminders. An update carrying one of them only needs the appointment id: a cancellation
# must always get through, even when the sender no longer includes the start or the patient.
CANCELLATION_STATUSES: Final[frozenset[str]] = frozenset({"cancelled", "noshow", "entered-in-error"})

# Statuses whose appointment may have no start yet (FHIR R4 invariant app-3: only proposed, cancelled and
# waitlisted appointments may lack start/end). Such an appointment is stored but never reminded.
UNSCHEDULED_STATUSES: Final[frozenset[str]] = CANCELLATION_STATUSES | {"proposed", "waitlist"}

# Appointment statuses that get reminders. FHIR R4: "booked" is the one status meaning "confirmed to go
# ahead at the date/times specified". A proposed, pending or waitlisted appointment is not yet fixed (a
# reminder would announce a time nobody confirmed); arrived, checked-in and fulfilled are under way or over.
REMINDABLE_STATUSES: Final[frozenset[str]] = frozenset({"booked"})

# The longest values that may reach a text. A reminder is one SMS segment; these bounds are generous for
# real names and addresses and refuse a pasted paragraph.
FIRST_NAME_MAX: Final[int] = 64
LOCATION_NAME_MAX: Final[int] = 120
LOCATION_ADDRESS_MAX: Final[int] = 200

# Phone number types that can receive a text. A fixed line, toll-free, premium-rate, shared-cost, pager,
# UAN or voicemail number cannot (phonenumbers' number_type).
_TEXTABLE_TYPES: Final[frozenset[int]] = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.VOIP,
    }
)
_LINE_BREAKS: Final[frozenset[str]] = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_CONTROL_NAMES: Final[dict[str, str]] = {
    "\x00": "NUL",
    "\x07": "BEL",
    "\x08": "backspace",
    "\t": "tab",
    "\x1b": "ESC",
    "\x7f": "DEL",
}
# Zero-width joiner and non-joiner are part of how some scripts (Persian, Indic) write names.
_ALLOWED_FORMAT: Final[frozenset[str]] = frozenset({"\u200c", "\u200d"})

# FHIR ``id`` datatype: what both the FHIR and the CSV path accept as an appointment or patient id.
FHIR_ID_PATTERN: Final[str] = r"^[A-Za-z0-9\-.]{1,64}$"
_FHIR_ID = re.compile(FHIR_ID_PATTERN)

# Zone keys that resolve on a host but do not name a place; "localtime" is whatever the server uses.
_NOT_A_PLACE: Final[frozenset[str]] = frozenset({"localtime", "posixrules", "Factory"})


def is_fhir_id(value: str) -> bool:
    """True when ``value`` is a valid FHIR ``id`` (1-64 letters, digits, ``-`` or ``.``)."""
    return bool(_FHIR_ID.fullmatch(value))


@lru_cache(maxsize=1024)
def is_iana_time_zone(key: str) -> bool:
    """True when ``key`` names an IANA time zone that this host (or the ``tzdata`` package) can load."""
    if not key or key in _NOT_A_PLACE or key != key.strip():
        return False
    try:
        zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def text_problem(value: str, *, max_length: int) -> str | None:
    """Why ``value`` is not one line of printable text of at most ``max_length`` characters, else ``None``.

    The answer names the kind of character (``ESC (U+001B)``), never the value: values may be PHI.
    """
    if not value.strip():
        return "is empty"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    for char in value:
        if char in _LINE_BREAKS:
            return "contains a line break; it must be one line"
        category = unicodedata.category(char)
        code = f"U+{ord(char):04X}"
        if category == "Cc":
            name = _CONTROL_NAMES.get(char)
            return f"contains a control character ({name + ' ' if name else ''}{code})"
        if category == "Cf" and char not in _ALLOWED_FORMAT:
            return f"contains an invisible formatting character ({code})"
        if category in ("Cs", "Co", "Cn"):
            return f"contains a character that is not printable text ({code})"
    return None


def _plain_text(value: str | None, max_length: int) -> str | None:
    if value is None:
        return None
    problem = text_problem(value, max_length=max_length)
    if problem:
        raise ValueError(problem)
    if value != value.strip():
        raise ValueError("has surrounding spaces")
    return value


def sms_problem(e164: str, default_region: str) -> str | None:
    """Why a valid E.164 number cannot receive this clinic's texts, else ``None``.

    Two rules: the number must be of a type that takes SMS (not a fixed line, toll-free, pager, ...), and it
    must share the country calling code of ``default_region`` (a clinic's US origination number texts US
    and Canadian numbers, not a number abroad). Names the kind of number, never the number.
    """
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "is not a valid phone number"
    home = phonenumbers.country_code_for_region(default_region.upper())
    if home and parsed.country_code != home:
        return (
            f"is outside the clinic's country calling code (+{home}, default region {default_region.upper()})"
        )
    kind = phonenumbers.number_type(parsed)
    if kind not in _TEXTABLE_TYPES:
        label = {
            phonenumbers.PhoneNumberType.FIXED_LINE: "a fixed line (landline)",
            phonenumbers.PhoneNumberType.TOLL_FREE: "a toll-free number",
            phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
            phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
            phonenumbers.PhoneNumberType.PAGER: "a pager",
            phonenumbers.PhoneNumberType.VOICEMAIL: "a voicemail number",
        }.get(kind, "a number of a kind that cannot receive texts")
        return f"is {label}, which cannot receive texts"
    return None


def mobile_to_e164(raw: str, default_region: str) -> str | None:
    """Normalize a number as an EHR or a person wrote it to E.164; ``None`` when it is not a valid number.

    Numbers without a country code are read as numbers of ``default_region`` (ISO 3166 alpha-2, e.g. "US").
    ``tel:`` URIs are accepted. The rule itself is :func:`shared.core.phone.to_e164`; the caller reports the
    *field*, never the value.
    """
    text = raw.strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    try:
        return to_e164(text, default_region)
    except InvalidPhoneNumber:
        return None


class AppointmentIntake(BaseModel):
    """One appointment as ClinicText keeps it: ids, status, time, first name, mobile number, place.

    ``patient_ref`` is required unless ``status`` is one of :data:`CANCELLATION_STATUSES`, and ``start``
    unless it is one of :data:`UNSCHEDULED_STATUSES`.
    For such an update a ``None`` means "not sent", not "clear the stored value".

    ``patient_sent`` is False when the sender referenced the patient without sending its details (a FHIR
    update carrying only the moved Appointment): ``first_name`` and ``mobile_e164`` then mean "not sent",
    and the book keeps what it stored for the same patient. ``location_sent`` is the same for the place.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str = Field(pattern=FHIR_ID_PATTERN, description="Appointment.id at the sender")
    status: AppointmentStatus
    start: Instant | None = Field(default=None, description="timezone-aware, 1900..now+100y, stored in UTC")
    end: Instant | None = None
    patient_ref: str | None = Field(default=None, min_length=1, max_length=256, description='"Patient/123"')
    patient_sent: bool = True
    first_name: str | None = Field(default=None, description=f"one line, at most {FIRST_NAME_MAX} characters")
    mobile_e164: str | None = None
    location_ref: str | None = Field(default=None, min_length=1, max_length=256)
    location_sent: bool = True
    location_name: str | None = Field(
        default=None, description=f"one line, at most {LOCATION_NAME_MAX} characters"
    )
    location_address: str | None = Field(
        default=None, description=f"street and city, one line, at most {LOCATION_ADDRESS_MAX} characters"
    )
    time_zone: str | None = Field(default=None, description="IANA zone of the location")
    birth_date: str | None = Field(
        default=None,
        description="the patient's date of birth (YYYY-MM-DD), kept encrypted only to check a secure message",
    )

    @field_validator("first_name")
    @classmethod
    def _first_name(cls, value: str | None) -> str | None:
        return _plain_text(value, FIRST_NAME_MAX)

    @field_validator("location_name")
    @classmethod
    def _location_name(cls, value: str | None) -> str | None:
        return _plain_text(value, LOCATION_NAME_MAX)

    @field_validator("location_address")
    @classmethod
    def _location_address(cls, value: str | None) -> str | None:
        return _plain_text(value, LOCATION_ADDRESS_MAX)

    @field_validator("mobile_e164")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not is_e164(value):
            raise ValueError("must be a valid number in E.164 form")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not is_iana_time_zone(value):
            raise ValueError("must be an IANA time zone such as America/Los_Angeles")
        return value

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = birth_date_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _complete(self) -> AppointmentIntake:
        if self.start is None and self.status not in UNSCHEDULED_STATUSES:
            raise ValueError(f"start is required for a {self.status} appointment")
        if self.status not in CANCELLATION_STATUSES and self.patient_ref is None:
            raise ValueError(f"patient_ref is required for a {self.status} appointment")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self


class EntryResult(BaseModel):
    """The answer for one request Bundle entry; ``batch_response`` puts them back in request order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0, description="position of the entry in the request Bundle")
    status: str = Field(pattern=r"^[1-5][0-9]{2}( .*)?$", description='"201 Created", "400 Bad Request", ...')
    location: str | None = None
    outcome: dict[str, Any] | None = Field(default=None, description="an OperationOutcome resource")

    @property
    def ok(self) -> bool:
        return self.status.startswith("2")
