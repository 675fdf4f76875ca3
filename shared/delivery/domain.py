"""Delivery status: what the carrier said about each text SNS sent, back onto the message records.

SNS writes one JSON log line per SMS to CloudWatch Logs (``sns/<region>/<account>/DirectPublishToPhoneNumber``
for deliveries, ``.../Failure`` for failures) once ``DeliveryStatusIAMRole`` is set; a subscription filter
hands them to ``DeliveryStatusFunction``. Each line::

    {"notification": {"messageId": "...", "timestamp": "2026-11-23 17:04:05.123"},
     "delivery": {"destination": "+1...", "providerResponse": "Message has been accepted by phone carrier",
                  "numberOfMessageParts": 1, "priceInUSD": 0.00581, "smsType": "Transactional", ...},
     "status": "SUCCESS"}

becomes ``delivered``, ``failed`` (with the carrier's reason) or ``opted_out`` on the delivery status of
the text SNS's message id names. A subscription batch holds many lines: they are recorded together (see
:meth:`DeliveryStatusService.apply_all`), a few DynamoDB requests for the whole batch. An opt-out the
carrier reports is also written to the consent ledger (source ``carrier``), so the clinic's list and the
carrier's never drift apart; the number in the log line must match the blind index of the number the text
went to, or the line is refused and nothing changes. The number is never logged
and never stored in clear (the ledger encrypts it, as for every other opt-out).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.consent.ports import ConsentLedger
from shared.core.clock import check_instant
from shared.core.controls import is_control
from shared.core.errors import InvalidInput
from shared.core.models import Channel, ConsentAction, ConsentEvent, ConsentSource
from shared.core.phone import to_e164
from shared.crypto.ports import BlindIndex
from shared.messaging.ports import DeliveryBook, DeliveryReport, DeliveryUpdate, Recipients
from shared.runtime.http import JsonLimits, parse_json

DELIVERED = "delivered"
FAILED = "failed"
OPTED_OUT = "opted_out"
MAX_LOG_LINE = 16 * 1024
LOG_LINE_LIMITS = JsonLimits(max_bytes=MAX_LOG_LINE, max_depth=16)
# Carrier answers that mean the person opted out of texts from this sender (SNS "providerResponse").
_OPT_OUT = re.compile(r"opted[ -]?out|opt[ -]out|unsubscribed", re.IGNORECASE)
# A reason is stored and shown to staff: never a number, should a carrier ever echo one.
_NUMBER_LIKE = re.compile(r"\+?\d[\d ().-]{5,}\d")


class _Notification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    messageId: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$")
    timestamp: datetime

    @field_validator("timestamp", mode="before")
    @classmethod
    def _sns_time(cls, value: Any) -> datetime:
        """SNS writes UTC as ``2016-06-28 00:40:34.558``; an ISO instant with an offset is accepted too."""
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError("timestamp must be a date-time string")
        text = value.strip().replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
        # check_instant: inside the accepted window, and a ValueError (not OverflowError) at the edges.
        return check_instant(parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed)


class _Delivery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    destination: str = Field(min_length=3, max_length=32)
    providerResponse: str = Field(default="", max_length=512)
    numberOfMessageParts: int | None = Field(default=None, ge=1, le=255)
    priceInUSD: float | None = Field(default=None, ge=0, le=100)


class SnsDeliveryLog(BaseModel):
    """One SNS SMS delivery-status log line."""

    model_config = ConfigDict(extra="ignore")

    notification: _Notification
    delivery: _Delivery
    status: Literal["SUCCESS", "FAILURE"]

    @classmethod
    def parse(cls, line: str) -> SnsDeliveryLog:
        if len(line) > MAX_LOG_LINE:
            raise InvalidInput("delivery log line is too long", field="message")
        try:  # the one JSON parser for outside input: nesting, number and duplicate-key limits
            data = parse_json(line, LOG_LINE_LIMITS)
        except InvalidInput as exc:
            raise InvalidInput(f"delivery log line: {exc.message}", field="message") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "message"
            raise InvalidInput(f"delivery log line: {first.get('msg')}", field=where) from exc

    @property
    def outcome(self) -> str:
        if self.status == "SUCCESS":
            return DELIVERED
        return OPTED_OUT if _OPT_OUT.search(self.delivery.providerResponse) else FAILED

    @property
    def reason(self) -> str:
        """The carrier's reason as staff see it: no number, no control characters, at most 200 characters."""
        text = "".join(" " if is_control(ch) else ch for ch in self.delivery.providerResponse)
        text = re.sub(r"\s+", " ", _NUMBER_LIKE.sub("[number]", text)).strip()
        return text[:200] or ("accepted" if self.status == "SUCCESS" else "no reason given")


@dataclass(frozen=True)
class DeliveryResult:
    provider_message_id: str
    outcome: str  # delivered | failed | opted_out
    recorded: str  # updated | stale | unmatched
    consent: str | None = None  # opted_out_recorded when the ledger was written


@dataclass(frozen=True)
class DeliveryBatch:
    """The results of a batch, one per log line in order (an :class:`InvalidInput` for a refused one),
    and how many DynamoDB requests were sent again while recording it."""

    results: tuple[DeliveryResult | InvalidInput, ...]
    retries: int = 0


class DeliveryStatusService:
    def __init__(
        self,
        *,
        messages: DeliveryBook,
        consent: ConsentLedger,
        blind_index: BlindIndex,
        clock: Any,
        default_region: str = "US",
    ) -> None:
        self._messages = messages
        self._consent = consent
        self._index = blind_index
        self._clock = clock
        self._region = default_region

    def apply(self, log: SnsDeliveryLog) -> DeliveryResult:
        """Record one report. Raises :class:`InvalidInput` (nothing changed) for a line whose number is
        not a number, or is not the number the matched text went to."""
        [result] = self.apply_all([log]).results
        if isinstance(result, InvalidInput):
            raise result
        return result

    def apply_all(self, logs: Sequence[SnsDeliveryLog]) -> DeliveryBatch:
        """Record a batch of reports: one result per log, in order, an :class:`InvalidInput` for a line
        refused (nothing changed for it). A carrier opt-out is checked against the number its text went
        to (one read for all of the batch's opt-outs) and reaches the consent ledger before any status
        is written; the statuses then go in one batched write."""
        opt_out_ids = {log.notification.messageId for log in logs if log.outcome == OPTED_OUT}
        sent_to = self._messages.recipients(opt_out_ids) if opt_out_ids else Recipients({})
        results: list[DeliveryResult | InvalidInput | None] = [None] * len(logs)
        reports: list[DeliveryReport] = []
        waiting: list[tuple[int, str | None]] = []
        for position, log in enumerate(logs):
            consent = None
            if log.outcome == OPTED_OUT:
                try:
                    self._record_opt_out(log, sent_to.by_provider_id.get(log.notification.messageId))
                except InvalidInput as exc:
                    results[position] = exc
                    continue
                consent = "opted_out_recorded"
            reports.append(DeliveryReport(log.notification.messageId, self._update(log)))
            waiting.append((position, consent))
        recorded = self._messages.record_deliveries(reports) if reports else None
        outcomes = recorded.outcomes if recorded else ()
        for (position, consent), report, outcome in zip(waiting, reports, outcomes, strict=True):
            log = logs[position]
            results[position] = DeliveryResult(report.provider_message_id, log.outcome, outcome, consent)
        done = [result for result in results if result is not None]
        retries = sent_to.retries + (recorded.retries if recorded else 0)
        return DeliveryBatch(tuple(done), retries)

    def _record_opt_out(self, log: SnsDeliveryLog, recipient: str | None) -> None:
        """The carrier says the number opted out: on the ledger (once per report), unless the line names
        another number than the text it reports on went to (``recipient``, when the text is ours)."""
        provider_id = log.notification.messageId
        e164 = to_e164(log.delivery.destination, self._region)
        phone_hmac = self._index.phone(e164)
        if recipient is not None and recipient != phone_hmac:
            raise InvalidInput(
                "delivery log line names another number than the text it reports on",
                field="delivery.destination",
            )
        self._consent.record(
            ConsentEvent(
                # One ledger event per carrier report, however often the report is delivered.
                event_id="carrier-" + hashlib.sha256(provider_id.encode()).hexdigest()[:32],
                phone_hmac=phone_hmac,
                action=ConsentAction.OPT_OUT,
                at=log.notification.timestamp,
                recorded_at=self._clock.now(),
                channel=Channel.AWS_SMS,
                source=ConsentSource.CARRIER,
                reference=f"sns:{provider_id}",
                carrier_sync="reported_by_carrier",
            ),
            e164,
        )

    @staticmethod
    def _update(log: SnsDeliveryLog) -> DeliveryUpdate:
        # A validated finite float (0-100); DynamoDB takes no floats, so it is kept as its decimal text.
        price = None if log.delivery.priceInUSD is None else str(Decimal(str(log.delivery.priceInUSD)))
        return DeliveryUpdate(
            status=log.outcome,
            at=log.notification.timestamp,
            detail=log.reason,
            parts=log.delivery.numberOfMessageParts,
            price_usd=price,
        )
