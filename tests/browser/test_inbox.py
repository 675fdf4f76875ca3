"""A staff member's day in the web app, in headless Chromium against the sandbox: a patient's text appears in
the list without a reload, a nurse answers it with a canned response (and the patient's phone gets it),
front desk assigns a conversation to nursing, a nurse closes one, billing cannot open a nursing thread,
urgent and overdue are flagged, the keyboard shortcuts move and act, an idle session signs itself out,
and a nurse downloads a conversation's transcript (recorded as an export).

Every department is staffed around the clock in this sandbox (conftest), so nothing depends on the hour."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import NURSING_CANNED, call, newest_conversation, staff_token

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

POLL = 10_000  # ms: the app polls every 3 s (config.json pollSeconds); leave room on a loaded machine


def items(page: Any) -> Any:
    return page.locator("ul.items > li")


def open_newest(page: Any, sandbox: Any, username: str) -> str:
    """Click the first conversation of the list (newest first), checking it is the newest one."""
    newest = newest_conversation(sandbox, username)["id"]
    expect(items(page).first).to_be_visible(timeout=POLL)
    items(page).first.get_by_role("button").click()
    expect(page).to_have_url(f"{sandbox.web_url}#/c/{newest}")
    expect(page.get_by_role("heading", level=2).filter(has_text="Patient")).to_be_visible()
    return str(newest)


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def test_a_text_through_the_inbound_webhook_appears_without_a_reload(staff_page: Any, patient: Any) -> None:
    page = staff_page("nina.nurse")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    before = items(page).count()
    # The Twilio webhook (a signed POST to /webhooks/twilio); "refill" routes it to nursing.
    patient.texts("Hi, can I get a refill of my blood pressure pills?", channel="twilio")
    expect(items(page)).to_have_count(before + 1, timeout=POLL)
    first = items(page).first
    expect(first.locator(".badge.unread")).to_have_text("Unread")
    expect(first).to_contain_text("nursing · unassigned")
    assert page.evaluate("window.__sameDocument === true")


def test_a_nurse_answers_with_a_canned_response_and_the_patient_receives_it(
    staff_page: Any, patient: Any, sandbox: Any
) -> None:
    patient.consents()  # a patient the clinic may text (their number is on record)
    patient.texts("I need a refill of my inhaler please")
    page = staff_page("nina.nurse")
    cid = open_newest(page, sandbox, "nina.nurse")
    page.get_by_label("Canned response").select_option(label="Refill received")
    expect(page.get_by_label("Reply", exact=True)).to_have_value(NURSING_CANNED)
    expect(page.get_by_test_id("segment-counter")).to_contain_text("GSM-7 · 1 segment")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_label("Reply", exact=True)).to_have_value("")  # sent: the composer is cleared
    received = wait_for(lambda: [t for t in patient.received() if NURSING_CANNED in t])
    assert received, patient.received()
    # The thread shows both: the patient's text, and the reply with who sent it and its delivery status.
    texts = page.get_by_role("list", name="Messages").get_by_role("listitem")
    asked = texts.filter(has_text="I need a refill of my inhaler please")
    expect(asked.locator(".who")).to_have_text("Patient", timeout=POLL)
    answered = texts.filter(has_text=NURSING_CANNED)
    expect(answered.locator(".who")).to_have_text("Staff: nina.nurse", timeout=POLL)
    expect(answered.locator(".delivery")).to_be_visible()
    # The intake form's opt-in is the consent the thread shows (it said "unknown" whatever the ledger held).
    expect(page.locator(".thread header .meta strong")).to_have_text("opted_in")
    # The reply is the conversation's first response: it is no longer unread or awaiting in the list.
    status, shown = call(
        f"{sandbox.api_url}/inbox/conversations/{cid}",
        token=staff_token(sandbox, "nina.nurse"),
    )
    assert status == 200 and shown["conversation"]["staff_replies"] == 1, shown


def test_front_desk_assigns_a_conversation_to_nursing(staff_page: Any, patient: Any, sandbox: Any) -> None:
    patient.texts("Hello, a question about my appointment next week")  # no keyword: front desk
    desk = staff_page("frank.frontdesk")
    cid = open_newest(desk, sandbox, "frank.frontdesk")
    desk.get_by_label("Assign to (a username, “me”, or a department)").fill("nursing")
    desk.get_by_role("button", name="Assign", exact=True).click()
    # Front desk no longer sees it: the thread answers as not found and the list drops it.
    expect(desk.get_by_text("does not exist or is not in your departments")).to_be_visible()
    expect(desk.locator("ul.items button[aria-current='true']")).to_have_count(0)
    nurse = staff_page("nina.nurse")
    nurse.goto(f"{sandbox.web_url}#/c/{cid}")
    expect(nurse.locator(".thread .meta").first).to_contain_text("nursing · open")


def test_a_nurse_closes_a_conversation(staff_page: Any, patient: Any, sandbox: Any) -> None:
    patient.texts("My incision looks fine now, thank you")
    page = staff_page("nina.nurse")
    open_newest(page, sandbox, "nina.nurse")
    page.get_by_role("button", name="Close (e)").click()
    expect(page.locator(".thread .meta").first).to_contain_text("nursing · closed")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    # The list shows open conversations by default: the closed one leaves it.
    page.get_by_label("Status").select_option("closed")
    expect(items(page).first.locator(".badge").filter(has_text="Closed")).to_be_visible(timeout=POLL)


def test_billing_cannot_open_a_nursing_thread(staff_page: Any, patient: Any, sandbox: Any) -> None:
    patient.texts("Is my refill ready?")
    nursing = newest_conversation(sandbox, "nina.nurse")
    assert nursing["department"] == "nursing"
    page = staff_page("bill.billing")
    page.goto(f"{sandbox.web_url}#/c/{nursing['id']}")
    expect(
        page.get_by_text("That conversation does not exist or is not in your departments.")
    ).to_be_visible()
    expect(page.get_by_role("form", name="Reply to the patient")).to_have_count(0)
    # And it is not in billing's list either.
    assert all(item["id"] != nursing["id"] for item in _list(sandbox, "bill.billing"))


def _list(sandbox: Any, username: str) -> list[dict[str, Any]]:
    status, page = call(f"{sandbox.api_url}/inbox/conversations", token=staff_token(sandbox, username))
    assert status == 200, page
    return list(page["conversations"])


def test_urgent_and_overdue_are_flagged_in_the_list_and_the_thread(
    staff_page: Any, patient: Any, sandbox: Any
) -> None:
    patient.texts("I took too many pills and feel dizzy")  # triage: urgent (front desk, on call paged)
    page = staff_page("frank.frontdesk")
    first = items(page).first
    expect(first.locator(".badge.urgent")).to_have_text("Urgent", timeout=POLL)
    expect(first.locator(".badge.overdue")).to_have_count(0)
    # Nobody answers: the sweep three minutes on (the target is 1 business minute here) flags it overdue.
    later = (sandbox.clock.now() + timedelta(minutes=3)).isoformat()
    status, result = call(f"{sandbox.api_url}/_sandbox/run-inbox-sweep", {"at": later})
    assert status == 200 and result["overdue_flagged"] >= 1, result
    expect(first.locator(".badge.overdue")).to_have_text("Overdue", timeout=POLL)
    page.get_by_label("Overdue").check()
    expect(first.locator(".badge.urgent")).to_be_visible(timeout=POLL)
    first.get_by_role("button").click()
    header = page.locator(".thread header .meta")
    expect(header.locator(".badge.urgent")).to_be_visible()
    expect(header.locator(".badge.overdue")).to_be_visible()


def test_keyboard_shortcuts_move_reply_help_and_close(staff_page: Any, patients: Any, sandbox: Any) -> None:
    patients().texts("Refill question one")
    patients().texts("Refill question two")
    page = staff_page("nina.nurse")
    expect(items(page).nth(1)).to_be_visible(timeout=POLL)
    ids = [c["id"] for c in _list(sandbox, "nina.nurse")]
    page.keyboard.press("j")
    expect(page).to_have_url(f"{sandbox.web_url}#/c/{ids[0]}")
    page.keyboard.press("j")
    expect(page).to_have_url(f"{sandbox.web_url}#/c/{ids[1]}")
    page.keyboard.press("k")
    expect(page).to_have_url(f"{sandbox.web_url}#/c/{ids[0]}")
    expect(page.get_by_role("button", name="Close (e)")).to_be_visible()
    page.keyboard.press("r")
    expect(page.get_by_label("Reply", exact=True)).to_be_focused()
    page.keyboard.type("j k e")  # typed into the composer: no shortcut fires while typing
    expect(page).to_have_url(f"{sandbox.web_url}#/c/{ids[0]}")
    expect(page.get_by_label("Reply", exact=True)).to_have_value("j k e")
    page.get_by_label("Reply", exact=True).blur()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    page.keyboard.press("a")
    expect(page.get_by_label("Assign to (a username, “me”, or a department)")).to_be_focused()
    page.get_by_label("Assign to (a username, “me”, or a department)").blur()
    page.keyboard.press("e")
    expect(page.locator(".thread .meta").first).to_contain_text("nursing · closed")


def test_an_idle_session_signs_itself_out(staff_page: Any, sandbox: Any) -> None:
    # The configured idle time, made short for the test: 0.05 minutes (3 s) in this page's config.json.
    page = staff_page("frank.frontdesk", config={"idleMinutes": 0.05})
    expect(page.get_by_role("status")).to_have_text("Signed out after 0.05 idle minutes.", timeout=POLL)
    expect(page.get_by_label("Username")).to_be_visible()
    page.reload()  # the session is gone, not just hidden
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_role("heading", name="Conversations")).to_have_count(0)


def test_a_nurse_exports_the_transcript_and_the_export_is_recorded(
    staff_page: Any, patient: Any, sandbox: Any
) -> None:
    patient.texts("Could you send my refill to the other pharmacy?")
    page = staff_page("nina.nurse")
    cid = open_newest(page, sandbox, "nina.nurse")
    with page.expect_download() as started:
        page.get_by_role("button", name="Export transcript").click()
    download = started.value
    assert download.suggested_filename == f"conversation-{cid}.txt"
    saved = download.path()
    assert saved is not None
    transcript = saved.read_text(encoding="utf-8")
    assert f"Conversation: {cid}" in transcript
    assert "Could you send my refill to the other pharmacy?" in transcript
    expect(page.get_by_role("status").filter(has_text="Transcript saved")).to_be_visible()
    status, trail = call(
        f"{sandbox.api_url}/inbox/audit?conversation_id={cid}", token=staff_token(sandbox, "ada.admin")
    )
    assert status == 200, trail
    assert [r["detail"]["format"] for r in trail["records"] if r["action"] == "export"] == ["text"]
