"""The staff routes through template.yaml on the local sandbox: tokens from the emulated Cognito pool the
template declares, verified by the sandbox's HTTP API the way API Gateway's JWT authorizer verifies them,
then re-checked by InboxApiFunction (shared.inbox.access). Department, admin and audit rules end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from moto.utilities.utils import load_resource

from shared.inbox.conversation import new_conversation_id

STAFF_SCOPE = "aws.cognito.signin.user.admin"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from infra.local.sandbox import Sandbox

    with Sandbox() as running:
        running.staff = running.seed_staff()  # type: ignore[attr-defined]
        idp = running.stack.client("cognito-idp")
        pool_id, _client = running.staff_pool()
        idp.create_group(UserPoolId=pool_id, GroupName="oncology")  # a group that is no configured department
        running.add_staff("olga.oncology", ("oncology",), "Sandbox-Pass-0001!")
        running.add_staff("nell.nurseadmin", ("nursing", "admin"), "Sandbox-Pass-0002!")
        running.add_staff("nobody.at.all", (), "Sandbox-Pass-0003!")
        yield running


def login(sandbox: Any, username: str) -> dict[str, Any]:
    known = {"olga.oncology": "Sandbox-Pass-0001!", "nell.nurseadmin": "Sandbox-Pass-0002!"}
    known["nobody.at.all"] = "Sandbox-Pass-0003!"
    password = known.get(username) or sandbox.staff[username][1]
    return sandbox.staff_tokens(username, password)


def call(sandbox: Any, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    headers = {"authorization": token} if token is not None else {}
    data = b""
    if body is not None:
        headers["content-type"] = "application/json"
        data = json.dumps(body).encode()
    status, _headers, payload = sandbox.handle_http(method, path, headers, data)
    return status, json.loads(payload) if payload else None


def access(sandbox: Any, username: str) -> str:
    return str(login(sandbox, username)["AccessToken"])


def moto_signed(claims: dict[str, Any]) -> str:
    """A token signed with the emulated pool's own private key (the key its JWKS publishes)."""
    key = jwt.PyJWK.from_dict(load_resource("cognitoidp/resources/jwks-private.json"), algorithm="RS256").key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def audit_items(sandbox: Any) -> list[dict[str, Any]]:
    table = sandbox.stack.table("AuditTable")
    return list(table.scan()["Items"])  # records and the chain head: an append adds one item


# -- tokens the authorizer accepts and refuses -----------------------------------------------------------


def test_an_access_token_of_the_pool_is_accepted_with_or_without_bearer(sandbox: Any) -> None:
    token = access(sandbox, "nina.nurse")
    for header in (token, f"Bearer {token}"):
        status, me = call(sandbox, "GET", "/inbox/me", header)
        assert status == 200, me
        assert me["username"] == "nina.nurse" and me["departments"] == ["nursing"] and not me["admin"]
        # Any department may be handed a conversation, though nursing sees only its own queue.
        assert me["assign_departments"] == ["billing", "front-desk", "nursing"]
        assert me["visible_departments"] == ["nursing"]
        assert me["user_id"] == claims_of(token)["sub"]


def test_groups_arrive_as_one_string_and_are_parsed(sandbox: Any) -> None:
    token = access(sandbox, "nell.nurseadmin")
    seen: dict[str, Any] = {}
    function = sandbox.stack.functions["InboxApiFunction"]
    original = function.invoke

    def spy(event: Any) -> Any:
        seen.update(event["requestContext"]["authorizer"]["jwt"])
        return original(event)

    function.invoke = spy
    try:
        status, me = call(sandbox, "GET", "/inbox/me", token)
    finally:
        function.invoke = original
    assert seen["claims"]["cognito:groups"] in ("[nursing admin]", "[admin nursing]")
    assert isinstance(seen["claims"]["exp"], str) and seen["scopes"] == [STAFF_SCOPE]
    assert status == 200 and me["admin"] and me["departments"] == ["nursing"]
    assert me["visible_departments"] == ["billing", "front-desk", "nursing"]


@pytest.mark.parametrize(
    "change",
    [
        # Times are offsets from when the test runs (a value computed at collection went stale on a
        # loaded machine: "not yet valid" 600 s ahead had become valid by the time the test ran).
        pytest.param({"exp": -120}, id="expired"),
        pytest.param(
            {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, id="wrong-issuer"
        ),
        pytest.param({"client_id": "someotherclient"}, id="wrong-client"),
        pytest.param({"nbf": 600}, id="not-yet-valid"),
    ],
)
def test_a_token_the_gateway_would_refuse_is_401(sandbox: Any, change: dict[str, Any]) -> None:
    good = claims_of(access(sandbox, "nina.nurse"))
    assert call(sandbox, "GET", "/inbox/me", moto_signed(good))[0] == 200  # the signer is the pool's key
    now = int(time.time())
    changed = {key: now + value if key in ("exp", "nbf") else value for key, value in change.items()}
    status, answer = call(sandbox, "GET", "/inbox/me", moto_signed({**good, **changed}))
    assert (status, answer) == (401, {"message": "Unauthorized"})


def test_a_refusal_says_why_in_www_authenticate_as_api_gateway_does(sandbox: Any) -> None:
    claims = claims_of(access(sandbox, "nina.nurse"))
    expired = moto_signed({**claims, "exp": int(time.time()) - 120})
    status, headers, _ = sandbox.handle_http("GET", "/inbox/me", {"authorization": expired}, b"")
    assert status == 401
    assert headers["www-authenticate"] == (
        'Bearer scope="" error="invalid_token" error_description="the token has expired"'
    )


def test_a_token_of_another_app_client_of_the_same_pool_is_401(sandbox: Any) -> None:
    idp = sandbox.stack.client("cognito-idp")
    pool_id, _client = sandbox.staff_pool()
    other = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="not-the-inbox", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    tokens = idp.initiate_auth(
        ClientId=other,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "nina.nurse", "PASSWORD": sandbox.staff["nina.nurse"][1]},
    )["AuthenticationResult"]
    assert call(sandbox, "GET", "/inbox/me", tokens["AccessToken"]) == (401, {"message": "Unauthorized"})


def test_an_id_token_where_an_access_token_is_expected_is_401(sandbox: Any) -> None:
    id_token = login(sandbox, "nina.nurse")["IdToken"]
    assert claims_of(id_token)["token_use"] == "id"
    assert call(sandbox, "GET", "/inbox/me", id_token) == (401, {"message": "Unauthorized"})


def test_a_tampered_token_is_401(sandbox: Any) -> None:
    header, payload, signature = access(sandbox, "nina.nurse").split(".")
    claims = claims_of(access(sandbox, "nina.nurse"))
    forged = jwt.utils.base64url_encode(json.dumps({**claims, "cognito:groups": ["admin"]}).encode()).decode()
    assert call(sandbox, "GET", "/inbox/me", f"{header}.{forged}.{signature}")[0] == 401
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert call(sandbox, "GET", "/inbox/me", f"{header}.{payload}.{flipped}")[0] == 401
    unsigned = jwt.encode(claims, "", algorithm="none")
    assert call(sandbox, "GET", "/inbox/me", unsigned)[0] == 401


@pytest.mark.parametrize("header", [None, "", "Bearer ", "not-a-jwt", "Basic dXNlcjpwYXNz"])
def test_no_usable_token_is_401(sandbox: Any, header: str | None) -> None:
    assert call(sandbox, "GET", "/inbox/me", header) == (401, {"message": "Unauthorized"})


def test_the_iam_routes_keep_iam(sandbox: Any) -> None:
    """A staff token is no SigV4 signature: the IAM routes still answer 403 to it."""
    status, _ = call(
        sandbox, "POST", "/consent/lookup", access(sandbox, "ada.admin"), {"phone": "+12065550111"}
    )
    assert status == 403


# -- 403 and 404 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["olga.oncology", "nobody.at.all"])
def test_a_staff_member_in_no_department_is_403_everywhere(sandbox: Any, username: str) -> None:
    token = access(sandbox, username)
    for method, path in [
        ("GET", "/inbox/me"),
        ("GET", "/inbox/departments/nursing"),
        ("GET", "/inbox/canned-responses"),
    ]:
        status, answer = call(sandbox, method, path, token)
        assert status == 403, (path, answer)
        assert "department" in answer["error"]["message"]


def test_another_department_answers_like_one_that_does_not_exist(sandbox: Any) -> None:
    token = access(sandbox, "nina.nurse")
    assert call(sandbox, "GET", "/inbox/departments/nursing", token)[0] == 200
    other = call(sandbox, "GET", "/inbox/departments/billing", token)
    missing = call(sandbox, "GET", "/inbox/departments/radiology", token)
    assert other[0] == 404 and other == missing
    assert call(sandbox, "GET", "/inbox/canned-responses?department=billing", token) == missing


def test_a_malformed_department_is_400_naming_it(sandbox: Any) -> None:
    status, answer = call(sandbox, "GET", "/inbox/departments/Nursing_Dept", access(sandbox, "nina.nurse"))
    assert status == 400 and answer["error"]["field"] == "department"
    assert "Nursing_Dept" not in json.dumps(answer)


# -- admin-only routes ---------------------------------------------------------------------------------------

SETTINGS = {
    "time_zone": "America/Chicago",
    "hours": {"mon": [["08:30", "12:00"], ["13:00", "17:00"]], "sat": [["22:00", "02:00"]]},
    "holidays": ["2026-12-25"],
    "keywords": ["refill"],
    "numbers": ["+12065550188"],
    "first_response_minutes": 45,
}


def test_only_admins_set_a_department_and_staff_read_it_back(sandbox: Any) -> None:
    nurse, admin = access(sandbox, "nina.nurse"), access(sandbox, "ada.admin")
    assert call(sandbox, "PUT", "/inbox/departments/nursing", nurse, SETTINGS)[0] == 403
    status, before = call(sandbox, "GET", "/inbox/departments/nursing", nurse)
    assert status == 200 and before["configured"] is False
    assert before["settings"]["first_response_minutes"] == 60
    assert before["settings"]["time_zone"] == "America/Los_Angeles"  # DefaultTimeZone of the local stack
    status, saved = call(sandbox, "PUT", "/inbox/departments/nursing", admin, SETTINGS)
    assert status == 200, saved
    status, after = call(sandbox, "GET", "/inbox/departments/nursing", nurse)
    assert status == 200 and after["configured"] is True
    assert after["settings"]["hours"]["mon"] == [["08:30", "12:00"], ["13:00", "17:00"]]
    assert after["settings"]["first_response_minutes"] == 45


def test_bad_settings_are_400_naming_the_field_and_change_nothing(sandbox: Any) -> None:
    admin = access(sandbox, "ada.admin")
    call(sandbox, "PUT", "/inbox/departments/front-desk", admin, {"time_zone": "America/Denver"})
    status, answer = call(
        sandbox,
        "PUT",
        "/inbox/departments/front-desk",
        admin,
        {"time_zone": "America/Denver", "hours": {"mon": [["25:00", "26:00"]]}},
    )
    assert status == 400 and answer["error"]["field"].startswith("hours")
    kept = call(sandbox, "GET", "/inbox/departments/front-desk", admin)[1]
    assert kept["settings"]["hours"]["mon"] == [["08:00", "17:00"]]
    status, answer = call(sandbox, "PUT", "/inbox/departments/pharmacy", admin, {"time_zone": "UTC"})
    assert status == 404  # not a configured department (the Departments parameter)


def test_canned_responses_admins_create_and_each_department_lists_its_own(sandbox: Any) -> None:
    admin, nurse, clerk = (access(sandbox, u) for u in ("ada.admin", "nina.nurse", "bill.billing"))
    body = {"department": "nursing", "name": "Refill ready", "body": "Hi {first_name}, your refill is ready."}
    assert call(sandbox, "POST", "/inbox/canned-responses", nurse, body)[0] == 403
    status, created = call(sandbox, "POST", "/inbox/canned-responses", admin, body)
    assert status == 201, created
    assert created["canned_response"]["placeholders"] == ["first_name"]
    billing = {
        "department": "billing",
        "name": "Balance",
        "body": "Hi {first_name}, call {clinic_phone} about your bill.",
    }
    assert call(sandbox, "POST", "/inbox/canned-responses", admin, billing)[0] == 201
    nursing_list = call(sandbox, "GET", "/inbox/canned-responses", nurse)[1]["canned_responses"]
    assert [c["name"] for c in nursing_list] == ["Refill ready"]
    billing_list = call(sandbox, "GET", "/inbox/canned-responses", clerk)[1]["canned_responses"]
    assert [c["department"] for c in billing_list] == ["billing"]
    everything = call(sandbox, "GET", "/inbox/canned-responses", admin)[1]["canned_responses"]
    assert {c["department"] for c in everything} == {"nursing", "billing"}


def test_a_canned_response_with_a_phi_placeholder_is_400_and_not_stored(sandbox: Any) -> None:
    admin = access(sandbox, "ada.admin")
    before = call(sandbox, "GET", "/inbox/canned-responses?department=front-desk", admin)[1]
    body = {"department": "front-desk", "name": "Results", "body": "Hi {first_name}, your {diagnosis} is in."}
    status, answer = call(sandbox, "POST", "/inbox/canned-responses", admin, body)
    assert status == 400 and answer["error"]["field"] == "body"
    assert call(sandbox, "GET", "/inbox/canned-responses?department=front-desk", admin)[1] == before


# -- the audit trail ----------------------------------------------------------------------------------------


def test_only_admins_read_the_audit_trail_and_a_refusal_records_nothing(sandbox: Any) -> None:
    before = len(audit_items(sandbox))
    status, _ = call(sandbox, "GET", "/inbox/audit?conversation_id=cv_1", access(sandbox, "nina.nurse"))
    assert status == 403
    assert len(audit_items(sandbox)) == before


def test_every_look_at_the_trail_is_recorded_before_it_is_read(sandbox: Any) -> None:
    token = access(sandbox, "ada.admin")
    sub = claims_of(token)["sub"]
    status, first = call(sandbox, "GET", f"/inbox/audit?user={sub}", token)
    assert status == 200, first
    # The first look already shows itself: the audit_read record is written before the query.
    assert [r["action"] for r in first["records"]] == ["audit_read"]
    record = first["records"][0]
    assert record["user_id"] == sub and record["username"] == "ada.admin"
    assert record["detail"]["user"] == sub and record["client_id"] == sandbox.staff_pool()[1]
    assert record["source_ip"] == "127.0.0.1"
    second = call(sandbox, "GET", f"/inbox/audit?user={sub}", token)[1]
    assert [r["action"] for r in second["records"]] == ["audit_read", "audit_read"]
    assert second["records"][0]["sequence"] > second["records"][1]["sequence"]  # newest first


def test_audit_filters_by_conversation_and_by_period(sandbox: Any) -> None:
    token = access(sandbox, "ada.admin")
    asked = new_conversation_id()  # any id the API could have issued: the look itself is recorded
    status, page = call(sandbox, "GET", f"/inbox/audit?conversation_id={asked}", token)
    assert status == 200 and [r["conversation_id"] for r in page["records"]] == [asked], page
    now = sandbox.clock.now()
    start = (now.replace(microsecond=0)).isoformat().replace("+00:00", "Z")
    status, page = call(sandbox, "GET", f"/inbox/audit?from=2026-01-01T00:00:00Z&to={start}", token)
    assert status == 200 and all(r["action"] == "audit_read" for r in page["records"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=yesterday&to=2026-01-02T00:00:00Z", "from"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("user=a%20b", "user"),
        ("conversation_id=cv_1&limit=0", "limit"),
        ("conversation_id=cv_1&limit=five", "limit"),
        ("", "from"),
    ],
)
def test_a_malformed_audit_query_is_400_naming_the_field_and_records_nothing(
    sandbox: Any, query: str, field: str
) -> None:
    before = len(audit_items(sandbox))
    status, answer = call(sandbox, "GET", f"/inbox/audit?{query}", access(sandbox, "ada.admin"))
    assert status == 400, answer
    assert answer["error"]["field"] == field
    assert len(audit_items(sandbox)) == before


# -- the reminder templates page: /inbox/templates/* behind StaffJwt, for admins only ----------------------
REMINDER = "{clinic_name}: reminder {when}. Reply C to confirm, STOP to opt out"


def test_an_admin_token_checks_saves_and_reads_reminder_templates(sandbox: Any) -> None:
    token = access(sandbox, "ada.admin")
    status, checked = call(sandbox, "POST", "/inbox/templates/check", token, {"body": REMINDER + " ’"})
    assert status == 200, checked
    assert checked["report"]["as_written"]["encoding"] == "UCS-2"
    assert checked["report"]["as_written"]["ucs2_culprits"] == ["U+2019"]
    status, saved = call(sandbox, "PUT", "/inbox/templates/reminder", token, {"body": REMINDER})
    assert status == 201 and saved["created"], saved
    assert saved["report"]["as_written"]["segments"] == 1
    assert saved["template"]["saved_by"] == f"staff:{claims_of(token)['sub']}"
    status, again = call(sandbox, "PUT", "/inbox/templates/reminder", token, {"body": REMINDER})
    assert status == 200 and not again["created"]
    status, shown = call(sandbox, "GET", "/inbox/templates/reminder", token)
    assert status == 200 and shown["template"]["body"] == REMINDER, shown


def test_template_routes_refuse_non_admins_bad_names_and_bodies_and_keep_iam_for_the_old_ones(
    sandbox: Any,
) -> None:
    nurse = access(sandbox, "nina.nurse")
    for method, path, body in (
        ("POST", "/inbox/templates/check", {"body": REMINDER}),
        ("PUT", "/inbox/templates/reminder", {"body": REMINDER}),
        ("GET", "/inbox/templates/reminder", None),
    ):
        status, answer = call(sandbox, method, path, nurse, body)
        assert status == 403, (path, answer)
    assert call(sandbox, "GET", "/inbox/templates/reminder", None)[0] == 401  # no token: the authorizer
    admin = access(sandbox, "ada.admin")
    status, answer = call(sandbox, "PUT", "/inbox/templates/welcome", admin, {"body": REMINDER})
    assert status == 400, answer
    status, answer = call(sandbox, "PUT", "/inbox/templates/reminder", admin, {"body": 5})
    assert status == 400 and answer["error"]["field"] == "body", answer
    status, answer = call(sandbox, "PUT", "/inbox/templates/reminder", admin, {"body": "no stop word {when}"})
    assert status == 400, answer
    # The IAM routes stay IAM: a staff token is not a signature.
    assert call(sandbox, "PUT", "/templates/reminder", admin, {"body": REMINDER})[0] == 403
    assert call(sandbox, "POST", "/templates/check", f"Bearer {admin}", {"body": REMINDER})[0] == 403
