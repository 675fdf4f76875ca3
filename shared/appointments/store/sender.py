"""Sending one queued reminder, at most once, to a patient who has not opted out.

Per message (ids only: reminder pk, appointment pk, appointment version):

1. Read the reminder and its appointment. Nothing is sent when the reminder is already final, the message
   or the reminder belongs to an older version of the appointment (it moved), the appointment is no longer
   remindable (cancelled, no-show...) or has started.
2. **Claim** with one ``TransactWriteItems``: a ``ConditionCheck`` that the number's consent STATE is absent
   or a readable ``opted_in`` (checked at send time, atomically with the claim; an opt-out or a state
   that does not read back blocks the text), the reminder ``queued``/``pending`` ->
   ``sending`` with a claim token, and a ``ConditionCheck`` that the appointment still has that version
   and a remindable status. Only one delivery of a message can win the claim.
3. Publish through SNS, then one transaction marks the reminder ``sent`` (leaving the ``due`` index),
   sets the appointment's ``last_reminded_at`` and logs the message (body encrypted): a text counted as
   sent always has its audit record.

Failure handling, and the one window that remains:

* Throttled before publish: the claim is released (``queued``) and the message retried.
* Rejected for good by the provider (invalid or carrier-opted-out number): ``rejected``, not retried.
* Outcome unknown (timeout, connection lost during Publish): ``unconfirmed``, **never retried**, because
  the patient may have the text already. Staff see it in the reminder status.
* Crash after the claim (e.g. the function times out or dies between Publish and the bookkeeping): the
  reminder stays ``sending``. A redelivery that finds a claim older than :data:`CLAIM_TIMEOUT` (longer
  than the function's timeout, so the first attempt is surely over) marks it ``unconfirmed`` and sends
  nothing; a younger claim is left alone and the message retried later.

Quiet hours (TCPA) and frequency caps: before the claim the sender works out the recipient's zone
(appointment location, else the number, else the clinic default) and reads the number's recent automated
texts (:mod:`shared.outbound.caps`). The next allowed moment is the first instant the caps allow, moved
forward into the quiet-hours window. If that is later than now the reminder goes back to ``pending`` with
its due time moved there (a later run picks it up), never dropped; only a reminder whose next allowed
moment is at or after the appointment start is closed, as ``skipped_quiet_hours`` or
``skipped_frequency_cap``, with the reason recorded. The claim transaction also records the text against
the number's caps, on condition that nobody else did in between.

Pacing: after the decision to send and before the claim, the sender books its parts on the origination
number's shared schedule (:mod:`shared.outbound.pacing`) and waits for its slot. A ``ThrottledException`` from
SNS means the text was not accepted: the sender backs off, books a new slot and tries again under the same
claim, a few times, then releases the claim (and the cap allowance) and lets the queue redeliver it.

So a patient is never texted twice for one reminder. The remaining window is the other way round: a
crash after the claim but *before* SNS accepted the text leaves the reminder ``unconfirmed`` and the
patient without that reminder (at most once, not exactly once). ``unconfirmed`` reminders are counted
and shown to staff so they can follow up.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared.appointments import plan
from shared.appointments.fanout import QueuedReminder
from shared.appointments.wording import ReminderTemplate, location_line
from shared.consent.ports import ConsentGuard
from shared.core.clock import Clock, iso, parse_iso
from shared.core.errors import SendOutcomeUnknown, SendRejected, SendThrottled
from shared.core.models import Channel, Direction, MessageRecord
from shared.core.segments import analyze
from shared.crypto.ports import PhiCipher
from shared.messaging.ports import MessageLog
from shared.outbound.caps import CapRecord, FrequencyCaps
from shared.outbound.pacing import PacerBusy
from shared.outbound.ports import CapLedger, SendPacer, SmsSender, UnpacedSender
from shared.outbound.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours, recipient_zone
from shared.runtime.aws_errors import is_condition_failure

# Longer than ReminderSenderFunction's Timeout (60 s in template.yaml): a claim this old is abandoned.
CLAIM_TIMEOUT = timedelta(minutes=5)
FINAL = frozenset(
    {
        plan.SENT,
        plan.UNCONFIRMED,
        plan.CANCELLED,
        plan.SUPERSEDED,
        plan.SKIPPED_OPTED_OUT,
        plan.SKIPPED_PASSED,
        plan.SKIPPED_QUIET_HOURS,
        plan.SKIPPED_FREQUENCY_CAP,
        plan.REJECTED,
    }
)


DEFERRED_QUIET_HOURS = "deferred_quiet_hours"
DEFERRED_FREQUENCY_CAP = "deferred_frequency_cap"
# Back-off before each new attempt after SNS throttled a Publish (seconds); then the queue redelivers.
THROTTLE_BACKOFF = (0.2, 0.5, 1.0)
# Seconds of an invocation kept for claim, Publish (with its throttle retries) and bookkeeping.
BOOKKEEPING_RESERVE = 15.0


def _condition_failed(exc: ClientError) -> bool:
    """A transaction refused because its conditions no longer hold (retrying cannot help), as opposed
    to throttling or a conflict with a concurrent writer."""
    reasons = exc.response.get("CancellationReasons") or []
    return any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons)


class RetryLater(Exception):
    """The message should come back later (throttled, or another delivery holds a fresh claim)."""


class ReminderSender:
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
        origination: str | None = None,
        quiet_hours: QuietHours = DEFAULT_QUIET_HOURS,
        default_time_zone: str = "America/New_York",
        cap_ledger: CapLedger | None = None,
        caps: FrequencyCaps | None = None,
        pacer: SendPacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._reminders = reminders
        self._appointments = appointments
        self._client = reminders.meta.client
        self._consent = consent
        self._cipher = cipher
        self._sender = sender
        self._messages = messages
        self._template = template
        self._clock = clock
        self._origination = origination or None
        self._quiet_hours = quiet_hours
        self._default_zone = default_time_zone
        self._cap_ledger = cap_ledger
        self._caps = caps if cap_ledger is not None else None
        self._pacer = pacer or UnpacedSender()
        self._sleep = sleep

    def send(self, message: QueuedReminder, *, seconds_left: float | None = None) -> str:
        """Process one queued reminder; returns what happened (a status word, for logs and metrics).

        ``seconds_left`` is the invocation's remaining time: the sender never waits for a send slot so
        long that the claim, Publish and bookkeeping could be cut off by the function timeout.
        """
        reminder = self._get(self._reminders, message.reminder_pk)
        if reminder is None:
            return "missing"
        status = str(reminder["status"])
        version = int(reminder["appointment_version"])
        if status in FINAL:
            return f"already_{status}"
        if version != message.appointment_version:
            return "stale_message"  # the appointment moved; the rewritten reminder is queued on its own
        now = self._clock.now()
        if status == plan.SENDING:
            claimed_at = parse_iso(str(reminder.get("claimed_at") or iso(now)))
            if now - claimed_at < CLAIM_TIMEOUT:
                raise RetryLater("another delivery holds a fresh claim")
            self._finish(reminder, plan.UNCONFIRMED, now, {"detail": "claim_abandoned"}, token=None)
            return plan.UNCONFIRMED

        appointment = self._get(self._appointments, message.appointment_pk)
        if appointment is None or int(appointment["version"]) != version:
            self._stop(reminder, plan.SUPERSEDED, now)
            return plan.SUPERSEDED
        if appointment["status"] not in plan.REMINDABLE or not appointment.get("phone_hmac"):
            self._stop(reminder, plan.CANCELLED, now)
            return plan.CANCELLED
        start = parse_iso(str(appointment["start_at"]))
        if start <= now:
            self._stop(reminder, plan.SKIPPED_PASSED, now)
            return plan.SKIPPED_PASSED

        # Decrypt before the claim: the recipient's zone may come from the number, and the window
        # between claim and Publish stays as short as possible.
        contact = self._cipher.decrypt(
            plan.contact_record_ref(str(appointment["source_id"])), reminder["contact_ct"]
        )
        zone = recipient_zone(appointment.get("time_zone"), contact.get("phone"), self._default_zone)
        caps = (
            self._cap_ledger.read(str(appointment["phone_hmac"]))
            if self._caps and self._cap_ledger is not None
            else None
        )
        capped_until = self._caps.next_allowed(caps.times(), now) if self._caps and caps else now
        allowed = self._quiet_hours.next_allowed(capped_until, zone)
        if allowed > now:
            by_cap = capped_until > now
            if allowed >= start:
                final = plan.SKIPPED_FREQUENCY_CAP if by_cap else plan.SKIPPED_QUIET_HOURS
                reason = "frequency_cap" if by_cap else "quiet_hours"
                self._stop(reminder, final, now, detail=f"{reason}_until_after_start")
                return final
            return self._defer(reminder, allowed, now, reason="frequency_cap" if by_cap else "quiet_hours")

        body, template_label = self._template.compose(
            start=start,
            time_zone=appointment.get("time_zone"),
            first_name=contact.get("first_name"),
            location=location_line(contact.get("location_name"), contact.get("location_address")),
        )
        parts = analyze(body).segments
        max_wait = None if seconds_left is None else seconds_left - BOOKKEEPING_RESERVE
        try:
            self._pacer.acquire(parts, max_wait=max_wait)
        except PacerBusy as exc:
            raise RetryLater(str(exc)) from exc
        now = self._clock.now()
        if not self._quiet_hours.is_allowed(now, zone):  # the window closed while waiting for the slot
            return self._defer(reminder, self._quiet_hours.next_allowed(now, zone), now, reason="quiet_hours")

        token = str(uuid.uuid4())
        claim = self._claim(reminder, appointment, token, now, caps)
        if claim != "claimed":
            return claim
        try:
            provider_id = self._publish(contact["phone"], body, parts)
        except SendThrottled as exc:
            self._release(reminder, appointment, token, caps is not None)
            raise RetryLater("throttled by the SMS provider") from exc
        except SendRejected as exc:
            self._finish(reminder, plan.REJECTED, now, {"detail": f"rejected:{exc}"}, token=token)
            return plan.REJECTED
        except SendOutcomeUnknown as exc:
            self._finish(reminder, plan.UNCONFIRMED, now, {"detail": f"unknown:{exc}"}, token=token)
            return plan.UNCONFIRMED
        record = self._record(reminder, appointment, body, provider_id, template=template_label, parts=parts)
        self._mark_sent(reminder, appointment, token, provider_id, record)
        return plan.SENT

    # -- steps ----------------------------------------------------------------------------------
    def _publish(self, phone: str, body: str, parts: int) -> str:
        """Publish; on throttling back off, book a new slot and try again (nothing was accepted)."""
        for backoff in (*THROTTLE_BACKOFF, None):
            try:
                return self._sender.send(phone, body, origination=self._origination)
            except SendThrottled:
                if backoff is None:
                    raise
                self._sleep(backoff)
                try:
                    self._pacer.acquire(parts)
                except (PacerBusy, ClientError) as exc:
                    # Nothing was accepted: the caller gives the claim back, and the queue retries.
                    raise SendThrottled("no send slot after throttling") from exc
        raise AssertionError("unreachable")

    def _claim(
        self,
        reminder: dict[str, Any],
        appointment: dict[str, Any],
        token: str,
        now: datetime,
        caps: CapRecord | None,
    ) -> str:
        version = int(reminder["appointment_version"])
        cap_items = (
            [self._cap_ledger.claim_item(caps, token, now)]
            if caps is not None and self._cap_ledger is not None
            else []
        )
        try:
            self._client.transact_write_items(
                TransactItems=[
                    self._consent.sendable_check(str(appointment["phone_hmac"])),
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
                    *cap_items,
                ]
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "TransactionConflict" in reasons or not reasons:
                raise RetryLater("claim raced another writer") from exc
            if reasons[0] == "ConditionalCheckFailed":
                self._stop(reminder, plan.SKIPPED_OPTED_OUT, now, detail="consent_opted_out_at_send")
                return plan.SKIPPED_OPTED_OUT
            if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                return "appointment_changed"
            if len(reasons) > 3 and reasons[3] == "ConditionalCheckFailed":
                raise RetryLater("another text to this number was claimed meanwhile") from exc
            return "claimed_elsewhere"
        return "claimed"

    def _mark_sent(
        self,
        reminder: dict[str, Any],
        appointment: dict[str, Any],
        token: str,
        provider_id: str,
        record: MessageRecord,
    ) -> None:
        """One transaction: the reminder ``sent``, the appointment's reminder status, and the message in
        the log (body encrypted), so a text that counts as sent always has its audit record."""
        now = self._clock.now()
        offset = str(int(reminder["offset_minutes"]))
        self._client.transact_write_items(
            TransactItems=[
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
                *self._messages.put_requests(record),
            ]
        )

    def _record(
        self,
        reminder: dict[str, Any],
        appointment: dict[str, Any],
        body: str,
        provider_id: str,
        *,
        template: str,
        parts: int,
    ) -> MessageRecord:
        message_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"reminder:{reminder['pk']}:{reminder['appointment_version']}")
        )
        return MessageRecord(
            message_id=message_id,
            phone_hmac=str(appointment["phone_hmac"]),
            direction=Direction.OUTBOUND,
            kind="reminder",
            channel=Channel.AWS_SMS,
            status="sent",
            created_at=self._clock.now(),
            body=body,
            provider_message_id=provider_id,
            appointment_id=str(appointment["source_id"]),
            segments=parts,
            template=template,
        )

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
            return "claimed_elsewhere"
        return DEFERRED_FREQUENCY_CAP if reason == "frequency_cap" else DEFERRED_QUIET_HOURS

    def _release(
        self, reminder: dict[str, Any], appointment: dict[str, Any], token: str, capped: bool
    ) -> None:
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
            }
        ]
        if capped and self._cap_ledger is not None:
            items.append(self._cap_ledger.release_item(str(appointment["phone_hmac"]), token))
        # A claim not given back would close the reminder as unconfirmed, and the patient would never
        # get a text that was never sent: try a few times before leaving that to the claim timeout.
        for backoff in (*THROTTLE_BACKOFF, None):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                if backoff is None or _condition_failed(exc):
                    raise
                self._sleep(backoff)

    @staticmethod
    def _get(table: Any, pk: str) -> dict[str, Any] | None:
        item = table.get_item(Key={"pk": pk}, ConsistentRead=True).get("Item")
        return dict(item) if item else None
