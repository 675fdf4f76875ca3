"""The reminder kind's DynamoDB side: reading queued reminders a batch at a time and keeping their status.

Per SQS batch (ids only: reminder pk, appointment pk, appointment version):

1. **One consistent ``BatchGetItem``** reads every reminder and appointment of the batch;
   :func:`shared.appointments.reminder_kind.triage` decides which are still worth a text (a final, moved,
   cancelled or started one is closed here, with a conditional update).
2. The rest are composed (contact decrypted, template, the recipient's zone) and handed to the one
   outbound pipeline (:mod:`shared.outbound.pipeline`) as texts of kind ``reminder``: it reads the
   numbers' consent and caps in one batch read, groups them, books one send slot per group in one
   booking, claims each group at its slot in one transaction (consent ``ConditionCheck``, this module's
   reminder ``queued``/``pending`` -> ``sending`` with a claim token and appointment ``ConditionCheck``,
   the cap record), publishes, and marks the group sent (this module's reminder ``sent`` and
   appointment ``last_reminded_at``, plus the message log record) in the next group's claim
   transaction, or in its own after the batch's last group.

Failure handling, and the one window that remains:

* Throttled before publish: the claim is released (``queued``) and the message retried.
* Rejected for good by the provider (invalid or carrier-opted-out number): ``rejected``, not retried.
* Outcome unknown (timeout, connection lost during Publish): ``unconfirmed``, **never retried**, because
  the patient may have the text already. Staff see it in the reminder status.
* Crash after the claim (e.g. the function times out or dies between Publish and the bookkeeping): the
  reminder stays ``sending``. A redelivery that finds a claim older than :data:`CLAIM_TIMEOUT` (longer
  than the function's timeout, so the first attempt is surely over) marks it ``unconfirmed`` and sends
  nothing; a younger claim is left alone and the message retried later.

Quiet hours and caps (applied by the pipeline for the ``reminder`` kind): a held reminder goes back to
``pending`` with its due time moved to the next allowed moment (a later run picks it up), never dropped;
only a reminder whose next allowed moment is at or after the appointment start is closed, as
``skipped_quiet_hours`` or ``skipped_frequency_cap``, with the reason recorded.

So a patient is never texted twice for one reminder. The remaining window is the other way round: a
crash after the claim but *before* SNS accepted the text leaves the reminder ``unconfirmed`` and the
patient without that reminder (at most once, not exactly once). ``unconfirmed`` reminders are counted
and shown to staff so they can follow up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.appointments import plan, reminder_kind
from shared.appointments.fanout import QueuedReminder
from shared.appointments.reminder_kind import CLAIM_TIMEOUT, FINAL
from shared.appointments.wording import ReminderTemplate, location_line
from shared.consent.ports import ConsentGuard
from shared.core.clock import Clock, iso, parse_iso
from shared.core.models import Channel, Direction, MessageRecord
from shared.crypto.ports import PhiCipher
from shared.messaging.ports import MessageLog
from shared.outbound import pipeline as outbound
from shared.outbound.caps import FrequencyCaps
from shared.outbound.kinds import REMINDER
from shared.outbound.pipeline import (
    DEFERRED_FREQUENCY_CAP,
    DEFERRED_QUIET_HOURS,
    NumberStates,
    OutboundPipeline,
    OutboundText,
    Outcome,
    RetryLater,
)
from shared.outbound.ports import (
    BatchReader,
    CapLedger,
    SendPacer,
    SmsSender,
    TransactionCancelled,
    Transactions,
    UnpacedSender,
)
from shared.outbound.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours, recipient_zone
from shared.runtime.aws_errors import is_condition_failure

__all__ = [
    "CLAIM_TIMEOUT",
    "DEFERRED_FREQUENCY_CAP",
    "DEFERRED_QUIET_HOURS",
    "FINAL",
    "THROTTLE_BACKOFF",
    "ReminderSender",
    "RetryLater",
]

# Back-off before each new attempt after SNS throttled a Publish (seconds); then the queue redelivers.
# Read at each batch, so tests (and operators) can change it.
THROTTLE_BACKOFF = outbound.THROTTLE_BACKOFF


@dataclass
class _Queued:
    """The reminder kind's handle on one text: the items it was read from and the template used."""

    message: QueuedReminder
    reminder: dict[str, Any]
    appointment: dict[str, Any]
    template: str


class ReminderSender:
    """Reads queued reminders in batches and sends them through the outbound pipeline, as the
    ``reminder`` kind's bookkeeping (:class:`shared.outbound.pipeline.KindBook`)."""

    claim_item_count = 2  # the reminder's claim, the appointment's check
    sent_item_count = 2  # the reminder ``sent``, the appointment's ``last_reminded_at``

    def __init__(
        self,
        *,
        reminders: Any,
        appointments: Any,
        consent: ConsentGuard,
        cipher: PhiCipher,
        sender: SmsSender,
        messages: MessageLog,
        template: ReminderTemplate,
        clock: Clock,
        batch_reader: BatchReader,
        transactions: Transactions,
        origination: str | None = None,
        quiet_hours: QuietHours = DEFAULT_QUIET_HOURS,
        default_time_zone: str = "America/New_York",
        cap_ledger: CapLedger | None = None,
        caps: FrequencyCaps | None = None,
        pacer: SendPacer | None = None,
        parts_per_second: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._reminders = reminders
        self._appointments = appointments
        self._consent = consent
        self._cipher = cipher
        self._sender = sender
        self._messages = messages
        self._template = template
        self._clock = clock
        self._reader = batch_reader
        self._transactions = transactions
        self._origination = origination or None
        self._quiet_hours = quiet_hours
        self._default_zone = default_time_zone
        self._cap_ledger = cap_ledger
        self._caps = caps if cap_ledger is not None else None
        self._pacer = pacer or UnpacedSender()
        self._parts_per_second = parts_per_second
        self._sleep = sleep
        self._states = NumberStates(batch_reader, consent, self._cap_ledger if self._caps else None)

    def pipeline(self) -> OutboundPipeline:
        """The outbound pipeline this sender's texts go through (cheap to build: it holds no state)."""
        return OutboundPipeline(
            states=self._states,
            consent=self._consent,
            transactions=self._transactions,
            pacer=self._pacer,
            sender=self._sender,
            messages=self._messages,
            clock=self._clock,
            cipher=self._cipher,
            cap_ledger=self._cap_ledger,
            caps=self._caps,
            quiet_hours=self._quiet_hours,
            origination=self._origination,
            parts_per_second=self._parts_per_second,
            throttle_backoff=THROTTLE_BACKOFF,
            sleep=self._sleep,
        )

    # -- entry points -------------------------------------------------------------------------------
    def send(self, message: QueuedReminder, *, seconds_left: float | None = None) -> str:
        """Process one queued reminder; returns what happened. Raises :class:`RetryLater`."""
        [outcome] = self.send_batch([message], seconds_left=seconds_left)
        if outcome.retry:
            raise RetryLater(outcome.detail)
        return outcome.word

    def send_batch(
        self, messages: Sequence[QueuedReminder], *, seconds_left: float | None = None
    ) -> list[Outcome]:
        """Process a batch of queued reminders; one :class:`Outcome` per message, in order (``retry``:
        the message goes back to the queue).

        ``seconds_left`` is the invocation's remaining time: the pipeline never waits for a send slot so
        long that the claim, Publish and bookkeeping could be cut off by the function timeout.
        """
        if not messages:
            return []
        try:
            found = self._reader.get(
                {
                    self._reminders.name: [{"pk": m.reminder_pk} for m in messages],
                    self._appointments.name: [{"pk": m.appointment_pk} for m in messages],
                }
            )
        except Exception as exc:  # throttled or incomplete: nothing was decided, all of it comes back
            return [outbound.retry(f"read failed: {type(exc).__name__}") for _ in messages]
        reminders = {str(item["pk"]): item for item in found.get(self._reminders.name, [])}
        appointments = {str(item["pk"]): item for item in found.get(self._appointments.name, [])}
        now = self._clock.now()
        outcomes: list[Outcome | None] = [None] * len(messages)
        texts: list[OutboundText] = []
        positions: list[int] = []
        for index, message in enumerate(messages):
            try:
                prepared = self._prepare(
                    message,
                    reminders.get(message.reminder_pk),
                    appointments.get(message.appointment_pk),
                    now,
                )
            except Exception as exc:  # this message only; the others go on
                outcomes[index] = outbound.retry(f"prepare failed: {type(exc).__name__}")
                continue
            if isinstance(prepared, Outcome):
                outcomes[index] = prepared
            else:
                texts.append(prepared)
                positions.append(index)
        for index, outcome in zip(
            positions, self.pipeline().send(texts, self, seconds_left=seconds_left), strict=True
        ):
            outcomes[index] = outcome
        return [outcome or outbound.retry("not processed") for outcome in outcomes]

    def _prepare(
        self,
        message: QueuedReminder,
        reminder: dict[str, Any] | None,
        appointment: dict[str, Any] | None,
        now: datetime,
    ) -> Outcome | OutboundText:
        verdict = reminder_kind.triage(message, reminder, appointment, now)
        if verdict.retry:
            return outbound.retry("another delivery holds a fresh claim")
        if reminder is None or not verdict.send:
            if reminder is not None and verdict.write is not None:
                if verdict.abandoned_claim:
                    self._finish(reminder, verdict.write, now, {"detail": "claim_abandoned"}, token=None)
                else:
                    self._stop(reminder, verdict.write, now)
            return Outcome(verdict.word)
        if appointment is None:  # triage lets a text through only with its appointment
            raise RuntimeError("reminder triage passed a text without its appointment")
        # Decrypt before the claim: the recipient's zone may come from the number, and the window
        # between claim and Publish stays as short as possible.
        contact = self._cipher.decrypt(
            plan.contact_record_ref(str(appointment["source_id"])), reminder["contact_ct"]
        )
        start = parse_iso(str(appointment["start_at"]))
        body, template_label = self._template.compose(
            start=start,
            time_zone=appointment.get("time_zone"),
            first_name=contact.get("first_name"),
            location=location_line(contact.get("location_name"), contact.get("location_address")),
        )
        return OutboundText(
            key=reminder_kind.message_id(reminder),
            kind=REMINDER,
            phone_hmac=str(appointment["phone_hmac"]),
            body=body,
            phone=str(contact["phone"]),
            zone=recipient_zone(appointment.get("time_zone"), contact.get("phone"), self._default_zone),
            not_after=start,
            ref=_Queued(message, reminder, appointment, template_label),
        )

    # -- the reminder kind's bookkeeping (KindBook) ---------------------------------------------------
    def claim_items(self, text: OutboundText, token: str, now: datetime) -> list[dict[str, Any]]:
        ref: _Queued = text.ref
        return self._claim(ref.reminder, ref.appointment, token, now)

    def claim_refused(self, text: OutboundText, failed: Sequence[int], now: datetime) -> Outcome:
        return Outcome(reminder_kind.claim_refused(list(failed)))

    def sent_items(
        self, text: OutboundText, token: str, provider_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        ref: _Queued = text.ref
        return self._mark_sent(ref.reminder, ref.appointment, token, provider_id, now)

    def record(self, text: OutboundText, body: str, provider_id: str, parts: int) -> MessageRecord:
        ref: _Queued = text.ref
        return MessageRecord(
            message_id=text.key,
            phone_hmac=text.phone_hmac,
            direction=Direction.OUTBOUND,
            kind=text.kind.name,
            channel=Channel.AWS_SMS,
            status="sent",
            created_at=self._clock.now(),
            body=body,
            provider_message_id=provider_id,
            appointment_id=str(ref.appointment["source_id"]),
            segments=parts,
            template=ref.template,
        )

    def stop(self, text: OutboundText, word: str, now: datetime, detail: str) -> Outcome:
        self._stop(text.ref.reminder, word, now, detail=detail)
        return Outcome(word)

    def defer(self, text: OutboundText, until: datetime, now: datetime, reason: str) -> Outcome:
        return Outcome(self._defer(text.ref.reminder, until, now, reason=reason))

    def close(self, text: OutboundText, word: str, now: datetime, detail: str, token: str) -> None:
        self._finish(text.ref.reminder, word, now, {"detail": detail}, token=token)

    def release(self, text: OutboundText, token: str, extra_items: list[dict[str, Any]]) -> None:
        self._release(text.ref.reminder, token, extra_items)

    # -- items and writes ------------------------------------------------------------------------------
    def _claim(
        self, reminder: dict[str, Any], appointment: dict[str, Any], token: str, now: datetime
    ) -> list[dict[str, Any]]:
        """The reminder ``queued``/``pending`` -> ``sending`` with the claim token, and the appointment
        still at that version with a remindable status (the pipeline adds consent and caps)."""
        version = int(reminder["appointment_version"])
        return [
            {
                "Update": {
                    "TableName": self._reminders.name,
                    "Key": {"pk": reminder["pk"]},
                    "UpdateExpression": "SET #s = :sending, claim_token = :token, claimed_at = :now",
                    "ConditionExpression": "#s IN (:pending, :queued) AND appointment_version = :v",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":sending": plan.SENDING,
                        ":token": token,
                        ":now": iso(now),
                        ":pending": plan.PENDING,
                        ":queued": plan.QUEUED,
                        ":v": version,
                    },
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self._appointments.name,
                    "Key": {"pk": appointment["pk"]},
                    "ConditionExpression": "version = :v AND #s IN (:booked, :pending, :proposed)",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":v": version,
                        ":booked": "booked",
                        ":pending": "pending",
                        ":proposed": "proposed",
                    },
                }
            },
        ]

    def _mark_sent(
        self,
        reminder: dict[str, Any],
        appointment: dict[str, Any],
        token: str,
        provider_id: str,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """The reminder ``sent`` and the appointment's reminder status; the pipeline writes them with the
        message's log record in one transaction, so a text that counts as sent always has its record."""
        offset = str(int(reminder["offset_minutes"]))
        return [
            {
                "Update": {
                    "TableName": self._reminders.name,
                    "Key": {"pk": reminder["pk"]},
                    "UpdateExpression": "SET #s = :sent, sent_at = :now, provider_message_id = :pid "
                    "REMOVE due_bucket, due_key",
                    "ConditionExpression": "#s = :sending AND claim_token = :token",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":sent": plan.SENT,
                        ":now": iso(now),
                        ":pid": provider_id,
                        ":sending": plan.SENDING,
                        ":token": token,
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._appointments.name,
                    "Key": {"pk": appointment["pk"]},
                    "UpdateExpression": "SET reminder_status.#off = :sent, last_reminded_at = :now",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeNames": {"#off": offset},
                    "ExpressionAttributeValues": {":sent": plan.SENT, ":now": iso(now)},
                }
            },
        ]

    def _stop(
        self, reminder: dict[str, Any], final: str, now: datetime, *, detail: str | None = None
    ) -> None:
        """Take a not-yet-claimed reminder out of the running (conditional: it may have moved on)."""
        values: dict[str, Any] = {
            ":final": final,
            ":now": iso(now),
            ":pending": plan.PENDING,
            ":queued": plan.QUEUED,
            ":v": int(reminder["appointment_version"]),
        }
        expression = "SET #s = :final, stopped_at = :now"
        if detail:
            expression += ", #detail = :detail"
            values[":detail"] = detail
        try:
            self._reminders.update_item(
                Key={"pk": reminder["pk"]},
                UpdateExpression=expression + " REMOVE due_bucket, due_key",
                ConditionExpression="#s IN (:pending, :queued) AND appointment_version = :v",
                ExpressionAttributeNames={"#s": "status", **({"#detail": "detail"} if detail else {})},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def _finish(
        self, reminder: dict[str, Any], final: str, now: datetime, extra: dict[str, str], *, token: str | None
    ) -> None:
        """Close a claimed reminder without sending again (unconfirmed, rejected)."""
        values: dict[str, Any] = {":final": final, ":now": iso(now), ":sending": plan.SENDING}
        names = {"#s": "status"}
        sets = ["#s = :final", "stopped_at = :now"]
        for position, (key, value) in enumerate(extra.items()):
            names[f"#x{position}"] = key
            values[f":x{position}"] = value
            sets.append(f"#x{position} = :x{position}")
        condition = "#s = :sending"
        if token is not None:
            condition += " AND claim_token = :token"
            values[":token"] = token
        else:
            condition += " AND claimed_at = :claimed"
            values[":claimed"] = reminder.get("claimed_at")
        try:
            self._reminders.update_item(
                Key={"pk": reminder["pk"]},
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE due_bucket, due_key",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def _defer(self, reminder: dict[str, Any], until: datetime, now: datetime, *, reason: str) -> str:
        """Back to ``pending``, due at the next allowed moment; a later run queues it again."""
        try:
            self._reminders.update_item(
                Key={"pk": reminder["pk"]},
                UpdateExpression="SET #s = :pending, due_at = :due, due_bucket = :bucket, due_key = :key, "
                "deferred_reason = :reason, deferred_at = :now REMOVE queued_at",
                ConditionExpression="#s IN (:pending, :queued) AND appointment_version = :v",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":pending": plan.PENDING,
                    ":queued": plan.QUEUED,
                    ":due": iso(until),
                    ":bucket": plan.due_bucket(until),
                    ":key": plan.due_key(until, str(reminder["pk"])),
                    ":reason": reason,
                    ":now": iso(now),
                    ":v": int(reminder["appointment_version"]),
                },
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            return reminder_kind.CLAIMED_ELSEWHERE
        return DEFERRED_FREQUENCY_CAP if reason == "frequency_cap" else DEFERRED_QUIET_HOURS

    def _release(self, reminder: dict[str, Any], token: str, extra_items: list[dict[str, Any]]) -> None:
        """Give a throttled claim back (and the number's cap allowance with it): nothing was sent."""
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._reminders.name,
                    "Key": {"pk": reminder["pk"]},
                    "UpdateExpression": "SET #s = :queued REMOVE claim_token, claimed_at",
                    "ConditionExpression": "#s = :sending AND claim_token = :token",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":queued": plan.QUEUED,
                        ":sending": plan.SENDING,
                        ":token": token,
                    },
                }
            },
            *extra_items,
        ]
        # A claim not given back would close the reminder as unconfirmed, and the patient would never
        # get a text that was never sent: try a few times before leaving that to the claim timeout.
        for backoff in (*THROTTLE_BACKOFF, None):
            try:
                self._transactions.write(items)
                return
            except TransactionCancelled as exc:
                if backoff is None or "ConditionalCheckFailed" in exc.reasons:
                    raise
            except ClientError:
                if backoff is None:
                    raise
            self._sleep(backoff)
