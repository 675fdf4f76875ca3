"""Issue 5: schemathesis generates requests from docs/openapi.yaml, both valid ones and, in its negative
mode, ones that break the description (wrong types, missing fields, values outside the schema), and they
are sent to the sandbox's HTTP API: the template's functions behind a local API Gateway. No request may
get a 5xx, and the Twilio webhook's requests, none signed with the account's token, are all refused 403.
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
    a security scheme (a broken Authorization header). The patient page's routes describe none."""
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


def test_only_the_patient_page_has_no_broken_requests_to_send() -> None:
    negative = {
        case.values[0].label for case in CASES if case.values[1] is schemathesis.GenerationMode.NEGATIVE
    }
    positive_only = sorted(op.label for op in OPERATIONS if op.label not in negative)
    assert positive_only and all(label.split(" ", 1)[1].startswith("/s") for label in positive_only), (
        positive_only
    )


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_no_request_from_the_api_description_gets_a_server_error(
    sandbox, staff_token, operation, mode
) -> None:
    headers = staff_token if operation.path.startswith("/inbox/") else SIGNED

    @settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        response = case.call(base_url=sandbox.api_url, headers=headers)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code} {response.text[:300]}; "
            f"body={case.body!r:.300} media_type={case.media_type} headers={case.headers}"
        )
        if operation.path == "/webhooks/twilio":
            assert response.status_code == 403, response.text
        if operation.path.startswith("/inbox/") and mode is schemathesis.GenerationMode.POSITIVE:
            assert response.status_code != 401, response.text  # the token was accepted (negative mode
            # also breaks the Authorization header, and those requests are rightly 401)

    check()
