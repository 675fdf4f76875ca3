"""The sandbox brings the staff inbox up from template.yaml: an urgent text pages OnCallTopic (no PHI),
and /_sandbox/run-inbox-sweep fires InboxSweepSchedule, which re-escalates it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from infra.local.sandbox import Sandbox
    from shared.outbound import store

    saved = store.LATE_TOLERANCE
    # moto on a shared machine is slower per write than DynamoDB; pacing has its own tests.
    store.LATE_TOLERANCE = 5.0
    try:
        with Sandbox() as running:
            yield running
    finally:
        store.LATE_TOLERANCE = saved


def call(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # the local sandbox
        url,
        data=data,
        method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_an_urgent_text_pages_on_call_and_the_sweep_re_escalates_it(sandbox: Any) -> None:
    status, answer = call(
        f"{sandbox.api_url}/_sandbox/text", {"from": "+12065550181", "body": "I took too many pills"}
    )
    assert status == 200, answer
    assert any("911" in reply for reply in answer["replies"])
    status, pages = call(f"{sandbox.api_url}/_sandbox/on-call")
    assert status == 200 and len(pages) == 1
    [page] = pages
    assert page["department"] == "front-desk" and page["category"] == "overdose"
    assert "pills" not in json.dumps(page) and "5550181" not in json.dumps(page)
    later = (sandbox.clock.now() + timedelta(minutes=11)).isoformat()
    status, result = call(f"{sandbox.api_url}/_sandbox/run-inbox-sweep", {"at": later})
    assert status == 200 and result["escalated"] == 1, result
    assert len(call(f"{sandbox.api_url}/_sandbox/on-call")[1]) == 2
    status, refused = call(f"{sandbox.api_url}/_sandbox/run-inbox-sweep", {"at": "yesterday"})
    assert status == 400 and refused
