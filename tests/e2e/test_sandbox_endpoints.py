"""The sandbox's own endpoints and its local API Gateway: /_sandbox/text answers with what the patient gets
and refuses bad requests with a 4xx naming the field, no connection is waited on forever (a short body is
a 408 and others are served meanwhile), and every record takes its time from one clock.
(``clinictext text`` and the README's commands: tests/unit/test_cli_text.py.)"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

# A refused fan-out run adds no metric; Powertools warns about that, which is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

READ_TIMEOUT = 1.5  # the sandbox's per-request read deadline in these tests (default 10 s)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from infra.local.sandbox import Sandbox

    with Sandbox(read_timeout=READ_TIMEOUT) as running:
        yield running


def post(url: str, body: bytes, content_type: str = "application/json", **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(  # the local sandbox
        url, data=body, method="POST", headers={"Content-Type": content_type, **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def thread_of(sandbox: Any, phone: str) -> list[dict[str, Any]]:
    """The number's messages, newest first, as staff tools read them (POST /messages/lookup)."""
    status, answer = post(
        f"{sandbox.api_url}/messages/lookup",
        json.dumps({"phone": phone, "limit": 50}).encode(),
        Authorization="AWS4-HMAC-SHA256 sandbox-test",
    )
    assert status == 200, answer
    return list(answer["messages"])


# -- /_sandbox/text ----------------------------------------------------------------------------------------
def test_text_endpoint_answers_with_what_the_patient_gets(sandbox: Any) -> None:
    url = f"{sandbox.api_url}/_sandbox/text"
    status, answer = post(url, json.dumps({"from": "+12065550180", "body": "STOP"}).encode())
    assert status == 200 and answer["accepted"] and answer["kind"] == "opt_out"
    assert len(answer["replies"]) == 1 and "unsubscribed" in answer["replies"][0]
    body = json.dumps({"from": "+12065550180", "body": "HELP", "channel": "twilio"}).encode()
    status, answer = post(url, body)
    assert status == 200 and answer["accepted"] and "Reply STOP" in answer["replies"][0]

    before = len(sandbox.outbox())
    status, answer = post(url, json.dumps({"from": "+1206555", "body": "STOP"}).encode())
    assert status == 422 and not answer["accepted"] and "E.164" in answer["reason"]
    assert answer["replies"] == [] and len(sandbox.outbox()) == before


# -- /_sandbox/* request validation -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b"not json", "application/json", 400, "body"),
        (b"", "application/json", 400, "body"),
        (b'["+12065550185", "HELP"]', "application/json", 400, "body"),
        (b'{"from": 12065550185, "body": "HELP"}', "application/json", 400, "from"),
        (b'{"from": "+12065550185", "body": true}', "application/json", 400, "body"),
        (b'{"from": "+12065550185"}', "application/json", 400, "body"),
        (b'{"from": "+12065550185", "body": "HELP", "as": "x"}', "application/json", 400, "as"),
        (b'{"from": "+12065550185", "body": "HELP", "channel": "fax"}', "application/json", 400, "channel"),
        (b'{"from": "+1", "from": "+12065550185", "body": "HELP"}', "application/json", 400, "from"),
        (b'{"from": "+12065550185", "body": NaN}', "application/json", 400, "body"),
        (b"[" * 990 + b"]" * 990, "application/json", 400, "body"),
        (b'{"from": ' + b"1" * 4301 + b', "body": "HELP"}', "application/json", 400, "body"),
        (b'{"from": "+12065550185", "body": "\xff"}', "application/json", 400, "body"),
        (b'{"from": "+12065550185", "body": "HELP"}', "text/plain", 415, "content-type"),
        (b"from=%2B12065550185&body=HELP", "application/x-www-form-urlencoded", 415, "content-type"),
    ],
)
def test_text_endpoint_refuses_a_bad_request_with_a_4xx_naming_the_field(
    sandbox: Any, body: bytes, content_type: str, status: int, field: str
) -> None:
    before = len(sandbox.outbox())
    answer_status, answer = post(f"{sandbox.api_url}/_sandbox/text", body, content_type)
    assert (answer_status, answer.get("field")) == (status, field), answer
    assert answer["message"] and "+12065550185" not in answer["message"]
    assert len(sandbox.outbox()) == before


def test_media_types_are_matched_case_insensitively(sandbox: Any) -> None:
    body = json.dumps({"from": "+12065550186", "body": "HELP"}).encode()
    status, answer = post(f"{sandbox.api_url}/_sandbox/text", body, "Application/JSON; charset=UTF-8")
    assert status == 200 and answer["accepted"] and answer["kind"] == "help"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"at": 1764000000}', 400, "at must be a JSON string"),
        (b'{"at": "2030-01-01T09:00"}', 400, "at needs a UTC offset"),
        (b'{"at": "tomorrow"}', 400, "at is not an ISO 8601 date-time"),
        (b'{"at": "0001-01-01T00:00:00Z"}', 400, "at is outside the accepted range"),
        (b'{"when": "2030-01-01T09:00:00Z"}', 400, "unknown field(s): when"),
        (b"{", 400, "not valid JSON"),
    ],
)
def test_run_reminders_endpoint_refuses_bad_requests(
    sandbox: Any, body: bytes, status: int, says: str
) -> None:
    answer_status, answer = post(f"{sandbox.api_url}/_sandbox/run-reminders", body)
    assert answer_status == status and says in answer["message"], answer


# -- the local API Gateway's connection handling --------------------------------------------------------
def raw_request(api_url: str, head: bytes, body: bytes = b"", *, wait: float = 30.0) -> tuple[int, float]:
    """Send exactly ``head`` + ``body``, keep the connection open, and return (status, seconds)."""
    host, port = urlsplit(api_url).hostname, urlsplit(api_url).port
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=wait) as connection:
        connection.sendall(head + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), time.monotonic() - started


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_sandbox/text"),
        ("POST", "/_sandbox/run-reminders"),
        ("POST", "/consent"),
        ("POST", "/consent/lookup"),
        ("POST", "/messages/lookup"),
        ("POST", "/templates/check"),
        ("PUT", "/templates/reminder"),
        ("POST", "/appointments"),
        ("POST", "/webhooks/twilio"),
    ],
)
def test_a_body_shorter_than_its_content_length_is_answered_408_while_others_are_served(
    sandbox: Any, method: str, path: str
) -> None:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Authorization: AWS4-HMAC-SHA256 sandbox-test\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    result: dict[str, tuple[int, float]] = {}
    stalled = threading.Thread(target=lambda: result.update(short=raw_request(sandbox.api_url, head, b"{}")))
    stalled.start()
    time.sleep(0.2)
    # The stalled connection holds no lock: another request is answered before its deadline passes.
    with urllib.request.urlopen(f"{sandbox.api_url}/_sandbox/outbox", timeout=READ_TIMEOUT) as response:
        assert response.status == 200
    stalled.join(timeout=READ_TIMEOUT + 20)
    assert not stalled.is_alive(), "the server waited on the short body"
    status, seconds = result["short"]
    assert status == 408 and seconds < READ_TIMEOUT + 5


def test_a_trickled_body_is_cut_off_at_the_deadline_not_per_byte(sandbox: Any) -> None:
    host, port = urlsplit(sandbox.api_url).hostname, urlsplit(sandbox.api_url).port
    head = (
        b"POST /_sandbox/text HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 40\r\n\r\n"
    )
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(head)
        answer = b""
        connection.settimeout(0.3)
        for _ in range(40):  # one byte every 0.3 s would take 12 s
            try:
                connection.sendall(b" ")
                answer += connection.recv(4096)
            except (TimeoutError, OSError):
                pass
            if answer:
                break
    assert answer.startswith(b"HTTP/1.0 408") and time.monotonic() - started < READ_TIMEOUT + 3


@pytest.mark.parametrize(
    ("length", "status"),
    [("abc", 400), ("-5", 400), ("1e3", 400), (str(11 * 1024 * 1024), 413)],
)
def test_a_malformed_or_oversized_content_length_is_a_4xx(sandbox: Any, length: str, status: int) -> None:
    head = f"POST /consent HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
    assert raw_request(sandbox.api_url, head, b"{}")[0] == status


def test_a_chunked_body_is_read(sandbox: Any) -> None:
    body = json.dumps({"from": "+12065550187", "body": "HELP"}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = (
        b"POST /_sandbox/text HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    assert raw_request(sandbox.api_url, head, chunked)[0] == 200


def test_a_response_over_lambdas_6_mb_is_api_gateways_500(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": "x" * (6 * 1024 * 1024),
    }
    monkeypatch.setattr(sandbox, "invoke", lambda function, event: big)
    status, _, data = sandbox.handle_http(
        "POST", "/templates/check", {"authorization": "AWS4-HMAC-SHA256 x"}, b"{}"
    )
    assert status == 500 and data == b'{"message":"Internal Server Error"}'


# -- one clock -------------------------------------------------------------------------------------------
def test_a_reply_to_a_reminder_is_threaded_after_it_on_the_sandbox_clock(sandbox: Any) -> None:
    """The story runs days ahead of the machine (a scheduled run moves the sandbox clock on). The
    reminder, the patient's answer and the clinic's reply must read in the order they happened: before
    the fix the answer carried SNS's wall-clock timestamp and sorted before the reminder it answers."""
    phone = "+12065550188"
    start = (datetime.now(UTC) + timedelta(days=6)).replace(hour=17, minute=30, second=0, microsecond=0)
    csv = (
        "appointment_id,start,patient_id,mobile_phone,first_name,time_zone\n"
        f"clock-1,{start.isoformat()},P-clock,{phone},Rosa,America/Los_Angeles\n"
    )
    assert sandbox.import_csv(csv)["accepted"] == 1
    run_at = start - timedelta(days=2) + timedelta(minutes=5)
    assert sandbox.run_schedule(run_at)["queued"] == 1
    assert sandbox.clock.now() >= run_at > datetime.now(UTC) + timedelta(days=3)

    outcome = sandbox.text(phone, "C")
    assert outcome["accepted"] and outcome["kind"] == "confirm" and outcome["replies"]

    newest_first = thread_of(sandbox, phone)
    assert [(m["direction"], m["kind"]) for m in newest_first] == [
        ("outbound", "reply_confirm"),
        ("inbound", "confirm"),
        ("outbound", "reminder"),
    ]
    times = [m["created_at"] for m in reversed(newest_first)]
    assert times == sorted(times)
    story_time = run_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert times[1] >= story_time  # the answer is dated on the story's clock, not the machine's


def test_a_twilio_text_is_dated_on_the_sandbox_clock(sandbox: Any) -> None:
    sandbox.run_schedule(datetime.now(UTC) + timedelta(days=9))  # moves the story on, past the last test
    ahead = sandbox.clock.now() - timedelta(seconds=1)
    assert sandbox.text("+12065550189", "HELP", channel="twilio")["replies"]
    inbound, reply = thread_of(sandbox, "+12065550189")[::-1]
    assert inbound["direction"] == "inbound" and reply["kind"] == "reply_help"
    assert (
        inbound["created_at"] >= ahead.strftime("%Y-%m-%dT%H:%M:%S")
        and reply["created_at"] >= inbound["created_at"]
    )


def test_sandbox_clock_maps_wall_time_onto_the_story() -> None:
    from infra.local.sandbox import SandboxClock

    clock = SandboxClock()
    wall = datetime.now(UTC)
    assert abs(clock.story_time(wall) - wall) < timedelta(seconds=1)
    clock.advance_to(wall + timedelta(days=2))
    assert clock.story_time(wall) - wall >= timedelta(days=2) - timedelta(seconds=1)
    clock.advance_to(wall)  # never back
    assert clock.now() >= wall + timedelta(days=2) - timedelta(seconds=1)


def test_the_sandboxs_transactions_back_up_items_not_whole_tables(sandbox: Any, monkeypatch) -> None:
    """moto copies every table a transaction touches before it runs, so a sandbox transaction got
    slower as its tables grew (a 500-entry bundle ran past its 20 s budget and was answered 503). The
    sandbox's moto runs in this process, with item-level backups (infra.local.moto_speed)."""
    import boto3
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    copied: list[str] = []
    real = models.copy.deepcopy

    def counting(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            copied.append(value.name)
        return real(value, memo)

    monkeypatch.setattr(models.copy, "deepcopy", counting)
    table = sandbox.stack.ref("RemindersTable")
    client = boto3.client("dynamodb", endpoint_url=sandbox.aws_endpoint, region_name="us-east-1")
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "sandbox-speed-check"}}}}]
    )
    client.delete_item(TableName=table, Key={"pk": {"S": "sandbox-speed-check"}})
    assert copied == []
