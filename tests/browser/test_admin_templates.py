"""The admin's reminder templates page in the browser: the staff token reaches /inbox/templates (StaffJwt,
admins only), the segment report is shown (with the UCS-2 culprit named), a save stores a version that Load
reads back; a nurse has no templates page and the route refuses her token."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import call, staff_token

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

WORDING = "{clinic_name}: reminder {when}. Reply C to confirm, R to reschedule, STOP to opt out"


def test_an_admin_checks_and_saves_a_reminder_template_with_its_segment_report(
    staff_page: Any, sandbox: Any
) -> None:
    page = staff_page("ada.admin")
    page.get_by_role("link", name="Templates", exact=True).click()
    expect(page.get_by_role("heading", name="Reminder templates")).to_be_visible()
    page.get_by_label("Template name").fill("reminder")
    page.get_by_label("Body").fill(WORDING + " – thanks")  # an en dash: UCS-2 as written
    page.get_by_role("button", name="Check segments").click()
    report = page.get_by_role("status", name="Segment report")
    expect(report).to_contain_text("As written: UCS-2")
    expect(report).to_contain_text("UCS-2 because of U+2013")
    expect(report).to_contain_text("Normalized: GSM-7")  # the dash becomes "-" when saved
    page.get_by_label("Body").fill(WORDING)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as a new version.")).to_be_visible()
    expect(report).to_contain_text("As written: GSM-7, 1 segment(s)")
    page.get_by_label("Body").fill("")
    page.get_by_role("button", name="Load").click()
    expect(page.get_by_label("Body")).to_have_value(WORDING)
    status, stored = call(
        f"{sandbox.api_url}/inbox/templates/reminder", token=staff_token(sandbox, "ada.admin")
    )
    assert status == 200 and stored["template"]["body"] == WORDING, stored


def test_a_nurse_has_no_templates_page_and_the_route_refuses_her(staff_page: Any, sandbox: Any) -> None:
    page = staff_page("nina.nurse")
    expect(page.get_by_role("link", name="Templates", exact=True)).to_have_count(0)
    status, answer = call(
        f"{sandbox.api_url}/inbox/templates/check",
        {"body": WORDING},
        token=staff_token(sandbox, "nina.nurse"),
    )
    assert status == 403, answer
