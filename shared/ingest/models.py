"""What ClinicText keeps of an appointment it is told about, and the per-entry answer it gives back.

``AppointmentIntake`` is deliberately narrow: it has a field for everything a reminder may say (minimum
necessary: first name, date/time, place) and for nothing else. Reason for visit, description, service type,
specialty, appointment type, comments, patient instructions, practitioner names and any other free text have
no field here, and ``extra="forbid"`` makes adding one by accident a validation error rather than a leak.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.errors import InvalidPhoneNumber
from shared.phone import is_e164, to_e164

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


def mobile_to_e164(raw: str, default_region: str) -> str | None:
    """Normalize a number as an EHR or a person wrote it to E.164; ``None`` when it is not a valid number.

    Numbers without a country code are read as numbers of ``default_region`` (ISO 3166 alpha-2, e.g. "US").
    ``tel:`` URIs are accepted. The rule itself is :func:`shared.phone.to_e164`; the caller reports the
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

    ``start`` and ``patient_ref`` are required unless ``status`` is one of :data:`CANCELLATION_STATUSES`.
    For such an update a ``None`` means "not sent", not "clear the stored value".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str = Field(pattern=FHIR_ID_PATTERN, description="Appointment.id at the sender")
    identifiers: list[str] = Field(
        default_factory=list, description='Appointment.identifier as "system|value"'
    )
    status: AppointmentStatus
    start: datetime | None = Field(default=None, description="timezone-aware, stored in UTC")
    end: datetime | None = None
    patient_ref: str | None = Field(default=None, min_length=1, max_length=256, description='"Patient/123"')
    first_name: str | None = Field(default=None, min_length=1)
    mobile_e164: str | None = None
    location_ref: str | None = Field(default=None, min_length=1, max_length=256)
    location_name: str | None = Field(default=None, min_length=1)
    location_address: str | None = Field(default=None, min_length=1, description="street and city, one line")
    time_zone: str | None = Field(default=None, description="IANA zone of the location")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a timezone offset")
        return value.astimezone(UTC)

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

    @model_validator(mode="after")
    def _complete(self) -> AppointmentIntake:
        if self.status not in CANCELLATION_STATUSES:
            if self.start is None:
                raise ValueError(f"start is required for a {self.status} appointment")
            if self.patient_ref is None:
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
