"""Accessibility: axe-core (web/node_modules/axe-core, pinned in web/package.json) on every page of the staff
app, at desktop width and on a 360 px phone: no serious or critical violation, and no horizontal scroll
(the document is never wider than the viewport)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, newest_conversation

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A/AA rules and best practices).

    Injected through the DevTools protocol (page.evaluate), so the app's strict CSP stays in force."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(Path(AXE).read_text(encoding="utf-8"))
    return list(
        page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
            }))"""
        )
    )


def check_page(page: Any, name: str, problems: list[str]) -> None:
    for violation in axe_violations(page):
        if violation["impact"] in BLOCKING:
            problems.append(
                f"{name}: {violation['impact']} {violation['id']} ({violation['help']})"
                f" at {violation['nodes']}"
            )
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        problems.append(
            f"{name}: scrolls sideways (document {widths[0]} px wide in a {widths[1]} px viewport)"
        )


@pytest.fixture(scope="module", autouse=True)
def _axe_is_installed() -> None:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `make web/node_modules/.installed` (npm ci)", pytrace=False)


@pytest.mark.parametrize("width", [1280, 360], ids=["desktop", "phone-360"])
def test_every_page_has_no_serious_axe_violation_and_no_sideways_scroll(
    width: int, browser_page: Any, staff_page: Any, patient: Any, patients: Any, sandbox: Any
) -> None:
    problems: list[str] = []
    signed_out = browser_page(width)
    signed_out.goto(sandbox.web_url)
    expect(signed_out.get_by_label("Username")).to_be_visible()
    check_page(signed_out, "sign-in", problems)

    stopped = patients()  # opted out, so the list shows its consent badge too
    stopped.texts("About my bill")
    stopped.texts("STOP")
    patient.texts("I took too many pills and need a refill")  # urgent, so the list shows its badges
    page = staff_page("ada.admin", width)
    expect(page.locator("ul.items > li").first).to_be_visible(timeout=10_000)
    expect(page.locator(".badge.opted-out", has_text="Opted out").first).to_be_visible()
    check_page(page, "inbox list", problems)

    conversation = newest_conversation(sandbox, "ada.admin")["id"]
    page.goto(f"{sandbox.web_url}#/c/{conversation}")
    expect(page.get_by_role("form", name="Reply to the patient")).to_be_visible()
    page.get_by_label("Reply", exact=True).fill("Thank you – we’ll call you 📞")  # the UCS-2 warning too
    check_page(page, "thread", problems)
    page.get_by_label("Reply", exact=True).fill("")
    page.get_by_label("Reply", exact=True).blur()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    check_page(page, "shortcut help", problems)
    page.keyboard.press("Escape")

    for route, link, heading in (
        ("departments", "Departments", "Departments, hours and routing"),
        ("canned", "Canned responses", "Canned responses"),
        ("templates", "Templates", "Reminder templates"),
        ("audit", "Audit", "Audit trail"),
    ):
        page.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        if route == "templates":
            page.get_by_label("Body").fill(
                "{clinic_name}: reminder {when}. Reply C to confirm, STOP to opt out"
            )
            page.get_by_role("button", name="Check segments").click()
            expect(page.get_by_role("status", name="Segment report")).to_be_visible()
        if route == "audit":  # the trail of the conversation opened above: at least that look
            page.get_by_label("Conversation id").fill(conversation)
            page.get_by_role("button", name="Search").click()
            expect(page.locator("table tbody tr").first).to_be_visible()
        check_page(page, f"admin {route}", problems)
    assert not problems, "\n".join(problems)
