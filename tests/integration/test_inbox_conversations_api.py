"""Issue 12: the staff conversation routes of InboxApiFunction, through template.yaml with real-shaped
JWT authorizer events: department scoping (another department's conversation answers exactly as a
missing one), the version check on writes (racing writes: exactly one wins, the other is told what
changed), reads that never change the version, break-glass, and an audit record for every look."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.local.events import jwt_http_api_event
from tests.integration.harness import plaintext_leaks
from tests.integration.inbox_helpers import (
    Clock,
    clinic_departments,
    conversation_in,
    frozen_clock,
    pages,
    text,
)

MONDAY_OPEN = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)
STAFF = {
    "nurse": ("0b8e0c3e-1111-4c8e-9a51-7d2e6b0f1a01", "nina.nurse", ["nursing"]),
    "nurse2": ("0b8e0c3e-2222-4c8e-9a51-7d2e6b0f1a02", "noah.nurse", ["nursing"]),
    "billing": ("0b8e0c3e-3333-4c8e-9a51-7d2e6b0f1a03", "bill.clerk", ["billing"]),
    "admin": ("0b8e0c3e-4444-4c8e-9a51-7d2e6b0f1a04", "ada.admin", ["admin"]),
    "nobody": ("0b8e0c3e-5555-4c8e-9a51-7d2e6b0f1a05", "nemo", []),
}
MISSING = "c_AAAAAAAAAAAAAAAAAAAAAA"


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MONDAY_OPEN)


@pytest.fixture
def clinic(stack, clock):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    text(stack, clock, MONDAY_OPEN, "My incision is a bit red, is that normal?")
    return stack


def call(
    stack: Any, clock: Clock, who: str, method: str, path: str, body: Any = None, **extra: Any
) -> tuple[int, dict[str, Any], str]:
    sub, username, groups = STAFF[who]
    now = int(clock.now.timestamp())
    claims = {
        "sub": sub,
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{stack.ref('StaffUserPool')}",
        "client_id": stack.ref("StaffAppClient"),
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "username": username,
        "cognito:groups": groups,
        "iat": now,
        "exp": now + 1800,
    }
    path, _, query = path.partition("?")
    headers = {"content-type": "application/json", **extra.pop("headers", {})}
    parts = path.split("/")
    route, params = path, None
    if len(parts) >= 4 and parts[3]:
        params = {"conversation_id": parts[3]}
        route = "/".join([*parts[:3], "{conversation_id}", *parts[4:]])
    event = jwt_http_api_event(
        method,
        path,
        claims=claims,
        route_key=f"{method} {route}",
        path_parameters=params,
        body=json.dumps(body) if body is not None else None,
        headers=headers,
        query=query,
        **extra,
    )
    answer = stack.functions["InboxApiFunction"].invoke(event)
    return answer["statusCode"], answer.get("headers") or {}, answer["body"]


def audit(stack: Any) -> list[dict[str, Any]]:
    items = stack.table("AuditTable").scan()["Items"]
    return sorted((i for i in items if "action" in i), key=lambda i: int(i["sequence"]))


def test_a_nurse_lists_and_opens_nursings_conversation_and_each_look_is_recorded(clinic, clock) -> None:
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    status, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/conversations")
    listed = json.loads(body)["conversations"]
    assert status == 200 and [c["id"] for c in listed] == [cid]
    assert listed[0]["flags"]["unread"] is True and listed[0]["status"] == "open"

    status, headers, body = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}")
    shown = json.loads(body)["conversation"]
    assert status == 200 and headers["ETag"] == f'"{shown["version"]}"'
    # reading never changes the version, but moves the reader's marker
    assert conversation_in(clinic, "nursing")["version"] == shown["version"]
    _s, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/conversations?unread=true")
    assert json.loads(body)["conversations"] == []

    actions = [(r["action"], r.get("conversation_id"), r["user_id"]) for r in audit(clinic)]
    assert ("list", None, STAFF["nurse"][0]) in actions
    assert ("read", cid, STAFF["nurse"][0]) in actions


def test_billing_gets_the_same_404_for_nursings_conversation_as_for_a_missing_one(clinic, clock) -> None:
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    hidden = call(clinic, clock, "billing", "GET", f"/inbox/conversations/{cid}")
    missing = call(clinic, clock, "billing", "GET", f"/inbox/conversations/{MISSING}")
    assert hidden[0] == missing[0] == 404 and hidden[2] == missing[2]
    closing = call(clinic, clock, "billing", "POST", f"/inbox/conversations/{cid}/close", {"version": 1})
    assert closing[0] == 404 and closing[2] == missing[2]
    _s, _h, body = call(clinic, clock, "billing", "GET", "/inbox/conversations")
    assert json.loads(body)["conversations"] == []
    _s, _h, body = call(clinic, clock, "billing", "GET", "/inbox/conversations?department=nursing")
    assert json.loads(body)["conversations"] == []
    assert conversation_in(clinic, "nursing")["status"] == "open"


def test_no_department_is_403_and_admin_sees_everything(clinic, clock) -> None:
    assert call(clinic, clock, "nobody", "GET", "/inbox/conversations")[0] == 403
    _s, _h, body = call(clinic, clock, "admin", "GET", "/inbox/conversations")
    assert [c["department"] for c in json.loads(body)["conversations"]] == ["nursing"]


def test_racing_writes_on_one_version_exactly_one_wins_the_other_hears_what_changed(clinic, clock) -> None:
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    _s, _h, body = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}")
    version = json.loads(body)["conversation"]["version"]
    first = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/notes",
        {"body": "called back"},
        headers={"if-match": f'"{version}"'},
    )
    second = call(clinic, clock, "nurse2", "POST", f"/inbox/conversations/{cid}/close", {"version": version})
    assert first[0] == 200 and second[0] == 409
    refused = json.loads(second[2])
    assert refused["error"] == "stale_version" and [c["kind"] for c in refused["changes"]] == ["note"]
    assert refused["current_version"] == version + 1
    assert conversation_in(clinic, "nursing")["status"] == "open"
    assert "called back" not in json.dumps(
        conversation_in(clinic, "nursing"), default=str
    )  # the note is sealed


def test_a_write_without_a_version_is_400_naming_it_and_changes_nothing(clinic, clock) -> None:
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    before = conversation_in(clinic, "nursing")["version"]
    status, _h, body = call(clinic, clock, "nurse", "POST", f"/inbox/conversations/{cid}/close", {})
    assert status == 400 and json.loads(body)["error"]["field"] == "version"
    assert conversation_in(clinic, "nursing")["version"] == before


def test_close_then_reopen_labels_and_notes_are_recorded(clinic, clock) -> None:
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    v = int(conversation_in(clinic, "nursing")["version"])
    status, _h, body = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/labels",
        {"version": v, "add": ["wound-care"]},
    )
    assert status == 200 and json.loads(body)["conversation"]["labels"] == ["wound-care"]
    status, _h, body = call(
        clinic, clock, "nurse", "POST", f"/inbox/conversations/{cid}/close", {"version": v + 1}
    )
    assert status == 200 and json.loads(body)["conversation"]["status"] == "closed"
    status, _h, body = call(
        clinic, clock, "nurse", "POST", f"/inbox/conversations/{cid}/reopen", {"version": v + 2}
    )
    assert status == 200 and json.loads(body)["conversation"]["status"] == "open"
    mine = [r["action"] for r in audit(clinic) if r.get("conversation_id") == cid]
    assert mine == ["label", "close", "reopen"]


def test_break_glass_needs_a_reason_is_recorded_and_notifies_admins_without_phi(clinic, clock) -> None:
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    status, _h, body = call(clinic, clock, "billing", "POST", f"/inbox/conversations/{cid}/break-glass", {})
    assert status == 400 and json.loads(body)["error"]["field"] == "reason"
    reason = {"reason": "Patient on the phone asking about billing for this visit"}
    status, _h, body = call(
        clinic, clock, "billing", "POST", f"/inbox/conversations/{cid}/break-glass", reason
    )
    assert status == 200 and json.loads(body)["conversation"]["id"] == cid
    [record] = [r for r in audit(clinic) if r["action"] == "break_glass"]
    assert record["conversation_id"] == cid and record["user_id"] == STAFF["billing"][0]
    [notice] = [p for p in pages(clinic) if p["message"].get("type") == "break_glass"]
    assert notice["message"]["conversation_id"] == cid and "incision" not in notice["raw"]
    assert "Patient on the phone" not in notice["raw"]


def test_no_phi_in_the_staff_routes_logs(clinic, clock, capsys) -> None:
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    v = int(conversation_in(clinic, "nursing")["version"])
    call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/notes",
        {"version": v, "body": "Called Mrs Smith"},
    )
    call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}")
    logs = capsys.readouterr()
    assert "Mrs Smith" not in logs.out + logs.err and "incision" not in logs.out + logs.err
    assert not plaintext_leaks(clinic, ["Called Mrs Smith"])


def test_a_transfer_to_billing_moves_it_out_of_nursings_sight_and_is_recorded(clinic, clock) -> None:
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    v = int(conversation_in(clinic, "nursing")["version"])
    path = f"/inbox/conversations/{cid}/assign"
    status, _h, body = call(clinic, clock, "nurse", "POST", path, {"version": v, "department": "pharmacy"})
    assert status == 400 and json.loads(body)["error"]["field"] == "department"
    status, _h, body = call(clinic, clock, "nurse", "POST", path, {"version": v, "department": "billing"})
    assert status == 200 and json.loads(body)["conversation"]["department"] == "billing"
    assert call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}")[0] == 404
    assert call(clinic, clock, "billing", "GET", f"/inbox/conversations/{cid}")[0] == 200
    [record] = [r for r in audit(clinic) if r["action"] == "assign"]
    assert record["conversation_id"] == cid


def _opt_in(stack: Any, clock: Clock) -> None:
    """The patient texts START: consent on record (with the number, encrypted)."""
    text(stack, clock, MONDAY_OPEN, "START")


def test_a_staff_reply_goes_out_through_the_pipeline_with_its_segment_count(clinic, clock) -> None:
    from tests.integration.inbox_helpers import PATIENT, replies_to

    _opt_in(clinic, clock)
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    v = int(conversation_in(clinic, "nursing")["version"])
    before = len(replies_to(PATIENT))
    body = {"version": v, "body": "Some redness is normal \u2014 call us if it spreads."}
    status, headers, raw = call(clinic, clock, "nurse", "POST", f"/inbox/conversations/{cid}/messages", body)
    assert status == 201, raw
    answer = json.loads(raw)
    assert answer["sent"]["encoding"] == "UCS-2" and answer["sent"]["ucs2_culprits"] == ["\u2014"]
    assert answer["sent"]["segments"] == 1 and answer["conversation"]["staff_replies"] == 1
    assert headers["ETag"] == f'"{answer["conversation"]["version"]}"'
    assert replies_to(PATIENT)[before:] == ["Some redness is normal \u2014 call us if it spreads."]
    assert [r["action"] for r in audit(clinic) if r.get("conversation_id") == cid][-1] == "reply"


def test_two_staff_replying_on_one_version_send_one_text_the_other_is_409(clinic, clock) -> None:
    from tests.integration.inbox_helpers import PATIENT, replies_to

    _opt_in(clinic, clock)
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    v = int(conversation_in(clinic, "nursing")["version"])
    before = len(replies_to(PATIENT))
    path = f"/inbox/conversations/{cid}/messages"
    first = call(clinic, clock, "nurse", "POST", path, {"version": v, "body": "Yes, that is normal."})
    second = call(clinic, clock, "nurse2", "POST", path, {"version": v, "body": "Please send a photo."})
    assert sorted([first[0], second[0]]) == [201, 409]
    assert json.loads(second[2])["error"] == "stale_version"
    assert replies_to(PATIENT)[before:] == ["Yes, that is normal."]


def test_a_reply_to_an_opted_out_patient_is_409_and_sends_nothing(clinic, clock) -> None:
    from tests.integration.inbox_helpers import PATIENT, replies_to

    _opt_in(clinic, clock)
    text(clinic, clock, MONDAY_OPEN, "STOP")
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    v = int(conversation_in(clinic, "nursing")["version"])
    before = len(replies_to(PATIENT))
    status, _h, raw = call(
        clinic, clock, "nurse", "POST", f"/inbox/conversations/{cid}/messages", {"version": v, "body": "Hi"}
    )
    assert status == 409 and "opted out" in json.loads(raw)["error"]["message"]
    assert replies_to(PATIENT)[before:] == []
    assert conversation_in(clinic, "nursing")["staff_replies"] == 0


def test_a_nurse_answers_with_a_canned_response_rendered_without_a_known_first_name(clinic, clock) -> None:
    from tests.integration.inbox_helpers import PATIENT, replies_to

    _opt_in(clinic, clock)
    canned = {
        "department": "nursing",
        "name": "callback",
        "body": "Hi {first_name}, thanks for texting {clinic_name}. A nurse will call you today.",
    }
    status, _h, raw = call(clinic, clock, "admin", "POST", "/inbox/canned-responses", canned)
    assert status == 201, raw
    canned_id = json.loads(raw)["canned_response"]["id"]
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    v = int(conversation_in(clinic, "nursing")["version"])
    path = f"/inbox/conversations/{cid}/messages"
    refused = call(clinic, clock, "billing", "POST", path, {"version": v, "canned_response_id": canned_id})
    assert refused[0] == 404  # billing cannot answer nursing's patient
    status, _h, raw = call(
        clinic, clock, "nurse", "POST", path, {"version": v, "canned_response_id": canned_id}
    )
    assert status == 201, raw
    [sent] = replies_to(PATIENT)[-1:]
    assert sent.startswith("Hi there, thanks for texting ") and sent.endswith("A nurse will call you today.")
    assert "{" not in sent
