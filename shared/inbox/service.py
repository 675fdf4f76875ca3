"""The patient's side of the inbox: a text lands in its department's conversation and gets its one
automated answer; the sweep re-escalates urgent conversations nobody opened and flags overdue ones.

:meth:`PatientInbox.land` (called by :class:`shared.inbound.domain.InboundService` for every text that is
not a keyword or a reminder answer, after the opt-out path and the message log):

1. **Route** (:func:`shared.inbox.routing.route`: the number texted, keywords, else the default
   department) and **triage** (:func:`shared.inbox.triage.triage`).
2. **Land** in one transaction (:meth:`ConversationStore.land`): the conversation at its new version
   (created, or reopened, unread, activity bumped), a reference to the logged message, and a landing
   record keyed by the message id, so a redelivery lands nothing twice. The reply decision is made here
   and written in the same conditional write: an urgent text owes the 911 reply (whatever the hour); a
   text in a closed period owes the after-hours reply unless the conversation's recorded closed-period
   key is this period's (an urgent reply counts for the period too). A number that may not be texted
   (opted out, unreadable consent) is owed nothing and no period is recorded.
3. **Reply** through the one outbound pipeline (consent checked again in the claim, exactly-once claim
   per reply key, message log in the mark-sent transaction). A redelivery reads the landing record and
   retries the same reply under the same key: the claim sends it at most once.
4. **Page** on-call for a new urgent escalation: department, conversation id, a link, the category (a
   fixed word, never the patient's text). The attempt is recorded before the page goes out (conditioned
   on the attempts read), so two runs never page for the same attempt.

Logs carry ids, departments and rule words only.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.core.clock import Clock
from shared.core.errors import ConcurrentChange
from shared.core.metrics import Counter, NullCounter
from shared.core.models import InboundText
from shared.crypto.ports import PhiCipher
from shared.inbox import replies
from shared.inbox.conversation import Conversation, new_conversation_id
from shared.inbox.departments import DepartmentSettings, default_settings
from shared.inbox.hours import BusinessHours
from shared.inbox.ports import (
    AlreadyLanded,
    Contact,
    ConversationStore,
    DepartmentDirectory,
    Escalation,
    EscalationEnded,
    InboxConversation,
    Landing,
    NoPatientNames,
    OnCallPager,
    PatientNames,
    contact_record_ref,
)
from shared.inbox.routing import route
from shared.inbox.sla import DepartmentMetrics, is_overdue, metrics
from shared.inbox.triage import Category, triage
from shared.outbound.kinds import MessageKind
from shared.outbound.pipeline import KindBook, OutboundPipeline, OutboundText, RetryLater
from shared.runtime.observability import logger

# The inbox's automated answers to a patient who wrote first: no caps, no quiet hours (like a staff
# reply), consent and the exactly-once claim as every text.
AFTER_HOURS_REPLY = MessageKind("after_hours_reply", caps=False, quiet_hours=False)
URGENT_REPLY = MessageKind("urgent_reply", caps=False, quiet_hours=False)
AFTER_HOURS, URGENT = "after_hours", "urgent"
LAND_ATTEMPTS = 4
METRICS_WINDOW = timedelta(hours=24)  # the sweep's response-time metrics: the last day's conversations
_NAMESPACE = uuid.UUID("0d7c1d8e-6b0a-4f7e-9f43-6a8f3c2e51b4")


def reply_key(conversation_id: str, reply: str, scope: str) -> str:
    """The reply's idempotency key: one after-hours reply per conversation and closed period, one urgent
    reply per urgent text."""
    return uuid.uuid5(_NAMESPACE, f"{conversation_id}|{reply}|{scope}").hex


@dataclass(frozen=True)
class InboxSettings:
    clinic_name: str
    default_department: str
    default_time_zone: str
    staff_app_url: str
    escalation_interval: timedelta = timedelta(minutes=10)
    escalation_max_attempts: int = 6


@dataclass(frozen=True)
class LandingOutcome:
    conversation_id: str
    department: str
    rule: str
    urgent: bool
    reply: str | None
    reply_status: str | None
    replayed: bool = False


class PatientInbox:
    def __init__(
        self,
        *,
        store: ConversationStore,
        directory: DepartmentDirectory,
        pipeline: OutboundPipeline | None,
        reply_book: KindBook | None,
        pager: OnCallPager,
        clock: Clock,
        settings: InboxSettings,
        counter: Counter | None = None,
        cipher: PhiCipher | None = None,
        names: PatientNames | None = None,
    ) -> None:
        self._cipher = cipher
        self._names = names or NoPatientNames()
        self._store = store
        self._directory = directory
        self._pipeline = pipeline
        self._book = reply_book
        self._pager = pager
        self._clock = clock
        self._settings = settings
        self._counter = counter or NullCounter()

    # -- settings --------------------------------------------------------------------------------------
    def _departments(self) -> Mapping[str, DepartmentSettings]:
        return self._directory.all()

    def _settings_of(self, departments: Mapping[str, DepartmentSettings], name: str) -> DepartmentSettings:
        return departments.get(name) or default_settings(self._settings.default_time_zone)

    def link(self, conversation_id: str) -> str:
        return f"{self._settings.staff_app_url.rstrip('/')}/conversations/{conversation_id}"

    # -- landing ---------------------------------------------------------------------------------------
    def land(self, text: InboundText, phone_hmac: str, message_id: str, *, may_text: bool) -> LandingOutcome:
        departments = self._departments()
        decided = route(text.body, text.to_number, departments, self._settings.default_department)
        department_settings = self._settings_of(departments, decided.department)
        hours = department_settings.business_hours()
        verdict = triage(text.body)
        at = text.received_at
        for _attempt in range(LAND_ATTEMPTS):
            found = self._store.find(phone_hmac, decided.department)
            if found is None:
                started = Conversation.start(
                    conversation_id=new_conversation_id(),
                    phone_hmac=phone_hmac,
                    department=decided.department,
                    at=at,
                )
                record, expected = InboxConversation(started), None
            else:
                record, expected = found, found.conversation.version
            conversation = record.conversation.receive_patient_text(at)
            cid = conversation.conversation_id
            period = hours.closed_period(at)
            reply: str | None = None
            key: str | None = None
            after_hours_key = record.after_hours_key
            escalation = record.escalation
            new_escalation = False
            if verdict.urgent:
                conversation = conversation.flag_urgent(at)
                if escalation is None or escalation.ended is not None or not record.conversation.urgent:
                    category = verdict.category.value if verdict.category else None
                    escalation, new_escalation = Escalation(urgent_at=at, category=category), True
                if may_text:
                    reply, key = URGENT, reply_key(cid, URGENT, message_id)
                    if period is not None:
                        after_hours_key = period.key  # the urgent reply counts for this closed period
            elif may_text:
                owed = replies.after_hours_period(hours, at, record.after_hours_key)
                if owed is not None:
                    reply, key, after_hours_key = AFTER_HOURS, reply_key(cid, AFTER_HOURS, owed.key), owed.key
            contact_ct = record.contact_ct or self._seal_contact(cid, text.from_number, phone_hmac)
            updated = InboxConversation(conversation, after_hours_key, escalation, contact_ct)
            landing = Landing(
                message_id=message_id,
                at=at,
                reply=reply,
                reply_key=key,
                language=verdict.language,
                category=verdict.category.value if verdict.category else None,
                escalation_started=new_escalation,
            )
            try:
                self._store.land(updated, landing, expected_version=expected)
            except AlreadyLanded as exc:
                landed = exc.landed
                self._counter.count("InboxRedelivered")
                status = None
                if landed.reply is not None and landed.reply_key is not None:
                    status = self._send_reply(
                        text,
                        phone_hmac,
                        conversation_id=landed.conversation_id,
                        reply=landed.reply,
                        key=landed.reply_key,
                        hours=hours,
                        language=landed.language,
                        category=landed.category,
                    )
                current = self._store.get(landed.conversation_id)
                if current is not None:
                    self._escalate_if_unpaged(current)
                return LandingOutcome(
                    landed.conversation_id,
                    decided.department,
                    decided.rule,
                    verdict.urgent,
                    landed.reply,
                    status,
                    True,
                )
            except ConcurrentChange:
                self._counter.count("InboxLandingRaced")
                continue
            logger.info(
                "inbound text landed in a conversation",
                extra={
                    "conversation_id": cid,
                    "department": decided.department,
                    "rule": decided.rule,
                    "urgent": verdict.urgent,
                    "category": landing.category,
                    "reply": reply,
                    "new_conversation": expected is None,
                },
            )
            self._counter.count("InboxLanded")
            status = None
            if reply is not None and key is not None:
                status = self._send_reply(
                    text,
                    phone_hmac,
                    conversation_id=cid,
                    reply=reply,
                    key=key,
                    hours=hours,
                    language=verdict.language,
                    category=landing.category,
                )
            if new_escalation:
                self._escalate_if_unpaged(InboxConversation(conversation, after_hours_key, escalation))
            return LandingOutcome(cid, decided.department, decided.rule, verdict.urgent, reply, status)
        raise ConcurrentChange("the conversation kept changing while the text landed; retry")

    def _seal_contact(self, conversation_id: str, phone: str, phone_hmac: str) -> str | None:
        """The sealed contact payload of a conversation landing without one (the number as it texted,
        the first name the appointment records give it); None when built without the cipher."""
        if self._cipher is None:
            return None
        contact = Contact(phone, self._names.first_name(phone_hmac))
        return self._cipher.encrypt(contact_record_ref(conversation_id), contact.payload())

    def _send_reply(
        self,
        text: InboundText,
        phone_hmac: str,
        *,
        conversation_id: str,
        reply: str,
        key: str,
        hours: BusinessHours,
        language: str,
        category: str | None,
    ) -> str:
        at = text.received_at
        if reply == URGENT:
            body = replies.urgent_reply(
                self._settings.clinic_name, language, Category(category) if category else None
            )
            kind = URGENT_REPLY
        else:
            body = replies.after_hours_reply(
                self._settings.clinic_name, hours.next_opening(at), at, hours.zone, language
            )
            kind = AFTER_HOURS_REPLY
        outbound = OutboundText(
            key=key,
            kind=kind,
            phone_hmac=phone_hmac,
            body=body,
            phone=text.from_number,
            ref=(conversation_id, at + timedelta(milliseconds=2)),
        )
        if self._pipeline is None or self._book is None:
            raise RuntimeError("this inbox was built without the outbound pipeline (the sweep's)")
        try:
            word = self._pipeline.send_one(outbound, self._book)
        except RetryLater as exc:
            raise ConcurrentChange(f"the {reply} reply must be retried: {exc}") from exc
        self._counter.count(f"InboxReply_{reply}_{word}")
        logger.info("inbox reply", extra={"conversation_id": conversation_id, "reply": reply, "status": word})
        return word

    # -- escalation ------------------------------------------------------------------------------------
    def _escalate_if_unpaged(self, record: InboxConversation) -> None:
        escalation = record.escalation
        if escalation is None or escalation.ended is not None or escalation.attempts > 0:
            return
        self._page(record, escalation, self._clock.now())

    def _page(self, record: InboxConversation, escalation: Escalation, now: datetime) -> bool:
        """Record the next attempt (conditioned on the attempts read), then page; False when another run
        took this attempt. A page that fails gives the attempt back and raises."""
        conversation = record.conversation
        attempt = escalation.attempts + 1
        claimed = replace(escalation, attempts=attempt, last_at=now)
        if not self._store.record_escalation(
            conversation.conversation_id, claimed, previous_attempts=escalation.attempts
        ):
            return False
        try:
            self._pager.page(
                department=conversation.department,
                conversation_id=conversation.conversation_id,
                link=self.link(conversation.conversation_id),
                category=escalation.category,
                attempt=attempt,
            )
        except Exception:
            self._store.record_escalation(conversation.conversation_id, escalation, previous_attempts=attempt)
            raise
        self._counter.count("InboxEscalations")
        logger.info(
            "urgent conversation escalated to on-call",
            extra={
                "conversation_id": conversation.conversation_id,
                "department": conversation.department,
                "attempt": attempt,
            },
        )
        return True

    # -- the sweep -------------------------------------------------------------------------------------
    def response_times(
        self, now: datetime, departments: Iterable[str], *, window: timedelta = METRICS_WINDOW
    ) -> list[DepartmentMetrics]:
        """Each department's figures for the conversations whose first text arrived in the ``window``
        before ``now`` (:func:`shared.inbox.sla.metrics`): what the sweep emits as CloudWatch metrics."""
        configured = self._departments()
        out: list[DepartmentMetrics] = []
        start = now - window
        for name in sorted(set(departments)):
            settings = self._settings_of(configured, name)
            summaries = self._store.summaries(name, since=start)
            out.extend(
                metrics(
                    summaries,
                    functools.partial(_same, settings),
                    period_start=start,
                    period_end=now,
                    now=now,
                    departments=[name],
                )
            )
        return out

    def sweep(self, now: datetime) -> dict[str, int]:
        """Re-escalate urgent conversations nobody opened (every ``escalation_interval``, at most
        ``escalation_max_attempts`` pages) and flag conversations overdue against their department's
        first-response target (business minutes). ``now`` is the scheduled time from the event."""
        departments = self._departments()
        counts = {"checked": 0, "overdue_flagged": 0, "escalated": 0, "escalation_ended": 0, "raced": 0}
        cursor: str | None = None
        while True:
            page = self._store.needing_attention(cursor=cursor)
            for record in page.items:
                counts["checked"] += 1
                try:
                    self._sweep_one(record, now, departments, counts)
                except ConcurrentChange:
                    counts["raced"] += 1  # changed meanwhile: the next run looks again
            cursor = page.cursor
            if cursor is None:
                break
        logger.info("inbox sweep finished", extra=counts)
        return counts

    def _sweep_one(
        self,
        record: InboxConversation,
        now: datetime,
        departments: Mapping[str, DepartmentSettings],
        counts: dict[str, int],
    ) -> None:
        conversation = record.conversation
        waiting = conversation.awaiting_reply_since
        if waiting is not None and not conversation.overdue:
            settings = self._settings_of(departments, conversation.department)
            if is_overdue(waiting, None, now, settings, settings.business_hours()):
                flagged = conversation.set_overdue(True, now)
                self._store.save(replace(record, conversation=flagged), expected_version=conversation.version)
                record = replace(record, conversation=flagged)
                counts["overdue_flagged"] += 1
        escalation = record.escalation
        if escalation is None or escalation.ended is not None:
            return
        ended: str | None = None
        if not conversation.urgent:
            ended = EscalationEnded.CLOSED
        elif any(at >= escalation.urgent_at for _user, at in conversation.read_markers):
            ended = EscalationEnded.OPENED
        elif escalation.attempts >= self._settings.escalation_max_attempts:
            ended = EscalationEnded.EXHAUSTED
        if ended is not None:
            if self._store.record_escalation(
                conversation.conversation_id,
                replace(escalation, ended=ended),
                previous_attempts=escalation.attempts,
            ):
                counts["escalation_ended"] += 1
                logger.info(
                    "urgent escalation ended",
                    extra={
                        "conversation_id": conversation.conversation_id,
                        "ended": ended,
                        "attempts": escalation.attempts,
                    },
                )
            return
        due = escalation.last_at is None or now - escalation.last_at >= self._settings.escalation_interval
        if due and self._page(record, escalation, now):
            counts["escalated"] += 1


def _same(settings: DepartmentSettings, _department: str) -> DepartmentSettings:
    return settings
