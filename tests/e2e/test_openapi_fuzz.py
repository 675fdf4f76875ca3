"""Issue 5: schemathesis generates requests from docs/openapi.yaml, both valid ones and, in its negative
mode, ones that break the description (wrong types, missing fields, values outside the schema), and they
are sent to the sandbox's HTTP API: the template's functions behind a local API Gateway. No request may
get a 5xx, and the Twilio webhook's requests, none signed with the account's token, are all refused 403.
The patient page's forms (POST /s, POST /s/answer: their form-encoded bodies are described) always get a
4xx HTML page -- no token or session schemathesis makes is one we issued, and a broken body is refused --
and change nothing in ConversationsTable (links, counters, answers; only the audit trail records tries).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow
SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text("utf-8"))
# The sandbox's API Gateway requires a SigV4 Authorization header on IAM routes, as the real one does.
SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=fuzz/20261201/us-east-1/execute-api/aws4_request"}
OPERATIONS = [result.ok() for result in schemathesis.openapi.from_dict(SPEC).get_all_operations()]


@pytest.fixture(scope="module")
def sandbox():
    from infra.local.sandbox import Sandbox

    with Sandbox(seed_staff=True) as running:
        yield running


@pytest.fixture(scope="module")
def staff_token(sandbox) -> dict[str, str]:
    """An admin's access token from the sandbox's Cognito pool: the inbox routes' requests carry it, so
    they reach the function (an admin may call every inbox route)."""
    _groups, password = sandbox.seeded_staff["ada.admin"]
    return {"Authorization": "Bearer " + sandbox.staff_tokens("ada.admin", password)["AccessToken"]}


def test_the_description_covers_every_route() -> None:
    assert len(OPERATIONS) == sum(
        1 for item in SPEC["paths"].values() for method in item if method in {"get", "put", "post"}
    )


def _describes_input(operation) -> bool:
    """Whether the description gives the operation an input negative mode can break: parameters, a body or
    a security scheme (a broken Authorization header). The patient page's GET routes (the page, its
    script and stylesheet) take none: the link's token is in the URL fragment, which no request carries,
    so hypothesis could make no broken request for them. Its two forms describe their bodies and are
    fuzzed both ways."""
    item = SPEC["paths"][operation.path]
    described = item[operation.method.lower()]
    return any(
        (item.get("parameters"), *(described.get(key) for key in ("parameters", "requestBody", "security")))
    )


CASES = [
    pytest.param(operation, mode, id=f"{operation.method.upper()} {operation.path}-{mode.value}")
    for operation in OPERATIONS
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    if mode is schemathesis.GenerationMode.POSITIVE or _describes_input(operation)
]


def test_only_the_patient_pages_get_routes_have_no_broken_requests_to_send() -> None:
    negative = {
        case.values[0].label for case in CASES if case.values[1] is schemathesis.GenerationMode.NEGATIVE
    }
    positive_only = sorted(op.label for op in OPERATIONS if op.label not in negative)
    assert positive_only == ["GET /s", "GET /s/page.css", "GET /s/page.js"], positive_only
    assert {"POST /s", "POST /s/answer"} <= negative


def _conversations(sandbox) -> list[dict]:
    items = sandbox.stack.table("ConversationsTable").scan(ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (str(item["pk"]), str(item["sk"])))


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_no_request_from_the_api_description_gets_a_server_error(
    sandbox, staff_token, operation, mode
) -> None:
    headers = staff_token if operation.path.startswith("/inbox/") else SIGNED
    patient_form = operation.method.upper() == "POST" and operation.path in {"/s", "/s/answer"}

    @settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        before = _conversations(sandbox) if patient_form else None
        response = case.call(base_url=sandbox.api_url, headers=headers)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code} {response.text[:300]}; "
            f"body={case.body!r:.300} media_type={case.media_type} headers={case.headers}"
        )
        if operation.path == "/webhooks/twilio":
            assert response.status_code == 403, response.text
        if patient_form:
            assert 400 <= response.status_code < 500, (response.status_code, case.body)
            assert response.headers["content-type"][0].startswith("text/html"), response.headers
            assert "<h1>" in response.text and _conversations(sandbox) == before
        if operation.path.startswith("/inbox/") and mode is schemathesis.GenerationMode.POSITIVE:
            assert response.status_code != 401, response.text  # the token was accepted (negative mode
            # also breaks the Authorization header, and those requests are rightly 401)

    check()
