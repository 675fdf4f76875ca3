"""What happens when a patient texts the clinic: keywords, consent, the thread, and the one reply.

Both inbound sources (AWS two-way SMS via SNS, and the Twilio-compatible webhook) become an
:class:`InboundText` and run through :meth:`InboundService.handle`. Ids are derived from the
provider's message id, so a redelivered text maps onto the same records instead of new ones.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.consent.ports import ConsentLedger
from shared.core.clock import Clock
from shared.core.errors import (
    AlreadyRecorded,
    ClinicTextError,
    SendOutcomeUnknown,
    SendRejected,
    SendThrottled,
)
from shared.core.metrics import Counter, NullCounter
from shared.core.models import (
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Direction,
    InboundKind,
    InboundText,
    MessageRecord,
)
from shared.crypto.ports import BlindIndex
from shared.inbound.keywords import classify_keyword
from shared.inbound.ports import ConversationRouter, PatientInboxPort
from shared.inbound.revocation import inbound_kind
from shared.messaging.ports import MessageLog
from shared.outbound.ports import CarrierOptOutList, SmsSender
from shared.runtime.observability import logger
from shared.templates.replies import ReplyBook

_ID_NAMESPACE = uuid.UUID("6f1b7f1e-3c55-4c3e-9a52-2f7d0d3c1a10")
_NO_REPLIES = frozenset({ConsentStatus.OPTED_OUT, ConsentStatus.UNREADABLE})
CARRIER_READMIT_INTERVAL = timedelta(days=30)


def derived_id(*parts: str) -> str:
    """A stable id for a record derived from a provider message id (replays map to the same id)."""
    return uuid.uuid5(_ID_NAMESPACE, "|".join(parts)).hex


def keyword_consent_event(
    text: InboundText,
    phone_hmac: str,
    action: ConsentAction,
    keyword: str | None,
    *,
    recorded_at: datetime,
    carrier_sync: str | None = None,
) -> ConsentEvent:
    """The ledger event a patient's own text records. Its id derives from the provider's message id, so
    every path that records the same text (a retry, the last resort below) records the same event."""
    return ConsentEvent(
        event_id=derived_id(text.idempotency_key, "consent"),
        phone_hmac=phone_hmac,
        action=action,
        at=text.received_at,
        recorded_at=recorded_at,
        channel=text.channel,
        source=ConsentSource.KEYWORD,
        keyword=keyword,
        carrier_sync=carrier_sync,
    )


def opt_out_keyword(body: str) -> tuple[InboundKind | None, str | None, str]:
    """How :meth:`InboundService.handle` reads ``body`` as an opt-out: ``OPT_OUT`` (a carrier keyword or a
    clear request in plain words), ``OPT_OUT_UNCLEAR``, or None; the ledger keyword; the reply language."""
    kind, keyword = classify_keyword(body)
    language = "en"
    if kind is InboundKind.OTHER:
        kind, keyword, language = inbound_kind(body)
    if kind in (InboundKind.OPT_OUT, InboundKind.OPT_OUT_UNCLEAR):
        return kind, keyword, language
    return None, None, language


@dataclass(frozen=True)
class LastResortOptOut:
    recorded: bool  # the text was an opt-out and it is on the ledger
    reply: str | None = None  # the one confirmation (or clarification) still owed, when it is


def record_opt_out_last_resort(
    text: InboundText, *, consent: ConsentLedger, blind_index: BlindIndex, clock: Clock, replies: ReplyBook
) -> LastResortOptOut:
    """Record the opt-out of an opt-out text straight on the ledger, for when :meth:`InboundService.handle`
    failed or never ran: only the blind index and the ledger are needed, and the event is the one
    ``handle`` records (same id), so it is never recorded twice. Never raises: a failure is logged (ids
    only) and reported as not recorded. ``reply`` is the text owed unless the number was opted out
    already by another text."""
    kind, keyword, language = opt_out_keyword(text.body)
    if kind is None:
        return LastResortOptOut(False)
    event_id = derived_id(text.idempotency_key, "consent")
    try:
        phone_hmac = blind_index.phone(text.from_number)
        before = consent.state(phone_hmac)
        event = keyword_consent_event(
            text, phone_hmac, ConsentAction.OPT_OUT, keyword, recorded_at=clock.now()
        )
        consent.record(event, text.from_number)
    except Exception as exc:
        logger.error(  # the type only: an exception's text could carry the number
            "last-resort opt-out could not be recorded",
            extra={"event_id": event_id, "error": type(exc).__name__},
        )
        return LastResortOptOut(False)
    logger.warning(
        "opt-out recorded by the last-resort path", extra={"event_id": event_id, "phone_hmac": phone_hmac}
    )
    if before.status is ConsentStatus.OPTED_OUT and before.last_event_id != event_id:
        return LastResortOptOut(True)
    unclear = kind is InboundKind.OPT_OUT_UNCLEAR
    return LastResortOptOut(True, (replies.opt_out_unclear if unclear else replies.opted_out)(language))


def reply_at(text: InboundText) -> datetime:
    """Where the reply to ``text`` sits in the thread: right after it (the same place on every replay)."""
    return text.received_at + timedelta(milliseconds=1)


class ReplyVia(StrEnum):
    TWIML = "twiml"  # returned in the webhook response; Twilio sends it from the number texted
    SNS = "sns"  # SNS Publish to the patient's number


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
        inbox: PatientInboxPort | None = None,
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
        self._inbox = inbox
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
            if before.status is not ConsentStatus.OPTED_OUT or self._reply_owed(text, phone_hmac, before):
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
                # The answer is recorded, but after an opt-out nothing more is sent (CTIA): a "C" from an
                # opted-out (or unreadable) number gets no "confirmed" text.
                if reply is not None and self._consent.state(phone_hmac).status in _NO_REPLIES:
                    reply = None

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
        if kind is InboundKind.OTHER and reply is None and self._inbox is not None:
            # Not a keyword, not a reminder answer: a question for the clinic. Logged above first, so the
            # conversation references a message that exists; a redelivery lands it once (the inbox's
            # landing record) and its automated reply goes out once (the outbound claim).
            may_text = self._consent.state(phone_hmac).status not in _NO_REPLIES
            self._inbox.land(text, phone_hmac, message_id, may_text=may_text)
        if reply is None:
            return InboundOutcome(kind, message_id, None, None, carrier_sync=carrier_sync)
        via, status = self._reply(text, phone_hmac, reply, kind, appointment_id)
        return InboundOutcome(kind, message_id, reply, via, status, carrier_sync, appointment_id)

    # -- consent --------------------------------------------------------------------------------
    def _reply_owed(self, text: InboundText, phone_hmac: str, before: ConsentState) -> bool:
        """True when the number was opted out by this very text, by an attempt that failed before its reply
        was logged (a throttled reply, a crash) or by the last-resort path: the retry still owes the one
        reply. Not when the reply is in the log (a redelivery after the idempotency record expired), nor
        for another delivery of the text at another time (a Twilio retry is a new request; a failed Twilio
        opt-out is confirmed in the failure's own answer)."""
        same_text = before.last_event_id == derived_id(text.idempotency_key, "consent")
        if not same_text or before.updated_at != text.received_at:
            return False
        return not self._messages.recorded(
            phone_hmac, derived_id(text.idempotency_key, "reply"), reply_at(text)
        )

    def _record_consent(
        self,
        text: InboundText,
        phone_hmac: str,
        action: ConsentAction,
        keyword: str | None,
        *,
        carrier_sync: str | None = None,
    ) -> None:
        event = keyword_consent_event(
            text, phone_hmac, action, keyword, recorded_at=self._clock.now(), carrier_sync=carrier_sync
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
                thread_at=reply_at(text),
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
