"""Domain exceptions. Adapters translate botocore errors into these so domain code never sees AWS."""

from __future__ import annotations


class ClinicTextError(Exception):
    """Base class for every error ClinicText raises on purpose."""


class InvalidInput(ClinicTextError):
    """Input that can never be accepted as sent: the caller must change it.

    ``field`` names the offending field (never its value, which may be PHI).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidPhoneNumber(InvalidInput):
    """A phone number that is not a valid, dialable number."""


class Unauthorized(ClinicTextError):
    """A caller that could not be authenticated (bad signature, no authorizer context)."""


class Conflict(ClinicTextError):
    """The request contradicts recorded state (e.g. consent older than a later opt-out)."""


class ConcurrentChange(Conflict):
    """Other writers kept changing the record while this request tried to; the same request may succeed."""


class AlreadyRecorded(Conflict):
    """A record with this id exists already (a redelivery or replay); nothing was written."""


class NotFound(ClinicTextError):
    """The named record does not exist."""


class IntegrityError(ClinicTextError):
    """Stored ciphertext failed authentication or does not belong to the record it was read from."""


class SendRejected(ClinicTextError):
    """The SMS provider refused a text for good (invalid number, opted out at the carrier)."""


class SendThrottled(ClinicTextError):
    """The SMS provider throttled us; the text was not accepted and may be retried later."""


class SendOutcomeUnknown(ClinicTextError):
    """The SMS provider may or may not have accepted the text (timeout, connection lost)."""
