"""Phone numbers: E.164 normalization with Google's libphonenumber (``phonenumbers``)."""

from __future__ import annotations

import phonenumbers

from shared.core.errors import InvalidPhoneNumber

MAX_RAW_LENGTH = 64


def to_e164(raw: str, default_region: str = "US") -> str:
    """Normalize a number as a person or a system wrote it into E.164 (``+12065550123``).

    Raises :class:`InvalidPhoneNumber` (which never repeats the number) when it cannot be parsed or is
    not a valid number for its region.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhoneNumber("phone number is missing", field="phone")
    if len(raw) > MAX_RAW_LENGTH:
        raise InvalidPhoneNumber("phone number is too long", field="phone")
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(
            "phone number could not be parsed; send it in E.164 form such as +12065550123", field="phone"
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("phone number is not a valid, dialable number", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str) -> bool:
    """True when ``value`` is already a valid number written in canonical E.164."""
    try:
        return to_e164(value) == value
    except InvalidPhoneNumber:
        return False
