"""Shared fixtures: a moto-backed AWS with template.yaml's resources, and no real AWS ever."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# No test may reach real AWS: fake credentials and a fixed region before anything builds a client.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ClinicText",
        "POWERTOOLS_DEV": "false",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

TWILIO_TOKEN = "test-twilio-auth-token-0123456789ab"


@pytest.fixture(scope="session", autouse=True)
def _cheaper_moto_keys() -> Iterator[None]:
    """Every stack's KMS keys and Cognito pool skip moto's unused RSA work (infra.local.moto_speed):
    about a third of what provisioning a stack costs, and the suite provisions one per test. SQS
    receives check retention without rebuilding every queue attribute per message (quadratic in the
    queue: most of the 2,000-reminder fault suite's time). DynamoDB's item operations are answered with
    json.dumps instead of moto's shape walker (about 15% of that suite)."""
    from infra.local.moto_speed import json_dynamodb_responses, linear_sqs, reused_unused_key_material

    with reused_unused_key_material(), linear_sqs(), json_dynamodb_responses():
        yield


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

    from shared.runtime import wiring

    # moto intercepts clients created before the mock starts, so clients survive between tests
    # (creating them is most of a cold start); services bound to per-test key ARNs do not.
    wiring.reset(clients=False)
    with mock_aws():
        yield
    wiring.reset(clients=False)


@pytest.fixture
def stack(aws: None):  # type: ignore[no-untyped-def]
    """template.yaml provisioned into moto, with a Twilio token secret and the functions registered."""
    from infra.local.stack import Stack
    from shared.runtime import aws as clients

    # The container's cached client (inside this test's mock): a fresh boto3.client() per test cost more
    # than provisioning the stack, and more with every test (its default session kept growing).
    secret_arn = clients.client("secretsmanager").create_secret(
        Name="clinictext/twilio-auth-token", SecretString=TWILIO_TOKEN
    )["ARN"]
    # A fast send rate: pacing has its own tests, and the rest of the suite should not wait for slots.
    return Stack(
        parameters={"TwilioAuthTokenSecretArn": secret_arn, "SendRatePartsPerSecond": "1000"}
    ).provision()


# Figures a test reports with record_property("figures", ...) (the fault-injection suite), shown at the end
# of the run. user_properties travel from xdist workers to the controller, where this summary is printed.
_FIGURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _FIGURES.extend(str(value) for name, value in report.user_properties if name == "figures")


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    for figures in _FIGURES:
        terminalreporter.write_sep("-", "figures")
        terminalreporter.write_line(figures)


# Longest files first. `make test` runs `-n 2 --dist loadfile`, which hands out whole files in collection
# order: the fault-injection suite (about 4.5 min, one file) came last alphabetically, started mid-run and
# then ran alone while the other worker idled. Started first, the other worker takes the rest beside it.
_SLOW_FIRST = (
    "tests/fault/",
    "tests/e2e/test_demo.py",
    "tests/integration/test_hostile_input.py",
    "tests/integration/test_http_bodies.py",
    "tests/e2e/test_phi_leaks.py",
    "tests/integration/test_opt_out_never_lost.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for position, prefix in enumerate(_SLOW_FIRST):
            if item.nodeid.startswith(prefix):
                return position
        return len(_SLOW_FIRST)

    items.sort(key=rank)  # stable: the order inside each file, and of all other files, is kept
