"""API Gateway's HTTP API JWT authorizer, as the local sandbox plays it for routes that name one.

What API Gateway does (developer guide, "Control access to HTTP APIs with JWT authorizers"): take the
token from the identity source (``Authorization``, optionally ``Bearer ``-prefixed); decode it; check the
algorithm (RS256) and the signature with the issuer's JWKS key named by ``kid``; check ``iss``; ``aud``,
or ``client_id`` when there is no ``aud``, against the configured audience; ``exp``, ``nbf``, ``iat``;
and, when the route has authorization scopes, that the ``scope`` claim holds one of them. Any failure is
401 ``{"message":"Unauthorized"}``; a valid token without a route scope is 403 ``{"message":"Forbidden"}``.
The claims reach the function in ``requestContext.authorizer.jwt.claims`` with every value a string and
arrays flattened to ``"[a b]"`` (so ``cognito:groups`` is ``"[nursing admin]"``).

One addition: a token whose ``token_use`` is not ``access`` is 401 here. Deployed, the inbox routes'
scope (``aws.cognito.signin.user.admin``, which only Cognito access tokens carry) refuses an ID token at
the gateway, and the function re-checks ``token_use`` (shared.inbox.access).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from infra.local.events import api_gateway_claims

UNAUTHORIZED = (401, {"Content-Type": "application/json"}, b'{"message":"Unauthorized"}')


def _unauthorized(description: str) -> tuple[int, dict[str, str], bytes]:
    """401 with the ``www-authenticate`` header API Gateway adds (its troubleshooting guide shows
    ``Bearer scope="" error="invalid_token" error_description="..."``)."""
    status, headers, body = UNAUTHORIZED
    challenge = f'Bearer scope="" error="invalid_token" error_description="{description}"'
    return status, {**headers, "www-authenticate": challenge}, body


FORBIDDEN = (403, {"Content-Type": "application/json"}, b'{"message":"Forbidden"}')


class Refused(Exception):
    def __init__(self, answer: tuple[int, dict[str, str], bytes], why: str) -> None:
        super().__init__(why)
        self.answer = answer
        self.why = why


@dataclass
class JwtAuthorizer:
    """One ``JwtConfiguration`` (issuer, audience), with the issuer's JWKS fetched on first use."""

    issuer: str
    audience: Sequence[str]
    fetch_jwks: Callable[[], Mapping[str, Any]]
    leeway_seconds: int = 0
    _keys: dict[str, Any] = field(default_factory=dict)

    def _key(self, kid: str) -> Any:
        if kid not in self._keys:
            for jwk in self.fetch_jwks().get("keys", []):
                if jwk.get("kid"):
                    self._keys[str(jwk["kid"])] = jwt.PyJWK.from_dict(dict(jwk), algorithm="RS256").key
        if kid not in self._keys:
            raise Refused(_unauthorized("the token's key is not in the issuer's key set"), "unknown kid")
        return self._keys[kid]

    def authorize(self, authorization: str | None, scopes: Sequence[str] = ()) -> dict[str, Any]:
        """The ``requestContext.authorizer`` for a request with this ``Authorization`` header, or
        :class:`Refused` with the answer API Gateway gives."""
        token = (authorization or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise Refused(UNAUTHORIZED, "no token")  # API Gateway adds no challenge without a token
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Refused(_unauthorized("the token is not a JWT"), "not a JWT") from exc
        if header.get("alg") != "RS256":
            raise Refused(_unauthorized("the token's algorithm is not RS256"), "algorithm")
        key = self._key(str(header.get("kid") or ""))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            reasons: dict[type[Exception], str] = {
                jwt.ExpiredSignatureError: "the token has expired",
                jwt.InvalidIssuerError: "the token does not have a valid issuer",
                jwt.ImmatureSignatureError: "the token is not valid yet",
            }
            why = reasons.get(type(exc), "the token is not valid")
            raise Refused(_unauthorized(why), type(exc).__name__) from exc
        # aud is evaluated when present; client_id only without it (API Gateway's rule).
        audiences = claims.get("aud", claims.get("client_id"))
        given = audiences if isinstance(audiences, list) else [audiences]
        if not any(isinstance(a, str) and a in self.audience for a in given):
            raise Refused(_unauthorized("the token does not have a valid audience"), "audience")
        if claims.get("token_use") != "access":
            raise Refused(_unauthorized("the token is not an access token"), "token_use")
        token_scopes = str(claims.get("scope") or "").split()
        if scopes and not set(scopes) & set(token_scopes):
            raise Refused(FORBIDDEN, "scope")
        return {"jwt": {"claims": api_gateway_claims(claims), "scopes": token_scopes or None}}


def jwks_from(text: str) -> Mapping[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a JWKS is a JSON object")
    return data
