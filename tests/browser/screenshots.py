"""README screenshots of the staff web app, taken in headless Chromium against a fresh sandbox:
``make screenshots`` (``python -m tests.browser.screenshots [OUT_DIR]``) writes docs/screenshots/*.png.

Each shot is a function in :data:`SHOTS` that gets a signed-in page and the sandbox and leaves the page as
it should be pictured; another page (the patient's secure-message page) is one more entry."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    ZONE,
    Patient,
    _set_up_clinic,
    call,
    newest_conversation,
    sign_in,
)

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1200, "height": 760}


def _clinic_day(sandbox: Any) -> None:
    """A few conversations: a refill and an incision question for nursing, a bill, an urgent text."""
    texts = [
        ("+12065550131", "Hi, can I get a refill of my lisinopril?"),
        ("+12065550132", "Question about my bill from March"),
        ("+12065550133", "My incision is a little red, is that normal?"),
        ("+12065550134", "I took too many pills and feel dizzy"),
    ]
    for number, body in texts:
        patient = Patient(sandbox, number)
        patient.consents()
        patient.texts(body)
    later = (sandbox.clock.now() + timedelta(minutes=3)).isoformat()
    status, _ = call(f"{sandbox.api_url}/_sandbox/run-inbox-sweep", {"at": later})
    assert status == 200
    Patient(sandbox, "+12065550135").texts("Can I move my refill pickup to Friday?")


def inbox(page: Any, sandbox: Any) -> None:
    page.locator("ul.items > li").nth(3).wait_for()


def thread(page: Any, sandbox: Any) -> None:
    page.goto(f"{sandbox.web_url}#/c/{newest_conversation(sandbox, 'nina.nurse')['id']}")
    page.get_by_label("Canned response").select_option(label="Refill received")
    page.get_by_test_id("segment-counter").wait_for()


def secure_message(page: Any, sandbox: Any) -> Any:
    """A nurse sends a secure message; the patient's page on a 360 px phone, asking for the date of birth."""
    import time

    from tests.browser.test_secure_message import LINK, on_file

    patient = Patient(sandbox, "+12065550136")
    on_file(sandbox, patient.number, "1980-02-29")
    patient.consents()
    patient.texts("Are my refill lab results in?")  # "refill" routes it to nursing
    page.goto(f"{sandbox.web_url}#/c/{newest_conversation(sandbox, 'nina.nurse')['id']}")
    page.get_by_label("Secure message (read after a date-of-birth check)").fill(
        "Your lab results are back: every value is in the normal range."
    )
    page.get_by_role("button", name="Send secure message").click()
    page.get_by_text("Secure message sent.").wait_for()
    deadline = time.monotonic() + 10
    links: list[str] = []
    while not links and time.monotonic() < deadline:
        links = [m.group(1) for t in patient.received() if (m := LINK.search(t))]
        time.sleep(0.25)
    if not links:
        raise RuntimeError("the secure message's text did not reach the sandbox outbox")
    phone = page.context.browser.new_context(
        viewport={"width": 360, "height": 640}, locale="en-US", timezone_id=ZONE
    ).new_page()
    phone.goto(links[-1])
    phone.get_by_role("button", name="Show my message").wait_for()
    return phone


# Each arrangement leaves the signed-in page as pictured, or returns another page to picture.
SHOTS: list[tuple[str, str, Callable[[Any, Any], Any]]] = [
    ("inbox.png", "ada.admin", inbox),
    ("thread.png", "nina.nurse", thread),
    ("secure-message.png", "nina.nurse", secure_message),
]


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    from infra.local.sandbox import Sandbox

    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    if not CHROMIUM.exists() or not (ROOT / "web" / "dist" / "index.html").is_file():
        print("needs Chromium and the built app: make chromium web", file=sys.stderr)
        return 2
    with Sandbox(seed_staff=True) as sandbox, sync_playwright() as playwright:
        _set_up_clinic(sandbox)
        _clinic_day(sandbox)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for name, username, arrange in SHOTS:
            context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id=ZONE)
            page = context.new_page()
            sign_in(page, sandbox, username)
            shot = arrange(page, sandbox) or page
            shot.wait_for_timeout(500)  # the poll that follows a change has painted
            shot.screenshot(path=str(out / name))
            print(f"wrote {out / name}", file=sys.stderr)  # stdout is the sandbox's function log
            context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
