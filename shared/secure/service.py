"""Secure messages, staff side and patient side (:mod:`shared.secure.domain` has the rules).

Staff (:meth:`SecureMessages.send`): the conversation's department sends one on the version its view
showed (a stale view is 409 as for a reply). The date of birth on file for the number must be one date
(none: the patient could never open it; two different ones, a shared phone: the page could not tell who
is reading): else 409 and nothing is stored or sent. The link is stored first, then the text goes out
through the outbound pipeline (consent at send time: an opted-out number gets nothing, 409, and the link
is discarded); the thread records the secure message.

Patient (:meth:`SecureMessages.check`, :meth:`SecureMessages.answer`): no staff identity. Every POST
from the page is one audit record (or two, when a wrong date locks the link), with ids and an
``outcome`` word only. On a link we issued the actor is the link (``patient-link:<link id>``) and the
record names its conversation, whatever the link's state:

  POST /s         secure_view outcome=opened | secure_check_failed outcome=wrong_dob (tries=n),
                  not_a_date (no try counted), expired, locked | + secure_locked when this date locked it
  POST /s/answer  secure_answer outcome=answered | secure_answer_refused outcome=session_ended,
                  expired, locked, used_up (MAX_ANSWERS sent), invalid_answer

A token that is not one we issued (forged, garbled, another deployment's), or a session whose signature
does not hold, answers exactly as a missing one and changes nothing but the trail: one
``secure_check_failed`` / ``secure_answer_refused`` record with outcome=not_found, no conversation, the
actor ``patient-link:unknown``, the source address and user agent, and what was presented
(``presented=missing|malformed|unknown``: no token or session, not one's shape or signature, or one of
the right shape that matches no link) -- so an auditor sees guessing from an address. The token is never
logged, stored or put in an audit record, nor anything derived from it (not even its keyed hash, which
is the table's lookup key): only that hash is looked up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.appointments.ports import BirthDates
from shared.audit.domain import AuditAction, AuditEvent
from shared.audit.ports import AuditLog
from shared.core.clock import Clock, iso
from shared.core.errors import AlreadyRecorded, ConcurrentChange, Conflict, InvalidInput
from shared.core.models import Channel, Direction, MessageRecord
from shared.crypto.ports import DerivedKey
from shared.inbox.access import RequestOrigin, StaffIdentity, authorize, conversation_not_found
from shared.inbox.conversation import is_conversation_id
from shared.inbox.ports import AlreadyLanded, ConversationStore, InboxConversation, Landing
from shared.inbox.replies import clinic_label
from shared.messaging.ports import MessageLog
from shared.outbound.kinds import SECURE_MESSAGE
from shared.outbound.pipeline import SENT, SKIPPED_OPTED_OUT, OutboundText, RetryLater
from shared.secure.domain import (
    DEFAULT_TTL,
    MAX_FAILED_TRIES,
    SESSION_TTL,
    AnswerClaim,
    CheckOutcome,
    LinkState,
    SecureLink,
    answer_key,
    check_answer,
    check_body,
    is_token,
    link_url,
    new_link_id,
    new_token,
    notice_report,
    token_hash,
)
from shared.secure.ports import AnswerRepeated, SecureLinkStore

SESSION_AUDIENCE = "clinictext:secure-page"
SESSION_ALGORITHM = "HS256"
ATTEMPTS = 3


class NoBirthDateOnFile(Conflict):
    """No single date of birth on file for the number: a secure message could not be opened (409)."""


class SecureNotSent(Conflict):
    """The text with the link did not go out (opted out, already sent, refused): nothing is kept (409)."""


class PageResult(StrEnum):
    NOT_FOUND = "not_found"  # no such link (forged, garbled, another patient's hash never matches)
    EXPIRED = "expired"
    LOCKED = "locked"
    MISMATCH = "mismatch"
    INVALID_DATE = "invalid_date"  # not a date: not counted as a try
    SHOWN = "shown"
    ANSWERED = "answered"
    SESSION_ENDED = "session_ended"


@dataclass(frozen=True)
class Page:
    result: PageResult
    tries_left: int = 0
    body: str | None = None
    session: str | None = None
    answers: int = 0
    problem: str | None = None  # what is wrong with the input (never the input)


def _actor(link_id: str) -> tuple[str, str]:
    return f"patient-link:{link_id}", "patient (secure link)"


UNKNOWN_ACTOR: tuple[str, str] = ("patient-link:unknown", "unknown (no such secure link)")


def staff_json(link: SecureLink, body: str, now: datetime) -> dict[str, Any]:
    """A secure message as its department's staff see it in the thread."""
    return {
        "id": link.link_id,
        "body": body,
        "sent_at": iso(link.created_at),
        "sent_by": link.created_by,
        "expires_at": iso(link.expires_at),
        "state": link.state(now).value,
        "opened_at": iso(link.opened_at) if link.opened_at else None,
        "failed_tries": link.failed_tries,
        "locked_at": iso(link.locked_at) if link.locked_at else None,
        "answers": link.answers,
        "answered_at": iso(link.last_answer_at) if link.last_answer_at else None,
    }


@dataclass(frozen=True)
class SecureMessages:
    links: SecureLinkStore
    conversations: ConversationStore
    birth_dates: BirthDates
    audit: AuditLog
    messages: MessageLog
    clock: Clock
    token_key: DerivedKey
    session_key: DerivedKey
    answer_mac_key: DerivedKey
    page_url: str
    clinic_name: str
    send_text: Callable[[OutboundText], str] | None = None
    ttl: timedelta = DEFAULT_TTL
    new_token: Callable[[], str] = new_token
    new_link_id: Callable[[], str] = new_link_id

    # -- audit -----------------------------------------------------------------------------------------
    def _staff_record(
        self, identity: StaffIdentity, origin: RequestOrigin, cid: str, detail: dict[str, str]
    ) -> None:
        self.audit.append(
            AuditEvent(
                user_id=identity.user_id,
                username=identity.username,
                action=AuditAction.SECURE_SEND,
                source_ip=origin.source_ip,
                user_agent=origin.user_agent,
                client_id=identity.client_id,
                conversation_id=cid,
                detail=detail,
            )
        )

    def _link_record(
        self, link: SecureLink, origin: RequestOrigin, action: AuditAction, **detail: str
    ) -> None:
        self._patient_record(
            _actor(link.link_id), link.conversation_id, origin, action, {"link_id": link.link_id, **detail}
        )

    def _unknown_record(self, origin: RequestOrigin, action: AuditAction, **detail: str) -> None:
        """A page request that names no link we issued: no conversation, nothing from the token."""
        self._patient_record(UNKNOWN_ACTOR, None, origin, action, {"outcome": "not_found", **detail})

    def _patient_record(
        self,
        actor: tuple[str, str],
        conversation_id: str | None,
        origin: RequestOrigin,
        action: AuditAction,
        detail: dict[str, str],
    ) -> None:
        """One audit record of the patient page (no staff identity, no app client)."""
        user_id, username = actor
        self.audit.append(
            AuditEvent(
                user_id=user_id,
                username=username,
                action=action,
                source_ip=origin.source_ip,
                user_agent=origin.user_agent,
                conversation_id=conversation_id,
                detail=detail,
            )
        )

    # -- staff -----------------------------------------------------------------------------------------
    def _open(self, identity: StaffIdentity, cid: str) -> tuple[InboxConversation, str]:
        record = self.conversations.get(cid) if is_conversation_id(cid) else None
        decision = authorize(identity, cid, record.conversation.department if record else None)
        if record is None:
            raise conversation_not_found()
        return record, decision.via.value

    def _birth_date_source(self, phone_hmac: str) -> str:
        on_file = self.birth_dates.on_file(phone_hmac)
        dates = {entry.birth_date for entry in on_file}
        if not dates:
            raise NoBirthDateOnFile(
                "no date of birth is on file for this number, so the patient could not open a secure "
                "message; nothing was sent"
            )
        if len(dates) > 1:
            raise NoBirthDateOnFile(
                "this number belongs to more than one patient on file (different dates of birth), so the "
                "page could not tell who is reading; nothing was sent"
            )
        return on_file[0].source_id

    def send(
        self, identity: StaffIdentity, origin: RequestOrigin, cid: str, version: int, body: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Send a secure message; returns the conversation's secure messages and the text's report."""
        text_body = check_body(body)
        if self.send_text is None:
            raise RuntimeError("these secure messages were built without the outbound pipeline")
        record, via = self._open(identity, cid)
        current, now = record.conversation, self.clock.now()
        link_id = self.new_link_id()
        current.secure_message(by=identity.user_id, expected_version=version, at=now, link_id=link_id)
        source_id = self._birth_date_source(current.phone_hmac)
        token = self.new_token()
        link = SecureLink(
            link_id=link_id,
            conversation_id=cid,
            department=current.department,
            phone_hmac=current.phone_hmac,
            token_hash=token_hash(self.token_key.key(), token),
            created_at=now,
            created_by=identity.user_id,
            expires_at=now + self.ttl,
        )
        self._staff_record(identity, origin, cid, {"via": via, "version": str(version), "link_id": link_id})
        self.links.create(link, text_body, source_id)
        notice, segments, encoding = notice_report(
            clinic_label(self.clinic_name), link_url(self.page_url, token)
        )
        text = OutboundText(
            key=f"secure.{link_id}",
            kind=SECURE_MESSAGE,
            phone_hmac=current.phone_hmac,
            body=notice,
            ref=(cid, now),
            department=current.department,
        )
        try:
            word = self.send_text(text)
        except RetryLater as exc:
            self.links.discard(link)
            raise ConcurrentChange("the secure message could not be sent just now; try again") from exc
        if word != SENT:
            self.links.discard(link)
            if word == SKIPPED_OPTED_OUT:
                raise SecureNotSent("the patient opted out (texted STOP): nothing was sent")
            raise SecureNotSent(f"the secure message was not sent ({word})")
        self._record_sent(record, identity, version, now, link_id)
        sent = {"status": word, "segments": segments, "encoding": encoding, "secure_message_id": link_id}
        return self.for_conversation(cid), sent

    def _record_sent(
        self, record: InboxConversation, identity: StaffIdentity, version: int, at: datetime, link_id: str
    ) -> None:
        for _attempt in range(ATTEMPTS):
            current = record.conversation
            expected = version if current.version == version else current.version
            written = current.secure_message(
                by=identity.user_id, expected_version=expected, at=at, link_id=link_id
            )
            try:
                self.conversations.save(
                    replace(record, conversation=written), expected_version=current.version
                )
                return
            except ConcurrentChange:
                fresh = self.conversations.get(current.conversation_id)
                if fresh is None:
                    raise
                record = fresh
        raise ConcurrentChange("the secure message was sent but the thread kept changing; reload it")

    def for_conversation(self, cid: str) -> list[dict[str, Any]]:
        """The thread's secure messages for its department's staff (the caller decided access)."""
        now = self.clock.now()
        return [staff_json(link, self.links.body(link), now) for link in self.links.for_conversation(cid)]

    # -- patient ---------------------------------------------------------------------------------------
    def _find(self, token: Any) -> tuple[SecureLink | None, str]:
        """The link a token opens, and (for the trail) what the token was when none: ``missing``,
        ``malformed`` (not a token's shape: no lookup) or ``unknown`` (a token's shape, not ours)."""
        if not isinstance(token, str) or not token:
            return None, "missing"
        if not is_token(token):
            return None, "malformed"  # garbled or forged: no lookup, nothing changed
        return self.links.by_token_hash(token_hash(self.token_key.key(), token)), "unknown"

    def _status_change(self, link: SecureLink, detail: str, at: datetime) -> None:
        """Opened or locked, on the thread's history (not material: no staff view goes stale)."""
        for _attempt in range(ATTEMPTS):
            record = self.conversations.get(link.conversation_id)
            if record is None:
                return
            written = record.conversation.secure_status(at, detail)
            try:
                self.conversations.save(
                    replace(record, conversation=written), expected_version=record.conversation.version
                )
                return
            except ConcurrentChange:
                continue

    def _session(self, link: SecureLink, now: datetime) -> str:
        claims = {
            "sub": link.link_id,
            "cid": link.conversation_id,
            "aud": SESSION_AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + SESSION_TTL).timestamp()),
            "jti": secrets.token_urlsafe(12),
        }
        import jwt  # PyJWT loads cryptography: only once a patient has passed the check, not at init

        return jwt.encode(claims, self.session_key.key(), algorithm=SESSION_ALGORITHM)

    def _session_link(self, session: Any, now: datetime) -> tuple[SecureLink | None, str, str]:
        """The link a session was signed for, ``live`` and the session's id (``jti``); else (the link,
        ``session_ended``) when its signature holds but its time is up, or (None,
        ``missing|malformed|unknown``) when it names no link."""
        if not isinstance(session, str) or not session:
            return None, "missing", ""
        if len(session) > 1024:
            return None, "malformed", ""
        import jwt  # PyJWT loads cryptography: only for a request that carries a session

        try:
            claims = jwt.decode(
                session,
                self.session_key.key(),
                algorithms=[SESSION_ALGORITHM],
                audience=SESSION_AUDIENCE,
                # exp and iat are checked against the injected clock below (PyJWT reads the host's).
                options={
                    "require": ["sub", "cid", "exp", "iat", "aud", "jti"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            return None, "malformed", ""
        link = self.links.get(str(claims["cid"]), str(claims["sub"]))
        if link is None or link.opened_at is None:
            return None, "unknown", ""
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int) or not iat - 60 <= now.timestamp() < exp:
            return link, "session_ended", ""
        return link, "live", str(claims["jti"])

    def check(
        self, token: Any, entered: date | None, origin: RequestOrigin, *, problem: str | None = None
    ) -> Page:
        """The date-of-birth form was sent. ``entered`` is None when it was not a date (``problem`` says
        why): that is no try. A right date shows the message and opens a session for answers."""
        link, shape = self._find(token)
        if link is None:
            self._unknown_record(origin, AuditAction.SECURE_CHECK_FAILED, presented=shape)
            return Page(PageResult.NOT_FOUND)
        now = self.clock.now()
        state = link.state(now)
        if state is LinkState.EXPIRED:
            self._link_record(link, origin, AuditAction.SECURE_CHECK_FAILED, outcome="expired")
            return Page(PageResult.EXPIRED)
        if state is LinkState.LOCKED:
            self._link_record(link, origin, AuditAction.SECURE_CHECK_FAILED, outcome="locked")
            return Page(PageResult.LOCKED)
        if entered is None:
            self._link_record(
                link,
                origin,
                AuditAction.SECURE_CHECK_FAILED,
                outcome="not_a_date",
                tries=str(link.failed_tries),
            )
            return Page(PageResult.INVALID_DATE, tries_left=link.tries_left, problem=problem)
        on_file = self.birth_dates.birth_date(self.links.source_id(link), link.phone_hmac)
        for _attempt in range(ATTEMPTS):
            checked, outcome = link.check(entered, on_file, now)
            try:
                if checked is not link:
                    self.links.save(checked, expected_version=link.version)
                break
            except ConcurrentChange:
                fresh = self.links.get(link.conversation_id, link.link_id)
                if fresh is None:
                    self._unknown_record(origin, AuditAction.SECURE_CHECK_FAILED, presented="unknown")
                    return Page(PageResult.NOT_FOUND)
                link = fresh
        else:
            raise ConcurrentChange("the link kept changing; try again")
        if outcome is CheckOutcome.PASSED:
            self._link_record(
                checked, origin, AuditAction.SECURE_VIEW, outcome="opened", answers=str(checked.answers)
            )
            if link.opened_at is None:
                self._status_change(checked, f"opened:{checked.link_id}", now)
            return Page(
                PageResult.SHOWN,
                body=self.links.body(checked),
                session=self._session(checked, now),
                answers=checked.answers,
            )
        if outcome is CheckOutcome.MISMATCH:
            self._link_record(
                checked,
                origin,
                AuditAction.SECURE_CHECK_FAILED,
                outcome="wrong_dob",
                tries=str(checked.failed_tries),
            )
            return Page(PageResult.MISMATCH, tries_left=checked.tries_left)
        if outcome is CheckOutcome.EXPIRED:
            self._link_record(checked, origin, AuditAction.SECURE_CHECK_FAILED, outcome="expired")
            return Page(PageResult.EXPIRED)
        if checked is not link:  # this wrong date locked it
            self._link_record(
                checked,
                origin,
                AuditAction.SECURE_CHECK_FAILED,
                outcome="wrong_dob",
                tries=str(MAX_FAILED_TRIES),
            )
            self._link_record(checked, origin, AuditAction.SECURE_LOCKED, outcome="locked")
            self._status_change(checked, f"locked:{checked.link_id}", now)
        else:  # locked by another request between our read and our write
            self._link_record(checked, origin, AuditAction.SECURE_CHECK_FAILED, outcome="locked")
        return Page(PageResult.LOCKED)

    def answer(self, session: Any, answer: Any, origin: RequestOrigin) -> Page:
        """An answer from the page, in a session a passed check opened: lands in the conversation as a
        patient message (unread for staff) and is logged (encrypted) like a text.

        Once: the same text posted again in the same session (a double tap, a phone re-posting the form
        after a poor connection) is the answer already taken -- the same success page, nothing new in the
        thread or the count, and an audit ``secure_answer`` record with ``outcome=repeat`` naming the same
        message (every POST is on the trail; an auditor sees it was one answer). The answer's
        :func:`answer_key` is kept with the count in one transaction, so two posts racing take it once. A
        repeat also finishes an answer whose first post stopped after it was taken (the message and the
        landing are each written once)."""
        now = self.clock.now()
        link, standing, session_id = self._session_link(session, now)
        refused = AuditAction.SECURE_ANSWER_REFUSED
        if link is None:
            self._unknown_record(origin, refused, presented=standing)
            return Page(PageResult.SESSION_ENDED)
        if standing != "live":
            self._link_record(link, origin, refused, outcome="session_ended")
            return Page(PageResult.SESSION_ENDED)
        state = link.state(now)
        if state is not LinkState.OPEN:
            self._link_record(link, origin, refused, outcome=state.value)
            return Page(PageResult.EXPIRED if state is LinkState.EXPIRED else PageResult.LOCKED)
        body = self.links.body(link)
        try:
            text = check_answer(answer)
        except InvalidInput as exc:
            self._link_record(link, origin, refused, outcome="invalid_answer")
            return Page(
                PageResult.SHOWN, body=body, session=session, answers=link.answers, problem=exc.message
            )
        key = answer_key(self.answer_mac_key.key(), link.link_id, session_id, text)
        claim = self.links.answer_claim(link.conversation_id, key)
        for _attempt in range(ATTEMPTS):
            if claim is not None:
                break
            try:
                answered = link.answer(now)
            except InvalidInput as exc:
                self._link_record(link, origin, refused, outcome="used_up")
                return Page(
                    PageResult.SHOWN, body=body, session=session, answers=link.answers, problem=exc.message
                )
            taken = AnswerClaim(key, link.link_id, "sa_" + secrets.token_urlsafe(16), now)
            try:
                self.links.take_answer(answered, taken, expected_version=link.version)
            except AnswerRepeated:
                claim = self.links.answer_claim(link.conversation_id, key)
                if claim is None:
                    raise ConcurrentChange("the answer could not be read back; send it again") from None
                break
            except ConcurrentChange:
                fresh = self.links.get(link.conversation_id, link.link_id)
                if fresh is None or fresh.state(now) is not LinkState.OPEN:
                    raise
                link, claim = fresh, self.links.answer_claim(link.conversation_id, key)
                continue
            self._deliver(link, taken, text)
            self._link_record(
                link, origin, AuditAction.SECURE_ANSWER, outcome="answered", message_id=taken.message_id
            )
            return Page(PageResult.ANSWERED, body=body, session=session, answers=answered.answers)
        if claim is None:
            raise ConcurrentChange("the link kept changing while the answer was taken; send it again")
        self._deliver(link, claim, text)
        self._link_record(
            link, origin, AuditAction.SECURE_ANSWER, outcome="repeat", message_id=claim.message_id
        )
        current = self.links.get(link.conversation_id, link.link_id) or link
        return Page(PageResult.ANSWERED, body=body, session=session, answers=current.answers)

    def _deliver(self, link: SecureLink, claim: AnswerClaim, text: str) -> None:
        """The taken answer into the message log and the conversation, each once (a repeat that finds
        them written writes nothing)."""
        if not self.messages.recorded(link.phone_hmac, claim.message_id, claim.at):
            with suppress(AlreadyRecorded):  # a racing repeat wrote it
                self.messages.append(
                    MessageRecord(
                        message_id=claim.message_id,
                        phone_hmac=link.phone_hmac,
                        direction=Direction.INBOUND,
                        kind="secure_answer",
                        channel=Channel.API,
                        status="received",
                        created_at=claim.at,
                        thread_at=claim.at,
                        body=text,
                        detail=f"secure_message:{link.link_id}",
                    )
                )
        self._land(link, claim.message_id, claim.at)

    def _land(self, link: SecureLink, message_id: str, at: datetime) -> None:
        for _attempt in range(ATTEMPTS):
            record = self.conversations.get(link.conversation_id)
            if record is None:
                raise ConcurrentChange("the conversation is gone")
            updated = replace(record, conversation=record.conversation.receive_patient_text(at))
            try:
                self.conversations.land(
                    updated,
                    Landing(message_id=message_id, at=at),
                    expected_version=record.conversation.version,
                )
                return
            except AlreadyLanded:
                return
            except ConcurrentChange:
                continue
        raise ConcurrentChange("the conversation kept changing while the answer landed; send it again")
