"""The blind index of a number is the key of its consent, messages and appointments: every function
that computes it must compute the same value, and the value must stay what was stored before (KMS
``GenerateMac`` of ``phone:<E.164>`` under the stack's HMAC key), or an opt-out recorded by one function
would not be found by another.

Each function runs here with its services built afresh (``wiring.reset``), as in its own container.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import boto3
import pytest

from shared.runtime import wiring
from tests.fixtures.fhir_samples import MAGGIE_MOBILE
from tests.integration.harness import all_items, text_via_sns
from tests.integration.test_consent_api import record
from tests.integration.test_reminders import (
    FIRST_RUN,
    SENDER_NOW,
    deliver,
    future_bundle,
    post_bundle,
    receive,
    scheduled_run,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, datetime]:
    from shared.core.clock import SystemClock

    now = {"at": SENDER_NOW}
    monkeypatch.setattr(SystemClock, "now", lambda self: now["at"])
    return now


def kms_blind_index(stack: Any, e164: str) -> str:
    """The stored scheme, computed straight from KMS: what every table is keyed by today."""
    mac = boto3.client("kms").generate_mac(
        KeyId=stack.arn("BlindIndexKey"), MacAlgorithm="HMAC_SHA_256", Message=b"phone:" + e164.encode()
    )["Mac"]
    return "ph_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def keys(stack: Any, logical: str, **where: str) -> set[str]:
    return {
        str(item["pk"])
        for table, item in all_items(stack)
        if table == logical and all(item.get(k) == v for k, v in where.items())
    }


def test_ingest_consent_api_sender_and_inbound_compute_one_blind_index(stack: Any, clock: Any) -> None:
    expected = kms_blind_index(stack, MAGGIE_MOBILE)

    wiring.reset(clients=False)
    status, _body = post_bundle(stack, future_bundle())  # ingest: AppointmentsApiFunction
    assert status == 200
    appointment_indexes = {
        str(item.get("phone_hmac")) for table, item in all_items(stack) if table == "AppointmentsTable"
    }
    assert expected in appointment_indexes

    wiring.reset(clients=False)
    status, body = record(stack, phone=MAGGIE_MOBILE)  # ConsentApiFunction
    assert status in (200, 201), body
    assert expected in keys(stack, "ConsentTable")

    wiring.reset(clients=False)
    clock["at"] = FIRST_RUN
    scheduled_run(stack, FIRST_RUN)
    deliver(stack, receive(stack))  # ReminderSenderFunction
    assert expected in keys(stack, "MessagesTable", direction="outbound")

    wiring.reset(clients=False)
    text_via_sns(stack, MAGGIE_MOBILE, "HELP")  # InboundSmsFunction
    assert expected in keys(stack, "MessagesTable", direction="inbound")
