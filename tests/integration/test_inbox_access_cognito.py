"""staff_identity() on the claims of real Cognito tokens (moto's cognito-idp issues RS256 access and ID
tokens with groups), handed over the way API Gateway's HTTP API JWT authorizer hands them: every claim a
string, arrays flattened to "[a b]"."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import jwt
import pytest

from shared.inbox.access import InvalidIdentity, NoDepartment, staff_identity

DEPARTMENTS = {"front-desk", "nursing", "billing"}
PASSWORD = "Correct-Horse-9-Battery!"


def as_api_gateway_claims(token: str) -> dict[str, str]:
    """The claims as ``requestContext.authorizer.jwt.claims`` shows them (the authorizer has verified the
    signature; this test reads the payload only)."""
    payload = jwt.decode(token, options={"verify_signature": False})
    return {
        key: "[" + " ".join(value) + "]" if isinstance(value, list) else str(value)
        for key, value in payload.items()
    }


@pytest.fixture
def pool(aws):
    idp = boto3.client("cognito-idp")
    pool_id = idp.create_user_pool(PoolName="clinictext-staff")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="inbox-web", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    for group in ("nursing", "billing", "admin", "oncology"):
        idp.create_group(UserPoolId=pool_id, GroupName=group)

    def tokens(username: str, *groups: str) -> dict[str, str]:
        idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True)
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
        result = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        return {"access": result["AccessToken"], "id": result["IdToken"]}

    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    return tokens, client_id, issuer


def identify(claims, client_id, issuer):
    return staff_identity(
        claims, departments=DEPARTMENTS, client_ids={client_id}, issuer=issuer, now=datetime.now(UTC)
    )


def test_a_nurse_admins_access_token_identifies_them(pool):
    tokens, client_id, issuer = pool
    claims = as_api_gateway_claims(tokens("ana", "nursing", "admin")["access"])
    assert claims["cognito:groups"] in ("[nursing admin]", "[admin nursing]")
    who = identify(claims, client_id, issuer)
    assert who.username == "ana" and who.admin and who.departments == {"nursing"}
    assert who.client_id == client_id and who.user_id == claims["sub"]


def test_an_id_token_is_refused(pool):
    tokens, client_id, issuer = pool
    with pytest.raises(InvalidIdentity) as caught:
        identify(as_api_gateway_claims(tokens("bo", "billing")["id"]), client_id, issuer)
    assert caught.value.claim in ("token_use", "client_id")


def test_a_user_in_no_configured_department_is_403(pool):
    tokens, client_id, issuer = pool
    with pytest.raises(NoDepartment):
        identify(as_api_gateway_claims(tokens("cy", "oncology")["access"]), client_id, issuer)
    with pytest.raises(NoDepartment):
        identify(as_api_gateway_claims(tokens("di")["access"]), client_id, issuer)


def test_a_token_of_another_app_client_is_refused(pool):
    tokens, _client_id, issuer = pool
    with pytest.raises(InvalidIdentity) as caught:
        identify(as_api_gateway_claims(tokens("ed", "nursing")["access"]), "someotherclient", issuer)
    assert caught.value.claim == "client_id"
