"""Who a staff member is, and which conversations they may see: pure decisions over JWT claims.

The HTTP API's JWT authorizer verifies the Cognito token (signature, issuer, audience, expiry) and hands
the function its claims in ``requestContext.authorizer.jwt.claims``. The function does not trust them
blindly: :func:`staff_identity` checks every claim it relies on again and refuses a missing, empty or
malformed one (:class:`InvalidIdentity`, HTTP 401/403), so a misconfigured route or a test event cannot
act as nobody in particular.

Token use: only **access** tokens are accepted. Cognito's access token is the one meant to authorize API
calls (it carries ``client_id``, ``username``, ``scope`` and ``cognito:groups``); an ID token is meant for
the client to learn who logged in, carries personal attributes (email, phone) the API has no use for, and
names the client in ``aud`` instead. Accepting one kind only also means a token of the other kind, minted
by the same pool for the same client, cannot be replayed at the API.

``cognito:groups`` arrives in the shapes API Gateway and Cognito use: one string such as
``"[nursing admin]"`` (the HTTP API flattens arrays that way), a JSON array text (``'["nursing","admin"]'``),
a list, or a single group name. Group names must be lowercase slugs (``front-desk``); a malformed name and a
group the clinic has not configured as a department are ignored (they grant nothing), so a staff member left
with no department and no ``admin`` gets :class:`NoDepartment` (403).

Decisions: a staff member acts on their departments' conversations only; ``admin`` acts on all. A
conversation of another department answers exactly like one that does not exist (the same
:class:`~shared.core.errors.NotFound`, same message), so its existence does not leak. Break-glass access to
another department's conversation takes a written reason and is allowed; its :class:`AccessDecision` says
the service must write a ``break_glass`` audit record and notify the admins.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.core.errors import InvalidInput, NotFound, Unauthorized

ADMIN_GROUP = "admin"
DEPARTMENT_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MAX_DEPARTMENT_LENGTH = 64
MAX_GROUPS = 100  # Cognito allows at most 100 groups per user pool in a token's claim list
_SUB_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_USERNAME_LENGTH = 128
# Cognito's username pattern [\p{L}\p{M}\p{S}\p{N}\p{P}]+ (letters, marks, symbols, numbers,
# punctuation): Python's re has no \p{..}, so the Unicode general category's first letter is checked.
_USERNAME_CATEGORIES = frozenset("LMSNP")


def is_cognito_username(value: object) -> bool:
    """Whether ``value`` is a name Cognito accepts as a username (1 to 128 characters of its pattern):
    anything else is refused before the directory is asked (Cognito answers it with an error)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_USERNAME_LENGTH
        and all(unicodedata.category(ch)[0] in _USERNAME_CATEGORIES for ch in value)
    )


BREAK_GLASS_MIN_REASON = 10
BREAK_GLASS_MAX_REASON = 500
EXPIRY_LEEWAY = timedelta(seconds=60)  # the authorizer checked expiry; allow for clocks and latency only
ACCEPTED_TOKEN_USE = "access"  # noqa: S105  # a claim value, not a secret  # nosec B105
_NOT_FOUND = "conversation not found"


class InvalidIdentity(Unauthorized):
    """The claims do not identify a staff member: ``claim`` names the one at fault (never its value)."""

    def __init__(self, message: str, *, claim: str) -> None:
        super().__init__(message)
        self.claim = claim


class NoDepartment(Unauthorized):
    """An authenticated staff member in no configured department and not an admin (HTTP 403)."""


@dataclass(frozen=True)
class RequestOrigin:
    """Where a staff request came from, for the audit record: API Gateway's view of the caller."""

    source_ip: str
    user_agent: str


MAX_USER_AGENT = 256


def jwt_claims(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``requestContext.authorizer.jwt.claims`` of an HTTP API (payload 2.0) event, or None."""
    node: Any = event
    for key in ("requestContext", "authorizer", "jwt", "claims"):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def request_origin(event: Mapping[str, Any]) -> RequestOrigin:
    """``requestContext.http.sourceIp`` and ``userAgent``; an address API Gateway did not give, or that
    is not an address, is recorded as empty rather than trusted; the user agent is cut to 256 printable
    characters (it is the caller's own text)."""
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    http = context.get("http") if isinstance(context, Mapping) else None
    http = http if isinstance(http, Mapping) else {}
    source = http.get("sourceIp")
    try:
        source_ip = str(ipaddress.ip_address(source)) if isinstance(source, str) else ""
    except ValueError:
        source_ip = ""
    agent = http.get("userAgent")
    user_agent = (
        "".join(ch for ch in agent if ch.isprintable())[:MAX_USER_AGENT] if isinstance(agent, str) else ""
    )
    return RequestOrigin(source_ip, user_agent)


def conversation_not_found() -> NotFound:
    """The one error for a conversation that does not exist *or* that the caller may not see."""
    return NotFound(_NOT_FOUND)


@dataclass(frozen=True)
class StaffIdentity:
    """A staff member as the function checked them: Cognito ``sub``, username, departments, admin."""

    user_id: str
    username: str
    departments: frozenset[str]
    admin: bool
    client_id: str

    def in_department(self, department: str) -> bool:
        return department in self.departments

    def may_act_on(self, department: str) -> bool:
        return self.admin or self.in_department(department)


def _claim_text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidIdentity(f"claim {name} must be a string", claim=name)
    value = value.strip()
    return value or None


def _required(claims: Mapping[str, Any], name: str) -> str:
    value = _claim_text(claims, name)
    if value is None:
        raise InvalidIdentity(f"claim {name} is missing or empty", claim=name)
    return value


def parse_groups(raw: Any) -> list[str]:
    """The group names in ``cognito:groups`` as any of its shapes; malformed names are left in (the caller
    filters), an unparseable claim is :class:`InvalidIdentity`."""
    if raw is None:
        return []
    if isinstance(raw, list | tuple):
        items: list[Any] = list(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                items = parsed
            else:  # API Gateway's flattened form: "[nursing admin]", possibly with commas
                items = [part for part in re.split(r"[\s,]+", text[1:-1]) if part]
        else:
            items = [part for part in re.split(r"[\s,]+", text) if part]
    else:
        raise InvalidIdentity("claim cognito:groups must be a string or a list", claim="cognito:groups")
    if len(items) > MAX_GROUPS:
        raise InvalidIdentity("claim cognito:groups lists too many groups", claim="cognito:groups")
    if not all(isinstance(item, str) for item in items):
        raise InvalidIdentity("claim cognito:groups must list group names", claim="cognito:groups")
    return [item.strip() for item in items]


def is_department_name(name: str) -> bool:
    return len(name) <= MAX_DEPARTMENT_LENGTH and DEPARTMENT_PATTERN.fullmatch(name) is not None


def staff_identity(
    claims: Mapping[str, Any] | None,
    *,
    departments: Collection[str],
    client_ids: Collection[str] = (),
    issuer: str | None = None,
    now: datetime | None = None,
) -> StaffIdentity:
    """The staff member ``claims`` (``requestContext.authorizer.jwt.claims``) identify.

    ``departments`` are the clinic's configured departments (groups outside it are ignored);
    ``client_ids``, when given, the app clients allowed to call; ``issuer`` the pool's issuer URL; ``now``
    enables the expiry re-check. Raises :class:`InvalidIdentity` or :class:`NoDepartment`.
    """
    if not isinstance(claims, Mapping) or not claims:
        raise InvalidIdentity("the request carries no JWT claims", claim="claims")
    token_use = _required(claims, "token_use")
    if token_use != ACCEPTED_TOKEN_USE:
        raise InvalidIdentity("claim token_use must be access (an access token)", claim="token_use")
    if issuer is not None and _required(claims, "iss") != issuer:
        raise InvalidIdentity("claim iss is not this clinic's user pool", claim="iss")
    sub = _required(claims, "sub")
    if not _SUB_PATTERN.fullmatch(sub):
        raise InvalidIdentity("claim sub is malformed", claim="sub")
    username = _claim_text(claims, "username") or _claim_text(claims, "cognito:username")
    if username is None:
        raise InvalidIdentity("claim username is missing or empty", claim="username")
    if len(username) > MAX_USERNAME_LENGTH or not username.isprintable():
        raise InvalidIdentity("claim username is malformed", claim="username")
    client_id = _required(claims, "client_id")
    if not _CLIENT_ID_PATTERN.fullmatch(client_id) or (client_ids and client_id not in client_ids):
        raise InvalidIdentity("claim client_id is not an app client of this clinic", claim="client_id")
    if now is not None:
        _check_expiry(claims, now)
    groups = parse_groups(claims.get("cognito:groups"))
    valid = {group for group in groups if is_department_name(group)}
    admin = ADMIN_GROUP in valid
    member_of = frozenset(group for group in valid if group in departments and group != ADMIN_GROUP)
    if not member_of and not admin:
        raise NoDepartment("this staff member belongs to no department; ask an admin to add them to one")
    return StaffIdentity(sub, username, member_of, admin, client_id)


def _check_expiry(claims: Mapping[str, Any], now: datetime) -> None:
    raw = claims.get("exp")
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not text.isdigit() or len(text) > 12:
        raise InvalidIdentity("claim exp is missing or malformed", claim="exp")
    if int(text) + EXPIRY_LEEWAY.total_seconds() < now.timestamp():
        raise InvalidIdentity("the token has expired; log in again", claim="exp")


class AccessVia(StrEnum):
    DEPARTMENT = "department"  # the conversation is one of the caller's departments'
    ADMIN = "admin"
    BREAK_GLASS = "break_glass"


@dataclass(frozen=True)
class AdminNotice:
    """What the admins are told about a break-glass access: ids only, never the reason or any PHI."""

    conversation_id: str
    department: str
    user_id: str
    username: str


@dataclass(frozen=True)
class AccessDecision:
    """Access granted. The service writes the audit record ``audit_action`` names (``break_glass`` with
    ``reason``) before it shows anything, and sends ``notify`` to the admins when it is set."""

    conversation_id: str
    department: str
    via: AccessVia
    user_id: str
    reason: str | None = None
    notify: AdminNotice | None = None

    @property
    def audit_action(self) -> str | None:
        return "break_glass" if self.via is AccessVia.BREAK_GLASS else None


def authorize(identity: StaffIdentity, conversation_id: str, department: str | None) -> AccessDecision:
    """May ``identity`` see and act on the conversation (``department`` None: it does not exist)?

    Raises the same :func:`conversation_not_found` for a missing conversation and for another
    department's, so the answer does not tell them apart.
    """
    if department is None:
        raise conversation_not_found()
    if identity.in_department(department):
        return AccessDecision(conversation_id, department, AccessVia.DEPARTMENT, identity.user_id)
    if identity.admin:
        return AccessDecision(conversation_id, department, AccessVia.ADMIN, identity.user_id)
    raise conversation_not_found()


def check_break_glass_reason(reason: Any) -> str:
    """The written reason, stripped; :class:`InvalidInput` naming ``reason`` (never echoing it)."""
    if not isinstance(reason, str):
        raise InvalidInput("reason must be a string", field="reason")
    text = " ".join(reason.split())  # newlines and runs of spaces become one space
    if len(text) < BREAK_GLASS_MIN_REASON or len(text) > BREAK_GLASS_MAX_REASON:
        raise InvalidInput(
            f"reason must be {BREAK_GLASS_MIN_REASON} to {BREAK_GLASS_MAX_REASON} characters",
            field="reason",
        )
    if not text.isprintable():
        raise InvalidInput("reason must be printable text", field="reason")
    return text


def break_glass(
    identity: StaffIdentity, conversation_id: str, department: str | None, reason: Any
) -> AccessDecision:
    """Emergency access to any existing conversation, with a written reason; recorded and notified.

    The reason is checked first, so a malformed request says nothing about whether the conversation
    exists. A caller who may see the conversation anyway gets an ordinary decision (nothing to notify).
    """
    text = check_break_glass_reason(reason)
    if department is None:
        raise conversation_not_found()
    if identity.may_act_on(department):
        return authorize(identity, conversation_id, department)
    notice = AdminNotice(conversation_id, department, identity.user_id, identity.username)
    return AccessDecision(
        conversation_id, department, AccessVia.BREAK_GLASS, identity.user_id, reason=text, notify=notice
    )
