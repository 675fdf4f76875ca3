"""A secure message in a real browser (issue 13): a nurse sends one from the thread's composer; the patient
opens the link on a 360 px phone, fails the date of birth, passes it, reads the message and answers; the
nurse's thread shows it opened and answered, and the answer landed in the conversation."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, call, newest_conversation, staff_token

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SECRET = "Your lab results are back: every value is in the normal range."
LINK = re.compile(r"You have a secure message from .+: (http://\S+/s#[A-Za-z0-9_-]{43})$")


def on_file(sandbox: Any, number: str, born: str) -> None:
    """The EHR sends the patient with a date of birth (FHIR Patient.birthDate), as ingest keeps it."""
    from infra.client import request

    suffix = number[-4:]
    start = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": f"pat-secure-{suffix}",
                    "telecom": [{"system": "sms", "value": number}],
                    "birthDate": born,
                },
                "request": {"method": "PUT", "url": f"Patient/pat-secure-{suffix}"},
            },
            {
                "resource": {
                    "resourceType": "Appointment",
                    "id": f"appt-secure-{suffix}",
                    "status": "pending",
                    "start": start,
                    "participant": [
                        {"actor": {"reference": f"Patient/pat-secure-{suffix}"}, "status": "accepted"}
                    ],
                },
                "request": {"method": "PUT", "url": f"Appointment/appt-secure-{suffix}"},
            },
        ],
    }
    status, body = request("POST", f"{sandbox.api_url}/appointments", bundle, sign=True)
    assert status == 200, body


def test_a_nurse_sends_a_secure_message_and_the_patient_reads_and_answers_it_on_a_phone(
    staff_page: Any, browser_page: Any, patient: Any, sandbox: Any
) -> None:
    on_file(sandbox, patient.number, "1980-02-29")
    patient.consents()
    patient.texts("Hi, are my refill lab results in?")
    nurse = staff_page("nina.nurse")
    cid = newest_conversation(sandbox, "nina.nurse")["id"]
    nurse.goto(f"{sandbox.web_url}#/c/{cid}")
    nurse.get_by_label(re.compile("^Secure message")).fill(SECRET)
    nurse.get_by_role("button", name="Send secure message").click()
    expect(nurse.get_by_text("Secure message sent.")).to_be_visible()
    deadline = time.monotonic() + 10
    links: list[str] = []
    while not links and time.monotonic() < deadline:
        links = [m.group(1) for t in patient.received() if (m := LINK.search(t))]
        time.sleep(0.25)
    assert links, patient.received()
    assert SECRET not in " ".join(patient.received())

    phone = browser_page(width=360)
    phone.goto(links[-1])
    expect(phone.get_by_role("heading", level=1)).to_contain_text("secure message")
    assert "#" not in phone.url  # the script moved the token out of the address bar
    assert phone.evaluate("document.documentElement.scrollWidth <= 360")
    phone.get_by_label("Month").fill("03")
    phone.get_by_label("Day").fill("01")
    phone.get_by_label("Year").fill("1980")
    phone.get_by_role("button", name="Show my message").click()
    expect(phone.get_by_role("alert")).to_contain_text("does not match")
    expect(phone.get_by_role("alert")).to_contain_text("4 attempts left")
    phone.get_by_label("Month").fill("02")
    phone.get_by_label("Day").fill("29")
    phone.get_by_label("Year").fill("1980")
    phone.get_by_role("button", name="Show my message").click()
    expect(phone.get_by_text(SECRET)).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= 360")
    phone.get_by_label("Your answer").fill("Thank you, that is good news.")
    phone.get_by_role("button", name="Send answer").click()
    expect(phone.get_by_role("status")).to_contain_text("Your answer was sent")

    status, shown = call(
        f"{sandbox.api_url}/inbox/conversations/{cid}", token=staff_token(sandbox, "nina.nurse")
    )
    assert status == 200, shown
    [secure] = shown["conversation"]["secure_messages"]
    assert secure["opened_at"] and secure["answers"] == 1 and secure["failed_tries"] == 1
    # The answer is a patient message (a new version of the thread): the app's poll shows it, no reload
    # (a reload signs out: the session lives in memory only).
    expect(nurse.get_by_test_id("secure-message").locator(".badge")).to_have_text("Answered", timeout=20_000)


def test_a_phone_without_javascript_is_told_why_the_page_needs_it(
    browser: Any, sandbox: Any, _opened: Any
) -> None:
    """The token stays in the URL fragment, which only the page's script can move into the form: with
    JavaScript off the patient reads why and what to do (the noscript text), at 360 px."""
    context = browser.new_context(viewport=PHONE, locale="en-US", java_script_enabled=False)
    _opened.contexts.append(context)
    phone = context.new_page()
    _opened.pages.append(phone)
    phone.goto(f"{sandbox.api_url}/s#{'A' * 43}")
    expect(phone.get_by_role("heading", level=1)).to_contain_text("secure message")
    notice = phone.locator("#needs-script")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("This page needs JavaScript to open your message")
    expect(notice).to_contain_text("Turn on JavaScript")
    expect(phone.locator("#no-link")).to_be_hidden()  # the script's own notice never ran
    assert phone.evaluate("document.documentElement.scrollWidth <= 360")
