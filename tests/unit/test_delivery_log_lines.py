"""Issue 10 §6 at the delivery-status entry point: SNS delivery log lines go through the same JSON parser as
every HTTP body (a deep or huge-number line raised RecursionError / ValueError and failed the whole batch),
and the carrier's reason, shown to staff and printed by the CLI, holds no control characters."""

from __future__ import annotations

import json

import pytest

from shared.core.errors import InvalidInput
from shared.delivery.domain import MAX_LOG_LINE, SnsDeliveryLog


def line(provider_response: str = "Message has been accepted by phone carrier", **extra: object) -> str:
    return json.dumps(
        {
            "notification": {"messageId": "m-1", "timestamp": "2026-11-23 17:04:05.123"},
            "delivery": {"destination": "+12065550187", "providerResponse": provider_response, **extra},
            "status": "FAILURE",
        }
    )


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        '{"a":' * 990 + "1" + "}" * 990,
        line()[:-1] + ', "x": ' + "9" * 4301 + "}",
        line()[:-1] + ', "status": "SUCCESS"}',  # a duplicate key: which status would count?
        line(numberOfMessageParts=float("nan")),  # NaN is not JSON
    ],
)
def test_hostile_log_lines_are_refused_as_invalid_input(text):
    assert len(text) <= MAX_LOG_LINE * 2
    with pytest.raises(InvalidInput) as caught:
        SnsDeliveryLog.parse(text)
    assert caught.value.field == "message"
    assert "delivery log line" in caught.value.message


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-12:00", "1899-12-31 23:59:59.000"]
)
def test_a_timestamp_outside_the_window_is_refused_naming_it(timestamp):
    # astimezone overflowed at the edges (an OverflowError failed the whole batch), and 1899 was stored.
    with pytest.raises(InvalidInput) as caught:
        SnsDeliveryLog.parse(line().replace("2026-11-23 17:04:05.123", timestamp))
    assert caught.value.field == "notification.timestamp"


def test_the_reason_holds_no_control_characters_and_no_number():
    log = SnsDeliveryLog.parse(line("Unreachable\x1b[2J\x07 +1 206 555 0187\r\nretry\u202e later"))
    assert log.reason == "Unreachable [2J [number] retry later"
