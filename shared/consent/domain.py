"""Consent recorded by clinic systems: intake and registration forms, and staff taking a request.

Patients' own keywords are handled by :mod:`shared.inbound.domain`; this covers the other channels. FCC 24-24
lets a patient revoke consent "by any reasonable means", so staff can record an opt-out too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.consent.ports import ConsentLedger
from shared.core.clock import CLOCK_SKEW, Clock, Instant
from shared.core.errors import Conflict, InvalidInput, SendOutcomeUnknown, SendRejected, SendThrottled
from shared.core.models import (
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Direction,
    MessageRecord,
)
from shared.core.phone import to_e164
from shared.crypto.ports import BlindIndex
from shared.messaging.ports import MessageLog
from shared.outbound.ports import SmsSender
from shared.runtime.observability import logger
from shared.templates.replies import ReplyBook


class ConsentRequest(BaseModel):
    """Body of ``POST /consent``. Strict: a value of the wrong JSON type (``"send_confirmation": 1``, a number
    for ``phone``, a Unix time for ``consented_at``) is refused, never coerced. Validate it from the JSON
    text (:func:`shared.runtime.http.model_body`), where date-times are ISO 8601 strings."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    phone: str = Field(min_length=3, max_length=64)
    action: Literal["opt_in", "opt_out"] = "opt_in"
    source: Literal["intake_form", "registration", "staff"]
    consented_at: Instant
    reference: str | None = Field(default=None, max_length=128, pattern=r"^[A-Za-z0-9._:/-]+$")
    send_confirmation: bool = True


class LookupRequest(BaseModel):
    """Body of ``POST /consent/lookup`` (strict, like :class:`ConsentRequest`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    phone: str = Field(min_length=3, max_length=64)


@dataclass(frozen=True)
class ConsentResult:
    event_id: str
    state: ConsentState
    confirmation: str  # sent | not_requested | not_sent_opted_out | failed:<reason>


class ConsentService:
    def __init__(
        self,
        *,
        blind_index: BlindIndex,
        consent: ConsentLedger,
        messages: MessageLog,
        sender: SmsSender,
        replies: ReplyBook,
        clock: Clock,
        default_region: str = "US",
    ) -> None:
        self._index = blind_index
        self._consent = consent
        self._messages = messages
        self._sender = sender
        self._replies = replies
        self._clock = clock
        self._region = default_region

    def record(self, request: ConsentRequest) -> ConsentResult:
        e164 = to_e164(request.phone, self._region)
        now = self._clock.now()
        if request.consented_at > now + CLOCK_SKEW:
            raise InvalidInput("consented_at is in the future", field="consented_at")
        phone_hmac = self._index.phone(e164)
        current = self._consent.state(phone_hmac)
        if (
            request.action == "opt_in"
            and current.status is ConsentStatus.OPTED_OUT
            and current.updated_at is not None
            and current.updated_at > request.consented_at
        ):
            raise Conflict(
                "the number opted out after this consent was given; collect a new consent from the patient"
            )
        event = ConsentEvent(
            event_id=uuid.uuid4().hex,
            phone_hmac=phone_hmac,
            action=ConsentAction(request.action),
            at=request.consented_at,
            recorded_at=now,
            channel=Channel.STAFF if request.source == "staff" else Channel.API,
            source=ConsentSource(request.source),
            reference=request.reference,
        )
        state = self._consent.record(event, e164)
        confirmation = "not_requested"
        changed = current.status is not state.status
        if request.send_confirmation and changed:
            body = (
                self._replies.opted_in()
                if state.status is ConsentStatus.OPTED_IN
                else self._replies.opted_out()
            )
            confirmation = self._confirm(phone_hmac, e164, body, event.event_id)
        logger.info(
            "consent recorded",
            extra={"event_id": event.event_id, "action": request.action, "source": request.source},
        )
        return ConsentResult(event.event_id, state, confirmation)

    def lookup(self, request: LookupRequest) -> ConsentState:
        return self._consent.state(self._index.phone(to_e164(request.phone, self._region)))

    def _confirm(self, phone_hmac: str, e164: str, body: str, event_id: str) -> str:
        provider_id = None
        try:
            provider_id = self._sender.send(e164, body)
            status = "sent"
        except SendRejected as exc:
            status = f"failed:{exc}"
        except (SendThrottled, SendOutcomeUnknown) as exc:
            status = f"failed:{type(exc).__name__}"
        self._messages.append(
            MessageRecord(
                message_id=uuid.uuid4().hex,
                phone_hmac=phone_hmac,
                direction=Direction.OUTBOUND,
                kind="consent_confirmation",
                channel=Channel.AWS_SMS,
                status=status,
                created_at=self._clock.now(),
                body=body,
                provider_message_id=provider_id,
                detail=f"consent_event:{event_id}",
            )
        )
        return status
