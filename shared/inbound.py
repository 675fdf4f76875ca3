"""What happens when a patient texts the clinic: keywords, consent, the thread, and the one reply.

Both inbound sources (AWS two-way SMS via SNS, and the Twilio-compatible webhook) become an
:class:`InboundText` and run through :meth:`InboundService.handle`. Ids are derived from the
provider's message id, so a redelivered text maps onto the same records instead of new ones.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from shared.clock import Clock
from shared.crypto import BlindIndex
from shared.errors import AlreadyRecorded, ClinicTextError, SendOutcomeUnknown, SendRejected, SendThrottled
from shared.keywords import classify_keyword
from shared.models import (
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Direction,
    InboundKind,
    InboundText,
    MessageRecord,
)
from shared.observability import logger
from shared.replies import ReplyBook
from shared.revocation import inbound_kind
from shared.sms import CarrierOptOutList, SmsSender
from shared.stores.consent import ConsentLedger
from shared.stores.messages import MessageLog

_ID_NAMESPACE = uuid.UUID("6f1b7f1e-3c55-4c3e-9a52-2f7d0d3c1a10")
CARRIER_READMIT_INTERVAL = timedelta(days=30)


def derived_id(*parts: str) -> str:
    """A stable id for a record derived from a provider message id (replays map to the same id)."""
    return uuid.uuid5(_ID_NAMESPACE, "|".join(parts)).hex


class ReplyVia(StrEnum):
    TWIML = "twiml"  # returned in the webhook response; Twilio sends it from the number texted
    SNS = "sns"  # SNS Publish to the patient's number


@dataclass(frozen=True)
class RoutedReply:
    """What a conversation router decided about a non-keyword text."""

    kind: InboundKind
    reply: str | None
    appointment_id: str | None = None


class ConversationRouter(Protocol):
    """Understands answers to reminders (confirm / reschedule). Returns None when it does not."""

    def route(self, text: InboundText, phone_hmac: str) -> RoutedReply | None: ...


class Counter(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...


class NullCounter:
    def count(self, name: str, value: int = 1) -> None:
        return None


@dataclass(frozen=True)
class InboundOutcome:
    kind: InboundKind
    message_id: str
    reply: str | None
    reply_via: ReplyVia | None
    reply_status: str | None = None
    carrier_sync: str | None = None
    appointment_id: str | None = None


class InboundService:
    def __init__(
        self,
        *,
        blind_index: BlindIndex,
        consent: ConsentLedger,
        messages: MessageLog,
        sender: SmsSender,
        carrier_optouts: CarrierOptOutList,
        replies: ReplyBook,
        clock: Clock,
        router: ConversationRouter | None = None,
        counter: Counter | None = None,
    ) -> None:
        self._index = blind_index
        self._consent = consent
        self._messages = messages
        self._sender = sender
        self._carrier = carrier_optouts
        self._replies = replies
        self._clock = clock
        self._router = router
        self._counter = counter or NullCounter()

    def handle(self, text: InboundText) -> InboundOutcome:
        phone_hmac = self._index.phone(text.from_number)
        kind, keyword = classify_keyword(text.body)
        language = "en"
        if kind is InboundKind.OTHER:  # plain words ("please stop texting me"), before any reminder answer
            kind, keyword, language = inbound_kind(text.body)
        message_id = derived_id(text.idempotency_key, "in")
        reply: str | None = None
        carrier_sync: str | None = None
        appointment_id: str | None = None

        if kind in (InboundKind.OPT_OUT, InboundKind.OPT_OUT_UNCLEAR):  # unclear: paused until START
            before = self._consent.state(phone_hmac)
            self._record_consent(text, phone_hmac, ConsentAction.OPT_OUT, keyword)
            # One text only: a second STOP (or "stop it") from an opted-out number is recorded, not answered;
            # the ledger is the record, so a redelivery never sends a second confirmation or clarification.
            if before.status is not ConsentStatus.OPTED_OUT:
                unclear = kind is InboundKind.OPT_OUT_UNCLEAR
                reply = (self._replies.opt_out_unclear if unclear else self._replies.opted_out)(language)
            self._counter.count("OptOuts")
        elif kind is InboundKind.OPT_IN:
            carrier_sync = self._readmit_on_carrier_list(text.from_number, phone_hmac)
            self._record_consent(text, phone_hmac, ConsentAction.OPT_IN, keyword, carrier_sync=carrier_sync)
            reply = self._replies.opted_in()
            self._counter.count("OptIns")
        elif kind is InboundKind.HELP:
            reply = self._replies.help()  # answered whether or not the number is subscribed
        elif self._router is not None:
            routed = self._router.route(text, phone_hmac)
            if routed is not None:
                kind, reply, appointment_id = routed.kind, routed.reply, routed.appointment_id

        self._counter.count(f"Inbound_{kind.value}")
        self._log(
            MessageRecord(
                message_id=message_id,
                phone_hmac=phone_hmac,
                direction=Direction.INBOUND,
                kind=kind.value,
                channel=text.channel,
                status="received",
                created_at=text.received_at,
                body=text.body,
                provider_message_id=text.provider_message_id,
                appointment_id=appointment_id,
            )
        )
        logger.info(
            "inbound text handled",
            extra={
                "message_id": message_id,
                "kind": kind.value,
                "channel": text.channel.value,
                "phone_hmac": phone_hmac,
                "carrier_sync": carrier_sync,
            },
        )
        if reply is None:
            return InboundOutcome(kind, message_id, None, None, carrier_sync=carrier_sync)
        via, status = self._reply(text, phone_hmac, reply, kind, appointment_id)
        return InboundOutcome(kind, message_id, reply, via, status, carrier_sync, appointment_id)

    # -- consent --------------------------------------------------------------------------------
    def _record_consent(
        self,
        text: InboundText,
        phone_hmac: str,
        action: ConsentAction,
        keyword: str | None,
        *,
        carrier_sync: str | None = None,
    ) -> None:
        event = ConsentEvent(
            event_id=derived_id(text.idempotency_key, "consent"),
            phone_hmac=phone_hmac,
            action=action,
            at=text.received_at,
            recorded_at=self._clock.now(),
            channel=text.channel,
            source=ConsentSource.KEYWORD,
            keyword=keyword,
            carrier_sync=carrier_sync,
        )
        self._consent.record(event, text.from_number)

    def _readmit_on_carrier_list(self, e164: str, phone_hmac: str) -> str:
        """Keep AWS's opt-out list in step with a START. AWS allows one re-admission per 30 days."""
        try:
            if not self._carrier.is_opted_out(e164):
                return "not_on_carrier_list"
        except Exception as exc:  # the ledger still records the opt-in; the gap is reported
            logger.warning("carrier opt-out check failed", extra={"error": type(exc).__name__})
            return "carrier_check_failed"
        state = self._consent.state(phone_hmac)
        now = self._clock.now()
        if state.carrier_readmitted_at and now - state.carrier_readmitted_at < CARRIER_READMIT_INTERVAL:
            return "readmit_blocked_30_day_limit"
        try:
            self._carrier.readmit(e164)
        except ClinicTextError as exc:
            logger.warning("carrier re-admission failed", extra={"error": str(exc)})
            return "readmit_failed"
        return "readmitted"  # the ledger stamps carrier_readmitted_at from this event

    # -- replies and the log ---------------------------------------------------------------------
    def _reply(
        self, text: InboundText, phone_hmac: str, body: str, kind: InboundKind, appointment_id: str | None
    ) -> tuple[ReplyVia, str]:
        reply_id = derived_id(text.idempotency_key, "reply")
        provider_id: str | None = None
        if text.channel is Channel.TWILIO:
            via, status = ReplyVia.TWIML, "returned_as_twiml"
        else:
            via = ReplyVia.SNS
            try:
                # Reply from the number the patient texted, so the conversation stays on one number.
                provider_id = self._sender.send(text.from_number, body, origination=text.to_number)
                status = "sent"
            except SendRejected as exc:
                status = f"rejected:{exc}"
            except (SendThrottled, SendOutcomeUnknown):
                raise  # let the event source retry; idempotency keeps the rest from repeating
        self._counter.count("Replies")
        self._log(
            MessageRecord(
                message_id=reply_id,
                phone_hmac=phone_hmac,
                direction=Direction.OUTBOUND,
                kind=f"reply_{kind.value}",
                channel=text.channel,
                status=status,
                created_at=self._clock.now(),
                thread_at=text.received_at + timedelta(milliseconds=1),
                body=body,
                provider_message_id=provider_id,
                appointment_id=appointment_id,
            )
        )
        return via, status

    def _log(self, record: MessageRecord) -> None:
        # The same derived id in the log already means a redelivery after a partial run.
        with contextlib.suppress(AlreadyRecorded):
            self._messages.append(record)
