"""template.yaml's staff identity: the Cognito pool's settings, the app client, the groups, and the
StaffJwt authorizer on every /inbox route (and on no other)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.stack import Stack
from tests.template.cfn import FUNCTIONS, PARAMETERS, RESOURCES, events, props

STAFF_SCOPE = "aws.cognito.signin.user.admin"


def routes() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (function, event["Properties"]["Path"], event["Properties"].get("Auth") or {})
        for function in FUNCTIONS
        for event in events(function, "HttpApi").values()
    ]


def test_every_inbox_route_carries_the_jwt_authorizer_and_the_access_token_scope() -> None:
    inbox = [(f, path, auth) for f, path, auth in routes() if path.startswith("/inbox/")]
    assert len(inbox) >= 6
    for function, path, auth in inbox:
        assert auth.get("Authorizer") == "StaffJwt", (function, path)
        assert auth.get("AuthorizationScopes") == [STAFF_SCOPE], (function, path)


def test_no_other_route_takes_staff_tokens() -> None:
    for function, path, auth in routes():
        if not path.startswith("/inbox/"):
            assert auth.get("Authorizer", "AWS_IAM") in ("AWS_IAM", "NONE"), (function, path)


def test_the_authorizer_trusts_the_staff_pool_and_app_client_only() -> None:
    auth = props("ClinicApi")["Auth"]
    assert auth["DefaultAuthorizer"] == "AWS_IAM" and auth["EnableIamAuthorizer"] is True
    staff = auth["Authorizers"]["StaffJwt"]
    assert staff["IdentitySource"] == "$request.header.Authorization"
    assert staff["JwtConfiguration"]["issuer"] == {
        "Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${StaffUserPool}"
    }
    assert staff["JwtConfiguration"]["audience"] == [{"Ref": "StaffAppClient"}]


@pytest.fixture(params=["false", "true"], ids=["deployed", "sandbox"])
def resolved(request: pytest.FixtureRequest) -> tuple[str, Any]:
    stack = Stack(parameters={"StaffSandbox": request.param})
    stack.physical["StaffUserPool"] = {"Ref": "us-east-1_example"}
    return request.param, stack


def test_the_pool_admits_admin_created_users_only_with_mfa_in_a_deployment(resolved: tuple[str, Any]) -> None:
    sandbox, stack = resolved
    pool = stack.resolve(props("StaffUserPool"))
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["AccountRecoverySetting"]["RecoveryMechanisms"] == [{"Name": "admin_only", "Priority": 1}]
    if sandbox == "false":
        assert pool["MfaConfiguration"] == "ON" and pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    else:
        assert pool["MfaConfiguration"] == "OFF" and "EnabledMfas" not in pool
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[k] is True
        for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert policy["TemporaryPasswordValidityDays"] <= 7
    assert RESOURCES["StaffUserPool"]["DeletionPolicy"] == "Retain" and pool["DeletionProtection"] == "ACTIVE"


def test_mfa_is_on_unless_the_sandbox_parameter_says_otherwise() -> None:
    assert PARAMETERS["StaffSandbox"]["Default"] == "false"
    assert PARAMETERS["StaffSandbox"]["AllowedValues"] == ["false", "true"]


def test_the_app_client_has_no_secret_short_tokens_and_password_auth_only_in_the_sandbox(
    resolved: tuple[str, Any],
) -> None:
    sandbox, stack = resolved
    client = stack.resolve(props("StaffAppClient"))
    assert client["GenerateSecret"] is False and client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["EnableTokenRevocation"] is True
    units = client["TokenValidityUnits"]
    minutes = {"minutes": 1, "hours": 60, "days": 1440}
    assert 15 <= client["AccessTokenValidity"] * minutes[units["AccessToken"]] <= 60
    assert client["IdTokenValidity"] * minutes[units["IdToken"]] <= 60
    assert client["RefreshTokenValidity"] * minutes[units["RefreshToken"]] <= 24 * 60
    flows = set(client["ExplicitAuthFlows"])
    assert {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"} <= flows
    assert ("ALLOW_USER_PASSWORD_AUTH" in flows) is (sandbox == "true")
    assert "ALLOW_ADMIN_USER_PASSWORD_AUTH" not in flows


def test_each_default_department_and_admin_is_a_group_of_the_pool() -> None:
    groups = {
        spec["Properties"]["GroupName"]: spec["Properties"]["UserPoolId"]
        for spec in RESOURCES.values()
        if spec["Type"] == "AWS::Cognito::UserPoolGroup"
    }
    defaults = PARAMETERS["Departments"]["Default"].split(",")
    assert set(groups) == {*defaults, "admin"}
    assert all(pool == {"Ref": "StaffUserPool"} for pool in groups.values())


def test_the_inbox_function_may_only_append_to_and_read_the_audit_trail() -> None:
    statements = props("InboxApiFunction")["Policies"][0]["Statement"]
    audit = [s for s in statements if "AuditTable" in str(s.get("Resource"))]
    writes = [s for s in audit if "dynamodb:PutItem" in s["Action"]]
    assert writes and all("dynamodb:EnclosingOperation" in str(s.get("Condition")) for s in writes)
