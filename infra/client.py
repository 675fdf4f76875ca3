"""The HTTP client the CLI and the demo share: JSON requests to the sandbox or a deployed API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def mask(number: str) -> str:
    """Show a number the way staff screens do: +1206•••0123."""
    return number[:5] + "•••" + number[-4:] if len(number) > 9 else "•••"


def request(
    method: str,
    url: str,
    body: Any = None,
    *,
    sign: bool = False,
    extra_headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"} if data is not None else {}
    headers.update(extra_headers or {})
    if sign:
        headers.update(sigv4_headers(method, url, data or b""))
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310  # http(s) API URL  # nosec B310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sigv4_headers(method: str, url: str, data: bytes) -> dict[str, str]:
    """Sign like an IAM caller would (the sandbox's API Gateway only checks a signature is present)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("sandbox", "sandbox"), "execute-api", "us-east-1").add_auth(req)
    return {k: v for k, v in req.headers.items() if k.lower() in ("authorization", "x-amz-date")}
