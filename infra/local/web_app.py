"""The staff web app in the sandbox: web/dist (``make web``) served under ``/app/`` on the sandbox's own
API address, with a ``config.json`` written for this sandbox (its emulated Cognito pool, the same-origin
API, USER_PASSWORD_AUTH, the idle logoff), and the security headers CloudFront adds when deployed."""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path

WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
PREFIX = "/app/"
IDLE_MINUTES = 15


@dataclass(frozen=True)
class WebConfig:
    region: str
    user_pool_id: str
    client_id: str
    cognito_endpoint: str
    idle_minutes: int = IDLE_MINUTES
    poll_seconds: int = 3

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "apiBaseUrl": "",  # the API answers on the same origin as the app
                "region": self.region,
                "userPoolId": self.user_pool_id,
                "clientId": self.client_id,
                "cognitoEndpoint": self.cognito_endpoint.rstrip("/") + "/",
                "authFlow": "USER_PASSWORD_AUTH",  # the sandbox's app client allows it; SRP when deployed
                "idleMinutes": self.idle_minutes,
                "pollSeconds": self.poll_seconds,
                "clinicName": "ClinicText sandbox",
            }
        ).encode()


def security_headers(cognito_endpoint: str) -> dict[str, str]:
    """What CloudFront's response headers policy adds (template.yaml WebResponseHeaders), for this origin."""
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {cognito_endpoint.rstrip('/')}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'; object-src 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def serve(
    method: str, path: str, config: WebConfig, dist: Path = WEB_DIST
) -> tuple[int, dict[str, str], bytes] | None:
    """The answer for ``/app`` paths (None for any other path, which the API handles)."""
    if path == "/app":
        return 308, {"Location": PREFIX}, b""
    if not path.startswith(PREFIX):
        return None
    headers = security_headers(config.cognito_endpoint)
    if method not in ("GET", "HEAD"):
        return 405, {**headers, "Allow": "GET, HEAD", "Content-Type": "text/plain"}, b"method not allowed"
    rest = path[len(PREFIX) :] or "index.html"
    if rest == "config.json":
        return 200, {**headers, "Content-Type": "application/json"}, config.as_json()
    root = dist.resolve()
    target = (root / rest).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        if not (root / "index.html").is_file():
            message = b"the web app is not built: run make web"
            return 404, {**headers, "Content-Type": "text/plain"}, message
        return 404, {**headers, "Content-Type": "text/plain"}, b"not found"
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    data = target.read_bytes() if method == "GET" else b""
    return 200, {**headers, "Content-Type": kind}, data
