"""Staff identity from the HTTP API JWT authorizer's claims, and who may see which conversation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.core.errors import InvalidInput, NotFound
from shared.inbox.access import (
    AccessVia,
    InvalidIdentity,
    NoDepartment,
    RequestOrigin,
    authorize,
    break_glass,
    jwt_claims,
    parse_groups,
    request_origin,
    staff_identity,
)
from tests.fakes import no_network

__all__ = ["no_network"]
pytestmark = pytest.mark.usefixtures("no_network")

DEPARTMENTS = {"front-desk", "nursing", "billing"}
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
CLIENT = "4s1q2r3t5u6v7w8x9y0zabcdef"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"


def claims(**overrides):
    """Claims as the HTTP API JWT authorizer hands over a Cognito access token's: every value a string."""
    base = {
        "sub": "5f1c3f0e-8d2b-4a51-9a3e-0c7d2b1e4f6a",
        "username": "nurse.ana",
        "cognito:groups": "[nursing]",
        "token_use": "access",
        "client_id": CLIENT,
        "iss": ISSUER,
        "exp": str(int(NOW.timestamp()) + 3600),
        "scope": "aws.cognito.signin.user.admin",
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def identity(**overrides):
    return staff_identity(
        claims(**overrides), departments=DEPARTMENTS, client_ids={CLIENT}, issuer=ISSUER, now=NOW
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[nursing admin]", ["nursing", "admin"]),
        ("[nursing]", ["nursing"]),
        ("[]", []),
        ('["nursing","front-desk"]', ["nursing", "front-desk"]),
        (["billing", "admin"], ["billing", "admin"]),
        ("nursing", ["nursing"]),
        ("[nursing, billing]", ["nursing", "billing"]),
        (None, []),
    ],
)
def test_groups_claim_in_every_shape(raw, expected):
    assert parse_groups(raw) == expected


def test_an_api_gateway_shaped_claim_set_identifies_the_nurse():
    who = identity()
    assert who.user_id == claims()["sub"] and who.username == "nurse.ana"
    assert who.departments == {"nursing"} and not who.admin and who.client_id == CLIENT


def test_admin_and_department_from_one_flattened_string():
    who = identity(**{"cognito:groups": "[billing admin]"})
    assert who.admin and who.departments == {"billing"}


def test_an_admin_in_no_department_is_allowed():
    assert identity(**{"cognito:groups": "[admin]"}).admin


def test_the_id_token_username_claim_is_accepted_as_the_username():
    who = identity(username=None, **{"cognito:username": "desk.bo"})
    assert who.username == "desk.bo"


@pytest.mark.parametrize("groups", ["[]", "[oncology]", "[Nursing]", "[ADMIN]", "[nurs!ng]", None, "[ ]"])
def test_no_configured_department_and_not_admin_is_403(groups):
    with pytest.raises(NoDepartment):
        identity(**{"cognito:groups": groups})


def test_unknown_and_malformed_groups_are_ignored_beside_a_real_one():
    who = identity(**{"cognito:groups": "[oncology Nursing nursing x_y]"})
    assert who.departments == {"nursing"} and not who.admin


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", None),
        ("sub", ""),
        ("sub", "   "),
        ("sub", "not a uuid; DROP"),
        ("username", None),
        ("username", ""),
        ("username", "a\nb"),
        ("username", "x" * 129),
        ("client_id", None),
        ("client_id", "another-client"),
        ("token_use", None),
        ("token_use", "id"),
        ("token_use", "refresh"),
        ("iss", "https://evil.example"),
        ("iss", None),
        ("exp", None),
        ("exp", "soon"),
        ("exp", str(int(NOW.timestamp()) - 3600)),
        ("cognito:groups", 5),
        ("cognito:groups", ["nursing", 7]),
    ],
)
def test_every_claim_relied_on_is_checked_again(claim, value):
    with pytest.raises(InvalidIdentity) as caught:
        identity(**{claim: value})
    assert caught.value.claim == claim
    if isinstance(value, str) and len(value) > 3:
        assert value not in str(caught.value)  # the value is never echoed


def test_no_claims_at_all_is_refused():
    for empty in (None, {}):
        with pytest.raises(InvalidIdentity):
            staff_identity(empty, departments=DEPARTMENTS)


def test_a_non_string_claim_is_refused_not_coerced():
    with pytest.raises(InvalidIdentity) as caught:
        identity(sub=12345)
    assert caught.value.claim == "sub"


def test_expiry_is_not_checked_without_a_clock_but_everything_else_is():
    who = staff_identity(claims(exp=None), departments=DEPARTMENTS)
    assert who.departments == {"nursing"}


# -- decisions ------------------------------------------------------------------------------------


def test_a_nurse_acts_on_nursing_conversations():
    decision = authorize(identity(), "c-1", "nursing")
    assert decision.via is AccessVia.DEPARTMENT and decision.notify is None and decision.audit_action is None


def test_another_departments_conversation_answers_exactly_like_a_missing_one():
    nurse = identity()
    with pytest.raises(NotFound) as other:
        authorize(nurse, "c-2", "billing")
    with pytest.raises(NotFound) as missing:
        authorize(nurse, "c-3", None)
    assert type(other.value) is type(missing.value)
    assert str(other.value) == str(missing.value) and other.value.args == missing.value.args


def test_admin_sees_every_department():
    admin = identity(**{"cognito:groups": "[admin]"})
    assert authorize(admin, "c-2", "billing").via is AccessVia.ADMIN


def test_break_glass_with_a_reason_is_allowed_recorded_and_notified():
    nurse = identity()
    decision = break_glass(nurse, "c-2", "billing", "  patient on the phone,\n urgent refill question ")
    assert decision.via is AccessVia.BREAK_GLASS and decision.audit_action == "break_glass"
    assert decision.reason == "patient on the phone, urgent refill question"
    assert decision.notify is not None
    assert (decision.notify.conversation_id, decision.notify.department) == ("c-2", "billing")
    assert decision.notify.user_id == nurse.user_id


def test_break_glass_into_ones_own_department_is_an_ordinary_access():
    decision = break_glass(identity(), "c-1", "nursing", "checking the thread before a call")
    assert decision.via is AccessVia.DEPARTMENT and decision.notify is None


@pytest.mark.parametrize(
    "reason", [None, 5, "", "short", "x" * 501, "needs access\x00now please", "\u200b" * 20]
)
def test_break_glass_without_a_usable_reason_is_400_naming_the_field(reason):
    with pytest.raises(InvalidInput) as caught:
        break_glass(identity(), "c-2", "billing", reason)
    assert caught.value.field == "reason"


def test_break_glass_into_a_missing_conversation_is_not_found():
    with pytest.raises(NotFound):
        break_glass(identity(), "c-9", None, "a written reason that is long enough")


# -- the HTTP API event ---------------------------------------------------------------------------


def http_api_event(claims_value, *, source_ip="198.51.100.23", user_agent="Mozilla/5.0 (Macintosh)"):
    return {
        "version": "2.0",
        "routeKey": "GET /inbox/conversations/{id}",
        "rawPath": "/inbox/conversations/c_x",
        "headers": {"authorization": "Bearer eyJ..."},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "authorizer": {"jwt": {"claims": claims_value, "scopes": None}},
            "http": {
                "method": "GET",
                "path": "/inbox/conversations/c_x",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": "r-1",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def test_claims_and_origin_come_from_the_http_api_event():
    event = http_api_event(claims(**{"cognito:groups": "[nursing admin]"}))
    who = staff_identity(
        jwt_claims(event), departments=DEPARTMENTS, client_ids={CLIENT}, issuer=ISSUER, now=NOW
    )
    assert who.admin and who.departments == {"nursing"}
    assert request_origin(event) == RequestOrigin("198.51.100.23", "Mozilla/5.0 (Macintosh)")


@pytest.mark.parametrize(
    "event",
    [{}, {"requestContext": {}}, {"requestContext": {"authorizer": {"iam": {}}}}, {"requestContext": "x"}],
)
def test_an_event_without_jwt_claims_has_none_and_is_refused(event):
    assert jwt_claims(event) is None
    with pytest.raises(InvalidIdentity):
        staff_identity(jwt_claims(event), departments=DEPARTMENTS)


def test_an_origin_that_is_not_an_address_is_not_trusted_and_the_agent_is_bounded():
    origin = request_origin(http_api_event(claims(), source_ip="evil\nhost", user_agent="a\x00b" + "x" * 400))
    assert origin.source_ip == "" and origin.user_agent.startswith("abx") and len(origin.user_agent) == 256
    assert request_origin({}) == RequestOrigin("", "")
