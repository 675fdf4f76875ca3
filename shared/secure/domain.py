"""Secure messages, pure: the link's state (open, expired, locked), the date-of-birth check, the text.

A staff member writes a message a text must not carry (a result, instructions). The patient gets a text
with no PHI, ``You have a secure message from <clinic>: <link>``; the link carries an unguessable token
(``secrets.token_urlsafe(32)``, 256 bits) in its fragment. The store keeps only a keyed hash of the token
(HMAC-SHA256 under a KMS-derived key), never the token itself, so a copy of the table opens nothing.

On the page the patient types their date of birth. :meth:`SecureLink.check` compares it with the one on
file in constant time (``hmac.compare_digest`` of the ISO forms) and counts failures: the
:data:`MAX_FAILED_TRIES`\\ th wrong date locks the link for good (a locked link stays locked even for the
right date; staff send a new one). A link expires :data:`DEFAULT_TTL` after it was sent (a template
parameter); an expired or locked link never shows the message. Passing the check opens a short session
(:data:`SESSION_TTL`) in which the message is shown and answers are taken.

Nothing here stores, logs or sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from shared.core.errors import InvalidInput
from shared.core.segments import analyze

MAX_FAILED_TRIES: Final = 5
DEFAULT_TTL: Final = timedelta(days=7)
SESSION_TTL: Final = timedelta(minutes=15)
MAX_BODY_CHARS: Final = 4000
MAX_ANSWER_CHARS: Final = 1000
MAX_ANSWERS: Final = 10
TOKEN_BYTES: Final = 32
_LINK_ID = re.compile(r"^sm_[A-Za-z0-9_-]{22}$")
# token_urlsafe(32) is 43 characters of the URL-safe alphabet; anything else is refused before a lookup.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
TOKEN_HASH_PREFIX: Final = "t1:"  # noqa: S105 (a format tag, not a secret)


def new_link_id() -> str:
    return "sm_" + secrets.token_urlsafe(16)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_link_id(value: object) -> bool:
    return isinstance(value, str) and _LINK_ID.fullmatch(value) is not None


def is_token(value: object) -> bool:
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def token_hash(key: bytes, token: str) -> str:
    """What the store keeps of a token: ``t1:`` + HMAC-SHA256(key, token), hex."""
    return TOKEN_HASH_PREFIX + hmac.new(key, token.encode("ascii"), hashlib.sha256).hexdigest()


class LinkState(StrEnum):
    OPEN = "open"
    EXPIRED = "expired"
    LOCKED = "locked"


class CheckOutcome(StrEnum):
    PASSED = "passed"
    MISMATCH = "mismatch"  # wrong date, tries left
    LOCKED = "locked"  # this wrong date locked it, or it was locked already
    EXPIRED = "expired"


@dataclass(frozen=True)
class SecureLink:
    """One secure message's link. ``body`` is not here: the store keeps it encrypted and decrypts it only
    for a patient who passed the check (or for staff of the department)."""

    link_id: str
    conversation_id: str
    department: str
    phone_hmac: str
    token_hash: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    failed_tries: int = 0
    locked_at: datetime | None = None
    opened_at: datetime | None = None
    answers: int = 0
    last_answer_at: datetime | None = None
    version: int = 1

    @property
    def locked(self) -> bool:
        return self.locked_at is not None

    def state(self, now: datetime) -> LinkState:
        if self.locked:
            return LinkState.LOCKED  # locked wins: a locked link reads "locked" even once expired
        if now >= self.expires_at:
            return LinkState.EXPIRED
        return LinkState.OPEN

    @property
    def tries_left(self) -> int:
        return max(0, MAX_FAILED_TRIES - self.failed_tries)

    def check(self, entered: date, on_file: date | None, now: datetime) -> tuple[SecureLink, CheckOutcome]:
        """The date-of-birth check. The link returned is what to store (unchanged when nothing changed)."""
        state = self.state(now)
        if state is LinkState.LOCKED:
            return self, CheckOutcome.LOCKED
        if state is LinkState.EXPIRED:
            return self, CheckOutcome.EXPIRED
        # Constant time in the value compared; no date on file never matches (compared all the same).
        expected = on_file.isoformat() if on_file is not None else "0000-00-00"
        matched = hmac.compare_digest(entered.isoformat().encode(), expected.encode()) and on_file is not None
        if matched:
            opened = self.opened_at or now
            return replace(self, opened_at=opened, version=self.version + 1), CheckOutcome.PASSED
        failed = self.failed_tries + 1
        if failed >= MAX_FAILED_TRIES:
            locked = replace(self, failed_tries=failed, locked_at=now, version=self.version + 1)
            return locked, CheckOutcome.LOCKED
        return replace(self, failed_tries=failed, version=self.version + 1), CheckOutcome.MISMATCH

    def answer(self, now: datetime) -> SecureLink:
        """One more answer from the page (the caller checked the session and the state)."""
        if self.state(now) is not LinkState.OPEN:
            raise InvalidInput("this link is no longer open", field="token")
        if self.answers >= MAX_ANSWERS:
            raise InvalidInput(f"at most {MAX_ANSWERS} answers can be sent on one link", field="answer")
        return replace(self, answers=self.answers + 1, last_answer_at=now, version=self.version + 1)


ANSWER_KEY_PREFIX: Final = "a1:"


def answer_key(key: bytes, link_id: str, session_id: str, text: str) -> str:
    """What makes a re-post of one answer the same answer: HMAC-SHA256(key, link, session, text), hex.

    Keyed, so the stored key tells nothing of a short answer ("yes") to someone who has the table; the
    session's id (its ``jti``) is in it, so the same text in a new session (the link opened again) is a
    new answer, and a double tap or a re-posted form in one session is the same one."""
    # A JSON array: unambiguous whatever the fields hold (an answer may have line breaks).
    message = json.dumps(["secure-answer:v1", link_id, session_id, text], ensure_ascii=False).encode()
    return ANSWER_KEY_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AnswerClaim:
    """One answer taken on a link, by its :func:`answer_key`: the message it became and when."""

    answer_key: str
    link_id: str
    message_id: str
    at: datetime


def check_body(body: object) -> str:
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("body must be the secure message's text", field="body")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"body must be at most {MAX_BODY_CHARS} characters", field="body")
    if any(not (ch.isprintable() or ch in "\n\t") for ch in body):
        raise InvalidInput("body must be printable text (line breaks allowed)", field="body")
    return body.strip()


def check_answer(answer: object) -> str:
    """A patient's answer: 1 to MAX_ANSWER_CHARS printable characters (line breaks allowed)."""
    if not isinstance(answer, str):
        raise InvalidInput("answer must be text", field="answer")
    text = answer.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput("answer is empty", field="answer")
    if len(text) > MAX_ANSWER_CHARS:
        raise InvalidInput(f"answer must be at most {MAX_ANSWER_CHARS} characters", field="answer")
    if any(not (ch.isprintable() or ch == "\n") for ch in text):
        raise InvalidInput("answer must be printable text", field="answer")
    return text


def notice_text(clinic_label: str, link: str) -> str:
    """The text the patient gets: the clinic and the link, nothing else (no PHI, not even a first name)."""
    return f"You have a secure message from {clinic_label}: {link}"


def notice_report(clinic_label: str, link: str) -> tuple[str, int, str]:
    text = notice_text(clinic_label, link)
    report = analyze(text)
    return text, report.segments, report.encoding


def link_url(base_url: str, token: str) -> str:
    """The token travels in the fragment: browsers never send it, so no server or log ever sees it; the
    page's script moves it into the POST body of the date-of-birth form."""
    return f"{base_url.rstrip('/')}#{token}"


_TOKEN_IN_TEXT = re.compile(r"#[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
WITHHELD = "#(link withheld)"


def withheld(text: str) -> str:
    """The notice as the message log keeps it: the link's token replaced (it opens the message)."""
    return _TOKEN_IN_TEXT.sub(WITHHELD, text)
