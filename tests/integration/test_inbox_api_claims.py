"""InboxApiFunction re-checks the claims API Gateway hands it (real-shaped authorizer events from
infra.local.events.jwt_http_api_event, the stack built from template.yaml in moto): a route that was
misconfigured without the authorizer, or a token of another pool or client, identifies nobody."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from infra.local.events import jwt_http_api_event


def claims(stack: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "3f1c2a9e-0d4b-4c8e-9a51-7d2e6b0f1a23",
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{stack.ref('StaffUserPool')}",
        "client_id": stack.ref("StaffAppClient"),
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "username": "nina.nurse",
        "cognito:groups": ["nursing"],
        "iat": now,
        "exp": now + 1800,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def invoke(stack: Any, path: str, token_claims: dict[str, Any], method: str = "GET") -> tuple[int, Any]:
    route = "GET /inbox/departments/{department}" if path.startswith("/inbox/departments/") else None
    event = jwt_http_api_event(
        method,
        path,
        claims=token_claims,
        route_key=route or f"{method} {path}",
        path_parameters={"department": path.rsplit("/", 1)[1]} if route else None,
    )
    answer = stack.functions["InboxApiFunction"].invoke(event)
    return answer["statusCode"], json.loads(answer["body"])


def test_the_event_helper_flattens_groups_as_api_gateway_does(stack: Any) -> None:
    event = jwt_http_api_event(
        "GET", "/inbox/me", claims=claims(stack, **{"cognito:groups": ["nursing", "admin"]})
    )
    shown = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert shown["cognito:groups"] == "[nursing admin]" and isinstance(shown["exp"], str)
    status, me = invoke(stack, "/inbox/me", claims(stack, **{"cognito:groups": ["nursing", "admin"]}))
    assert status == 200 and me["admin"] and me["departments"] == ["nursing"]


@pytest.mark.parametrize(
    ("change", "claim"),
    [
        ({"token_use": "id"}, "token_use"),
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Elsewhere"}, "iss"),
        ({"client_id": "anotherclient"}, "client_id"),
        ({"exp": int(time.time()) - 3600}, "exp"),
        ({"sub": None}, "sub"),
    ],
)
def test_claims_that_identify_no_staff_member_are_401_naming_the_claim(
    stack: Any, change: dict[str, Any], claim: str
) -> None:
    status, answer = invoke(stack, "/inbox/me", claims(stack, **change))
    assert status == 401 and answer["error"]["field"] == claim


def test_an_event_without_authorizer_claims_is_401(stack: Any) -> None:
    from infra.local.events import http_api_event

    answer = stack.functions["InboxApiFunction"].invoke(http_api_event("GET", "/inbox/me"))
    assert answer["statusCode"] == 401


def test_a_group_that_is_no_configured_department_grants_nothing(stack: Any) -> None:
    status, _ = invoke(stack, "/inbox/me", claims(stack, **{"cognito:groups": "[oncology]"}))
    assert status == 403
    status, _ = invoke(stack, "/inbox/departments/nursing", claims(stack, **{"cognito:groups": "[billing]"}))
    assert status == 404


def test_departments_come_from_the_template_parameter(stack: Any) -> None:
    env = stack.functions["InboxApiFunction"].environment
    assert env["DEPARTMENTS"] == "front-desk,nursing,billing"
    assert env["STAFF_CLIENT_IDS"] == stack.ref("StaffAppClient")


def put_settings(stack: Any, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    event = jwt_http_api_event(
        "PUT",
        "/inbox/departments/nursing",
        claims=claims(stack, **{"cognito:groups": ["admin"]}),
        route_key="PUT /inbox/departments/{department}",
        path_parameters={"department": "nursing"},
        body=body,
        headers={"content-type": content_type},
    )
    answer = stack.functions["InboxApiFunction"].invoke(event)
    return answer["statusCode"], json.loads(answer["body"])


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b'{"time_zone": "UTC"}', "text/plain", 415, "content-type"),
        (b'{"time_zone": "UTC", "time_zone": "America/Denver"}', "application/json", 400, None),
        (
            b'{"time_zone": "UTC", "first_response_minutes": "45"}',
            "application/json",
            400,
            "first_response_minutes",
        ),
        (b'{"time_zone": "UTC", "x": 1}', "application/json", 400, "x"),
        (b'{"time_zone": "Mars/Olympus"}', "application/json", 400, "time_zone"),
        (b"[" * 40 + b"]" * 40, "application/json", 400, None),
        (b'{"time_zone": "' + b"A" * 70_000 + b'"}', "application/json", 413, "body"),
    ],
)
def test_settings_bodies_go_through_the_one_parser_and_a_refusal_stores_nothing(
    stack: Any, body: bytes, content_type: str, status: int, field: str | None
) -> None:
    got, answer = put_settings(stack, body, content_type)
    assert got == status, answer
    if field is not None:
        assert answer["error"]["field"] == field
    assert "Mars" not in json.dumps(answer) and "AAAA" not in json.dumps(answer)
    stored = stack.table("ConversationsTable").scan()["Items"]
    assert [i for i in stored if str(i["pk"]).startswith(("settings#", "canned#"))] == []
