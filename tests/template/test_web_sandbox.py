"""The staff web app in the sandbox: web/dist and a generated config.json under /app/ on the API's own
origin, the security headers CloudFront adds when deployed, and a browser-style sign-in against moto's
Cognito (unsigned InitiateAuth, cross-origin) whose token opens /inbox/me on the app's origin."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local import web_app

CONFIG = web_app.WebConfig("us-east-1", "us-east-1_abc123", "client1", "http://127.0.0.1:4566")


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>inbox</title>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside")
    return dist


def test_serves_the_build_with_security_headers(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    status, headers, body = web_app.serve("GET", "/app/", CONFIG, dist)
    assert (status, body) == (200, b"<!doctype html><title>inbox</title>")
    assert headers["Content-Type"] == "text/html"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "connect-src 'self' http://127.0.0.1:4566;" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = web_app.serve("GET", "/app/assets/app.js", CONFIG, dist)
    assert status == 200
    assert "javascript" in headers["Content-Type"]


def test_never_serves_outside_the_build(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    for path in ("/app/../secret.txt", "/app/%2e%2e/secret.txt", "/app/assets/../../secret.txt"):
        status, _headers, body = web_app.serve("GET", path, CONFIG, dist)
        assert status == 404, path
        assert b"outside" not in body


def test_unbuilt_app_says_how_to_build_it(tmp_path: Path) -> None:
    status, _headers, body = web_app.serve("GET", "/app/", CONFIG, tmp_path / "missing")
    assert status == 404
    assert b"make web" in body


def test_only_reads(tmp_path: Path) -> None:
    status, headers, _ = web_app.serve("POST", "/app/config.json", CONFIG, _dist(tmp_path))
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert web_app.serve("GET", "/inbox/me", CONFIG, tmp_path) is None


def test_config_json_is_what_the_app_parses() -> None:
    config = json.loads(CONFIG.as_json())
    assert config == {
        "apiBaseUrl": "",
        "region": "us-east-1",
        "userPoolId": "us-east-1_abc123",
        "clientId": "client1",
        "cognitoEndpoint": "http://127.0.0.1:4566/",
        "authFlow": "USER_PASSWORD_AUTH",
        "idleMinutes": 15,
        "pollSeconds": 3,
        "clinicName": "ClinicText sandbox",
    }


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from infra.local.sandbox import Sandbox

    with Sandbox(seed_staff=True, aws_port=0, api_port=0) as running:
        yield running


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # local sandbox
    with urllib.request.urlopen(request, timeout=20) as answer:  # nosec B310
        return answer.status, dict(answer.headers), answer.read()


def test_sandbox_config_names_its_pool_and_the_browser_can_sign_in(sandbox: Any) -> None:
    status, _headers, body = _get(sandbox.web_url + "config.json")
    assert status == 200
    config = json.loads(body)
    pool_id, client_id = sandbox.staff_pool()
    assert (config["userPoolId"], config["clientId"]) == (pool_id, client_id)
    assert config["cognitoEndpoint"] == sandbox.aws_endpoint + "/"

    # What amazon-cognito-identity-js sends: an unsigned JSON POST from the app's origin.
    (username, (_groups, password)) = next(iter(sandbox.seeded_staff.items()))
    payload = {
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": client_id,
        "AuthParameters": {"USERNAME": username, "PASSWORD": password},
    }
    request = urllib.request.Request(  # local moto
        config["cognitoEndpoint"],
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
            "Origin": sandbox.api_url,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as answer:  # nosec B310
        assert answer.headers.get("Access-Control-Allow-Origin") in ("*", sandbox.api_url)
        token = json.loads(answer.read())["AuthenticationResult"]["AccessToken"]

    status, _headers, body = _get(sandbox.api_url + "/inbox/me", {"Authorization": f"Bearer {token}"})
    assert status == 200
    assert json.loads(body)["username"] == username
