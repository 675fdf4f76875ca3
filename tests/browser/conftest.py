"""The staff web app in a real browser: Debian's Chromium, headless, driven by Playwright's sync API, against
one sandbox per test file (template.yaml on moto, the built web app under /app/, moto's Cognito with the
seeded staff).

Fixtures other suites can use (tests/browser/test_*.py):

* ``sandbox``: the running :class:`infra.local.sandbox.Sandbox` (``sandbox.web_url``, ``sandbox.api_url``);
  every department is staffed around the clock (so nothing here depends on the hour the suite runs) and
  nursing and billing have routing keywords ("refill", "bill") and a canned response each.
* ``staff_page(username, width=None)``: a new browser context (its own storage, so its own session) with a
  page signed in as one of :data:`infra.local.sandbox.SEED_STAFF`, on the inbox; ``width`` 360 for a phone.
* ``patient``: a fresh patient number per test, and helpers to text the clinic and read what that number
  was sent (the sandbox outbox).
* ``browser_page``: a signed-out page (a new context), for pages a patient opens.

A failing test leaves a PNG of every page it opened under ``test-results/`` (the ``pytest_runtest_makereport``
hook below), named after the test.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CLINICTEXT_CHROMIUM", "/usr/bin/chromium"))
# What works on this machine's closed network (a fresh profile is Playwright's own: it passes a new
# --user-data-dir for every launch): no background connections Chromium would make at start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS = ROOT / "test-results"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ZONE = "America/Los_Angeles"
NURSING_CANNED = "Your refill request is with the nurse; we will text you when it is ready."
BILLING_CANNED = "Our billing team will call you back about your bill."
_numbers = itertools.count(10)


def call(
    url: str, body: Any = None, *, method: str | None = None, token: str | None = None
) -> tuple[int, Any]:
    """A JSON request to the local sandbox: (status, decoded answer)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # the local sandbox
        url, data=data, method=method or ("POST" if data is not None else "GET"), headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # nosec B310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _require_tools() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)", pytrace=False)
    if not (ROOT / "web" / "dist" / "index.html").is_file():
        pytest.fail("web/dist is not built: run `make web`", pytrace=False)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    # One per file, not per session: the sandbox's moto server shares moto's in-process backends with
    # every mock_aws() in this worker, and a test file run between two browser files (pytest-xdist
    # --dist loadfile hands files out in any order) resets them on leaving its mock: the sandbox's keys
    # and tables were gone (KMS NotFoundException in the next browser file).
    _require_tools()
    from infra.local.sandbox import Sandbox
    from shared.outbound import store

    saved = store.LATE_TOLERANCE
    store.LATE_TOLERANCE = 5.0  # moto on a shared machine is slower per write; pacing has its own tests
    try:
        with Sandbox(seed_staff=True) as running:
            _set_up_clinic(running)
            yield running
    finally:
        store.LATE_TOLERANCE = saved


def staff_token(sandbox: Any, username: str) -> str:
    _groups, password = sandbox.seeded_staff[username]
    return str(sandbox.staff_tokens(username, password)["AccessToken"])


def _set_up_clinic(sandbox: Any) -> None:
    """What an admin would set on the Departments and Canned responses pages, through the same API."""
    token = staff_token(sandbox, "ada.admin")
    routing = {"nursing": ["refill", "incision"], "billing": ["bill", "invoice"], "front-desk": []}
    for department, keywords in routing.items():
        settings = {"time_zone": ZONE, "hours": ALL_DAY, "keywords": keywords, "first_response_minutes": 1}
        status, answer = call(
            f"{sandbox.api_url}/inbox/departments/{department}", settings, method="PUT", token=token
        )
        assert status == 200, answer
    for department, name, body in (
        ("nursing", "Refill received", NURSING_CANNED),
        ("billing", "Billing call back", BILLING_CANNED),
    ):
        status, answer = call(
            f"{sandbox.api_url}/inbox/canned-responses",
            {"department": department, "name": name, "body": body},
            token=token,
        )
        assert status == 201, answer


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_tools()
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions: on a loaded shared machine (2 cores, several suites at once) a
    # poll, a sign-in or a function call through moto can take several seconds.
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class _Opened:
    pages: list[Any] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)


@pytest.fixture
def _opened(request: pytest.FixtureRequest) -> Iterator[_Opened]:
    opened = _Opened()
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        RESULTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        for index, page in enumerate(opened.pages):
            if not page.is_closed():
                try:
                    page.screenshot(path=str(RESULTS / f"{name}-{index}.png"), full_page=True)
                except Exception as exc:  # a crashed page: say so, keep the test's own failure
                    print(f"screenshot of page {index} failed: {exc}")
    for context in opened.contexts:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


def new_page(browser: Any, opened: _Opened, width: int | None = None) -> Any:
    viewport = PHONE if width == PHONE["width"] else {**DESKTOP, "width": width or DESKTOP["width"]}
    context = browser.new_context(viewport=viewport, locale="en-US", timezone_id=ZONE)
    context.set_default_timeout(15_000)
    opened.contexts.append(context)
    page = context.new_page()
    opened.pages.append(page)
    return page


@pytest.fixture
def browser_page(browser: Any, _opened: _Opened) -> Callable[..., Any]:
    """A signed-out page in a new context: ``browser_page(width=360)``."""
    return lambda width=None: new_page(browser, _opened, width)


def sign_in(page: Any, sandbox: Any, username: str) -> None:
    from playwright.sync_api import expect

    _groups, password = sandbox.seeded_staff[username]
    page.goto(sandbox.web_url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    # The list's first page has arrived (a count taken before it would be 0, whatever the inbox holds).
    expect(page.get_by_role("region", name="Conversations")).to_have_attribute("aria-busy", "false")


@pytest.fixture
def staff_page(sandbox: Any, browser: Any, _opened: _Opened) -> Callable[..., Any]:
    """``staff_page("nina.nurse", width=360)``: a page signed in as that seeded staff member."""

    def open_as(username: str, width: int | None = None, *, config: dict[str, Any] | None = None) -> Any:
        page = new_page(browser, _opened, width)
        if config:
            override_config(page, sandbox, config)
        sign_in(page, sandbox, username)
        return page

    return open_as


def override_config(page: Any, sandbox: Any, changes: dict[str, Any]) -> None:
    """Serve this page the sandbox's config.json with ``changes`` (a short idle logoff, say)."""
    _status, config = call(sandbox.web_url + "config.json")

    def fulfil(route: Any) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps({**config, **changes}))

    page.route("**/app/config.json", fulfil)


@dataclass
class Patient:
    """A patient number of this test's own, texting the clinic through the sandbox."""

    sandbox: Any
    number: str

    def texts(self, body: str, channel: str = "sms") -> dict[str, Any]:
        status, answer = call(
            f"{self.sandbox.api_url}/_sandbox/text", {"from": self.number, "body": body, "channel": channel}
        )
        assert status == 200, answer
        return dict(answer)

    def consents(self) -> None:
        """The clinic's intake form records this patient's opt-in (POST /consent, IAM-signed, as the demo
        does): the consent ledger then holds the number sealed, which a staff reply is sent to. A number
        that has only texted in has none, and a staff reply to it is refused (409 no_number)."""
        from infra.client import request

        status, body = request(
            "POST",
            f"{self.sandbox.api_url}/consent",
            {"phone": self.number, "source": "intake_form", "consented_at": "2026-11-23T09:30:00-08:00"},
            sign=True,
        )
        assert status == 201, body

    def received(self) -> list[str]:
        """What the clinic has sent this number so far (the sandbox outbox: SNS's SMS log)."""
        status, outbox = call(f"{self.sandbox.api_url}/_sandbox/outbox")
        assert status == 200, outbox
        return [sms["text"] for sms in outbox if sms["to"] == self.number]


@pytest.fixture
def patient(sandbox: Any) -> Patient:
    """A patient number of this test's own (+1 206 555-01xx, a fictional range)."""
    return Patient(sandbox, f"+1206555{next(_numbers) % 90 + 110:04d}")


@pytest.fixture
def patients(sandbox: Any) -> Callable[[], Patient]:
    """More patients in one test: ``patients()`` is a new number each call."""
    return lambda: Patient(sandbox, f"+1206555{next(_numbers) % 90 + 110:04d}")


def newest_conversation(sandbox: Any, username: str) -> dict[str, Any]:
    """The conversation with the latest activity among those ``username`` sees (the API's list)."""
    status, page = call(f"{sandbox.api_url}/inbox/conversations", token=staff_token(sandbox, username))
    assert status == 200 and page["conversations"], page
    return dict(max(page["conversations"], key=lambda c: c["last_activity_at"]))
