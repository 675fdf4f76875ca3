"""Domain models in the clinic's language. Fields holding PHI are named, and only ever stored encrypted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.core.phone import is_e164

MAX_INBOUND_BODY = 1600  # 10 concatenated segments; carriers cap long messages well before this


class Channel(StrEnum):
    AWS_SMS = "aws-sms"  # AWS End User Messaging two-way SMS (inbound via SNS) / SNS Publish outbound
    TWILIO = "twilio"  # Twilio-compatible webhook; replies go back as TwiML
    API = "api"  # clinic systems (intake forms, EHR) through the HTTP API
    STAFF = "staff"


class InboundKind(StrEnum):
    OPT_OUT = "opt_out"
    # A possible revocation ("stop it", "cancel please"): recorded as an opt-out (FCC 24-24: no answer means
    # revoked), answered with the one clarification text, and kept for staff to follow up.
    OPT_OUT_UNCLEAR = "opt_out_unclear"
    OPT_IN = "opt_in"
    HELP = "help"
    CONFIRM = "confirm"
    RESCHEDULE = "reschedule"
    OTHER = "other"


# Inbound kinds a person must look at (a staff inbox lists these first).
STAFF_REVIEW_KINDS = frozenset({InboundKind.OPT_OUT_UNCLEAR, InboundKind.RESCHEDULE})


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class InboundText(BaseModel):
    """One text a patient sent, as parsed from either provider's format."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    provider_message_id: str = Field(min_length=1, max_length=128)
    from_number: str
    to_number: str
    body: str = Field(max_length=MAX_INBOUND_BODY)
    received_at: datetime

    @field_validator("from_number", "to_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not is_e164(value):
            raise ValueError("must be a valid E.164 number")
        return value

    @property
    def idempotency_key(self) -> str:
        return f"{self.channel.value}:{self.provider_message_id}"


class ConsentAction(StrEnum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


class ConsentSource(StrEnum):
    KEYWORD = "keyword"  # the patient texted a keyword
    INTAKE_FORM = "intake_form"
    REGISTRATION = "registration"
    STAFF = "staff"
    CARRIER = "carrier"  # the carrier or AWS reported the number opted out


class ConsentStatus(StrEnum):
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"
    UNKNOWN = "unknown"  # never recorded: informational healthcare texts allowed, marketing never
    # The stored state does not read back (damaged item): nothing is sent until an opt-out or the patient's
    # START replaces it (shared.consent.store).
    UNREADABLE = "unreadable"


class ConsentEvent(BaseModel):
    """An append-only ledger entry. Plain ids and timestamps only; the number is stored encrypted."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    phone_hmac: str
    action: ConsentAction
    at: datetime
    recorded_at: datetime
    channel: Channel
    source: ConsentSource
    keyword: str | None = None
    reference: str | None = None  # the clinic system's own id for the form/submission (not PHI)
    carrier_sync: str | None = None  # what happened on AWS's opt-out list, e.g. "readmitted"


class ConsentState(BaseModel):
    """The current consent of one number: the authority every send checks."""

    phone_hmac: str
    status: ConsentStatus
    updated_at: datetime | None = None
    last_event_id: str | None = None
    last_source: ConsentSource | None = None
    carrier_readmitted_at: datetime | None = None
    version: int = 0


class MessageRecord(BaseModel):
    """A text in or out, for the conversation thread and the audit trail. ``body`` is PHI."""

    message_id: str
    phone_hmac: str
    direction: Direction
    kind: str
    channel: Channel
    status: str
    created_at: datetime
    body: str
    provider_message_id: str | None = None
    appointment_id: str | None = None
    segments: int | None = None
    detail: str | None = None
    template: str | None = None  # which template wrote an automated text: builtin, reminder@v2, ...
    # Delivery as the carrier reported it (SNS delivery status logs): delivered, failed, opted_out.
    delivery_status: str | None = None
    delivery_at: datetime | None = None
    delivery_detail: str | None = None
    # Position in the thread. Defaults to created_at; replies derived from an inbound text sort right
    # after it, so a replayed reply lands on the same key and is not logged twice.
    thread_at: datetime | None = None


@dataclass(frozen=True)
class RoutedReply:
    """What a conversation router decided about a non-keyword text."""

    kind: InboundKind
    reply: str | None
    appointment_id: str | None = None
