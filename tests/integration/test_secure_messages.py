"""Issue 13: secure messages end to end through template.yaml. A nurse sends one from a conversation
(InboxApiFunction); the patient gets a text with only the clinic and a link; the page (SecurePageFunction,
no staff auth) asks for the date of birth ingest kept (encrypted) from the FHIR Patient; wrong dates count
down and the fifth locks the link for good; an expired link says so; forged, garbled and unknown tokens all
get the same 404 and change nothing; the right date shows the message and the patient's answer lands in
the conversation, unread for staff. Every view, failed check, lock and answer is an audit record whose
actor is the link. The token is never stored, logged or put in an audit record."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from infra.local import events
from shared.core.clock import iso
from shared.core.segments import analyze
from tests.fixtures.fhir_samples import MAGGIE_MOBILE, THANH_MOBILE, resource_at, sample_bundle
from tests.integration.harness import all_items, outbox, plaintext_leaks
from tests.integration.inbox_helpers import NURSING_LINE, Clock, clinic_departments, frozen_clock, text
from tests.integration.test_inbox_conversations_api import MONDAY_OPEN, call

THANH_DOB = ("02", "29", "1984")  # the sample bundle's Patient pat-1002 (a leap day)
MAGGIE_DOB = ("07", "14", "1961")
SECRET_BODY = "Your biopsy result is benign. No further treatment is needed."
LINK = re.compile(
    r"^You have a secure message from Riverside Family Clinic: (https://inbox\.example\.org/s)#([A-Za-z0-9_-]{43})$"
)


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MONDAY_OPEN)


def ingest(stack: Any) -> None:
    """The EHR sends the sample bundle: Thanh's and Maggie's dates of birth are kept, encrypted."""
    bundle = sample_bundle()
    start = MONDAY_OPEN + timedelta(days=5)
    resource_at(bundle, 4)["start"] = start.isoformat()
    resource_at(bundle, 4)["end"] = (start + timedelta(minutes=45)).isoformat()
    resource_at(bundle, 5)["start"] = (start + timedelta(hours=1)).isoformat()
    event = events.http_api_event(
        "POST",
        "/appointments",
        body=json.dumps(bundle),
        headers={"content-type": "application/fhir+json"},
        iam_caller="arn:aws:iam::123456789012:user/ehr-feed",
        base64_body=False,
    )
    assert stack.functions["AppointmentsApiFunction"].invoke(event)["statusCode"] == 200


@pytest.fixture
def clinic(stack, clock):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    ingest(stack)
    text(stack, clock, MONDAY_OPEN, "START", from_number=THANH_MOBILE)  # consent, with the number (encrypted)
    text(stack, clock, MONDAY_OPEN, "Are my results in?", from_number=THANH_MOBILE, to_number=NURSING_LINE)
    return stack


def conversation_of(stack: Any, number_hmac_of: str) -> dict[str, Any]:
    from shared.crypto.wiring import blind_index

    phone_hmac = blind_index().phone(number_hmac_of)
    items = stack.table("ConversationsTable").scan()["Items"]
    [found] = [i for i in items if i.get("record_type") == "conversation" and i["phone_hmac"] == phone_hmac]
    return found


def send(stack: Any, clock: Clock, who: str, cid: str, body: str = SECRET_BODY) -> tuple[int, dict[str, Any]]:
    _s, _h, shown = call(stack, clock, who, "GET", f"/inbox/conversations/{cid}")
    version = json.loads(shown)["conversation"]["version"] if _s == 200 else 1
    status, _h, answer = call(
        stack,
        clock,
        who,
        "POST",
        f"/inbox/conversations/{cid}/secure-messages",
        {"body": body, "version": version},
    )
    return status, json.loads(answer)


def token_sent_to(number: str) -> str:
    [notice] = [body for phone, body in outbox() if phone == number and "secure message" in body]
    found = LINK.fullmatch(notice)
    assert found, notice
    return found.group(2)


def page(stack: Any, route: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    method, _, path = route.partition(" ")
    event = events.http_api_event(
        method,
        path,
        route_key=route,
        body=urlencode(form) if form is not None else None,
        headers={"content-type": "application/x-www-form-urlencoded"} if form is not None else {},
    )
    answer = stack.functions["SecurePageFunction"].invoke(event)
    body = answer["body"]
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return answer["statusCode"], answer["headers"], body


def open_with(stack: Any, token: str, dob: tuple[str, str, str]) -> tuple[int, dict[str, str], str]:
    month, day, year = dob
    return page(stack, "POST /s", {"token": token, "month": month, "day": day, "year": year})


def session_of(html: str) -> str:
    found = re.search(r'name="session" value="([^"]+)"', html)
    assert found
    return found.group(1)


def audit(stack: Any) -> list[dict[str, Any]]:
    items = stack.table("AuditTable").scan()["Items"]
    return sorted((i for i in items if "action" in i), key=lambda i: int(i["sequence"]))


def secure_items(stack: Any) -> list[dict[str, Any]]:
    return [i for i in stack.table("ConversationsTable").scan()["Items"] if str(i["sk"]).startswith("secure")]


def shown_secure(stack: Any, clock: Clock, cid: str) -> list[dict[str, Any]]:
    _s, _h, body = call(stack, clock, "nurse", "GET", f"/inbox/conversations/{cid}")
    return json.loads(body)["conversation"]["secure_messages"]


def test_a_nurse_sends_the_patient_fails_then_passes_and_answers_into_the_thread(
    clinic, clock, caplog, capsys
) -> None:
    caplog.set_level(logging.INFO)
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    status, sent = send(clinic, clock, "nurse", cid)
    assert status == 201, sent
    token = token_sent_to(THANH_MOBILE)
    [notice] = [b for p, b in outbox() if p == THANH_MOBILE and "secure" in b]
    report = analyze(notice)
    assert SECRET_BODY not in notice and "Thanh" not in notice
    assert report.encoding == "GSM-7" and report.segments == 1 == sent["sent"]["segments"]
    [link] = sent["conversation"]["secure_messages"]
    assert link["state"] == "open" and link["opened_at"] is None and link["body"] == SECRET_BODY
    assert link["expires_at"] == iso(MONDAY_OPEN + timedelta(days=7))

    # the page itself: strict headers, the form, no token in it (it is in the fragment)
    status, headers, html = page(clinic, "GET /s")
    assert status == 200 and "Date of birth" in html and 'autocomplete="bday-year"' in html
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"] and "<style" not in html
    assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY"
    assert not re.search(r"<script>(?!</script>)", html)  # no inline script, only src=/s/page.js

    clock.now = MONDAY_OPEN + timedelta(minutes=5)
    status, _h, html = open_with(clinic, token, ("01", "01", "1984"))
    assert status == 401 and "does not match" in html and "4 attempts left" in html
    assert SECRET_BODY not in html
    status, _h, html = open_with(clinic, token, THANH_DOB)
    assert status == 200 and SECRET_BODY.replace("'", "&#x27;") in html
    [link] = shown_secure(clinic, clock, cid)
    assert link["opened_at"] is not None and link["failed_tries"] == 1 and link["answers"] == 0

    before = conversation_of(clinic, THANH_MOBILE)
    clock.now = MONDAY_OPEN + timedelta(minutes=7)
    status, _h, html = page(
        clinic,
        "POST /s/answer",
        {"session": session_of(html), "answer": "Thank you! Do I need a follow-up visit?"},
    )
    assert status == 200 and "Your answer was sent" in html
    after = conversation_of(clinic, THANH_MOBILE)
    assert after["patient_messages"] == before["patient_messages"] + 1
    _s, _h, listed = call(clinic, clock, "nurse", "GET", "/inbox/conversations?unread=true")
    assert [c["id"] for c in json.loads(listed)["conversations"]] == [cid]
    [link] = shown_secure(clinic, clock, cid)
    assert link["answers"] == 1 and link["answered_at"] is not None
    # the answer is in the message log (encrypted) and the thread refers to it
    refs = [
        i
        for i in clinic.table("ConversationsTable").scan()["Items"]
        if i["pk"] == cid and str(i["sk"]).startswith("msg#")
    ]
    assert any(str(r["message_id"]).startswith("sa_") for r in refs)

    records = [r for r in audit(clinic) if r["action"].startswith("secure")]
    actions = [(r["action"], r["user_id"]) for r in records]
    link_actor = f"patient-link:{link['id']}"
    assert actions[0] == ("secure_send", "0b8e0c3e-1111-4c8e-9a51-7d2e6b0f1a01")
    assert ("secure_check_failed", link_actor) in actions and ("secure_view", link_actor) in actions
    assert ("secure_answer", link_actor) in actions
    assert all(r.get("conversation_id") == cid for r in records)

    # the token, the body, the answer and the date of birth: never in clear in any table or log
    secrets = [token, SECRET_BODY, "follow-up visit", "1984-02-29"]
    assert plaintext_leaks(clinic, secrets) == []
    printed = capsys.readouterr()
    logs = caplog.text + printed.out + printed.err
    assert logs and not [s for s in secrets if s in logs]
    assert not any(token in json.dumps(item, default=repr) for _t, item in all_items(clinic))
    # the message log keeps the notice (decrypted here) with the link's token withheld
    from shared.crypto.wiring import blind_index
    from shared.messaging.wiring import message_log

    logged = message_log().thread(blind_index().phone(THANH_MOBILE))
    [kept] = [m.body for m in logged if m.kind == "secure_message"]
    assert kept.endswith("/s#(link withheld)") and token not in kept
    assert [m.body for m in logged if m.kind == "secure_answer"] == [
        "Thank you! Do I need a follow-up visit?"
    ]


def test_five_wrong_dates_lock_the_link_and_it_stays_locked_with_the_right_one(clinic, clock) -> None:
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    token = token_sent_to(THANH_MOBILE)
    for left in (4, 3, 2, 1):
        status, _h, html = open_with(clinic, token, MAGGIE_DOB)  # someone else's date of birth
        assert status == 401 and f"{left} attempt" in html
    status, _h, html = open_with(clinic, token, MAGGIE_DOB)
    assert status == 410 and "locked" in html
    status, _h, html = open_with(clinic, token, THANH_DOB)
    assert status == 410 and "locked" in html and SECRET_BODY not in html
    [link] = shown_secure(clinic, clock, cid)
    assert link["state"] == "locked" and link["failed_tries"] == 5 and link["opened_at"] is None
    actions = [r["action"] for r in audit(clinic)]
    assert actions.count("secure_check_failed") == 6 and actions.count("secure_locked") == 1
    assert "secure_view" not in actions
    # staff are told in the thread: the history has the lock
    _s, _h, body = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}")
    history = json.loads(body)["conversation"]["history"]
    assert any(h["kind"] == "secure_status" and h["detail"] == f"locked:{link['id']}" for h in history)


def test_an_expired_link_says_so_and_changes_nothing(clinic, clock) -> None:
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    token = token_sent_to(THANH_MOBILE)
    clock.now = MONDAY_OPEN + timedelta(days=7, seconds=1)
    before = secure_items(clinic)
    status, _h, html = open_with(clinic, token, THANH_DOB)
    assert status == 410 and "expired" in html and SECRET_BODY not in html
    assert secure_items(clinic) == before


def test_forged_garbled_and_unknown_tokens_get_one_404_page_and_change_nothing(clinic, clock) -> None:
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    token = token_sent_to(THANH_MOBILE)
    before, audited = secure_items(clinic), len(audit(clinic))
    flipped = ("A" if token[0] != "A" else "B") + token[1:]
    answers = set()
    for forged in ("", "abc", token + "x", flipped, "A" * 43, token[:-1] + "=", "<script>", token.upper()):
        status, _h, html = open_with(clinic, forged, THANH_DOB)
        answers.add((status, html))
    assert len(answers) == 1 and next(iter(answers))[0] == 404
    assert secure_items(clinic) == before
    # each try is on the trail, naming no conversation and nothing of what was typed in the link
    tried = audit(clinic)[audited:]
    assert [(r["action"], r["user_id"], r.get("conversation_id")) for r in tried] == [
        ("secure_check_failed", "patient-link:unknown", None)
    ] * 8
    assert [r["detail"]["presented"] for r in tried] == ["missing"] + ["malformed"] * 2 + ["unknown"] * 2 + [
        "malformed"
    ] * 2 + ["unknown"]
    assert {r["source_ip"] for r in tried} == {"127.0.0.1"}
    assert not [
        r for r in tried if token[:8] in json.dumps(r, default=str) or "t1:" in json.dumps(r, default=str)
    ]
    # a forged session is the same as none
    status, _h, html = page(clinic, "POST /s/answer", {"session": "eyJhbGciOiJub25lIn0.e30.", "answer": "hi"})
    assert status == 401 and "session ended" in html.lower()
    # not a form at all
    event = events.http_api_event(
        "POST",
        "/s",
        route_key="POST /s",
        body=json.dumps({"token": token}),
        headers={"content-type": "application/json"},
    )
    assert clinic.functions["SecurePageFunction"].invoke(event)["statusCode"] == 400
    assert secure_items(clinic) == before


def test_another_patients_token_opens_only_with_that_patients_date(clinic, clock) -> None:
    text(clinic, clock, MONDAY_OPEN, "START", from_number=MAGGIE_MOBILE)
    text(
        clinic, clock, MONDAY_OPEN, "Any news on my scan?", from_number=MAGGIE_MOBILE, to_number=NURSING_LINE
    )
    thanh = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    maggie = conversation_of(clinic, MAGGIE_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", thanh)[0] == 201
    assert send(clinic, clock, "nurse", maggie, "Maggie: your scan is clear.")[0] == 201
    thanh_token, maggie_token = token_sent_to(THANH_MOBILE), token_sent_to(MAGGIE_MOBILE)
    status, _h, html = open_with(clinic, maggie_token, THANH_DOB)  # Thanh holds Maggie's link
    assert status == 401 and "Maggie" not in html
    status, _h, html = open_with(clinic, thanh_token, THANH_DOB)
    assert status == 200 and "benign" in html and "scan is clear" not in html


def test_the_answer_is_validated_and_the_session_ends(clinic, clock) -> None:
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    _s, _h, html = open_with(clinic, token_sent_to(THANH_MOBILE), THANH_DOB)
    session = session_of(html)
    before = conversation_of(clinic, THANH_MOBILE)["patient_messages"]
    status, _h, html = page(clinic, "POST /s/answer", {"session": session, "answer": "x" * 1001})
    assert status == 400 and "at most 1000" in html
    status, _h, html = page(clinic, "POST /s/answer", {"session": session, "answer": "  "})
    assert status == 400
    clock.now = MONDAY_OPEN + timedelta(minutes=16)
    status, _h, html = page(clinic, "POST /s/answer", {"session": session, "answer": "late"})
    assert status == 401 and conversation_of(clinic, THANH_MOBILE)["patient_messages"] == before


def test_staff_refusals_send_nothing(clinic, clock) -> None:
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "billing", cid)[0] == 404  # another department's thread
    status, _h, _b = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/secure-messages",
        {"body": "x", "version": 99},
    )
    assert status == 400
    assert send(clinic, clock, "nurse", cid, "")[0] == 400
    # a number with no date of birth on file: 409, nothing stored or sent
    text(clinic, clock, MONDAY_OPEN, "hello", from_number="+12065550123", to_number=NURSING_LINE)
    stranger = conversation_of(clinic, "+12065550123")["conversation_id"]
    status, answer = send(clinic, clock, "nurse", stranger)
    assert status == 409 and "date of birth" in answer["error"]["message"]
    assert secure_items(clinic) == [] and not [b for _p, b in outbox() if "secure message" in b]


def test_an_opted_out_patient_gets_nothing_and_no_link_is_kept(clinic, clock) -> None:
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=1), "STOP", from_number=THANH_MOBILE)
    clock.now = MONDAY_OPEN + timedelta(minutes=2)
    status, answer = send(clinic, clock, "nurse", cid)
    assert status == 409 and "opted out" in answer["error"]["message"], answer
    assert secure_items(clinic) == [] and not [b for _p, b in outbox() if "secure message" in b]


def test_a_secure_notice_shows_only_in_the_thread_it_was_sent_from(clinic, clock) -> None:
    """Issue 12 review: the notice text (kind ``secure_message``) belongs to nursing's conversation; the
    same number's billing thread must not show it (it showed every outbound text not a reply)."""
    text(
        clinic, clock, MONDAY_OPEN + timedelta(minutes=1), "question about my bill", from_number=THANH_MOBILE
    )
    from shared.crypto.wiring import blind_index

    phone_hmac = blind_index().phone(THANH_MOBILE)
    items = clinic.table("ConversationsTable").scan()["Items"]
    by_department = {
        i["department"]: i["conversation_id"]
        for i in items
        if i.get("record_type") == "conversation" and i["phone_hmac"] == phone_hmac
    }
    assert set(by_department) >= {"nursing", "billing"}, by_department
    clock.now = MONDAY_OPEN + timedelta(minutes=2)
    status, sent = send(clinic, clock, "nurse", by_department["nursing"])
    assert status == 201, sent

    def thread(who: str, department: str) -> list[dict[str, Any]]:
        _s, _h, body = call(clinic, clock, who, "GET", f"/inbox/conversations/{by_department[department]}")
        return json.loads(body)["conversation"]["thread"]

    nursing, billing = thread("nurse", "nursing"), thread("billing", "billing")
    assert [e["kind"] for e in nursing].count("secure_message") == 1
    assert "secure_message" not in [e["kind"] for e in billing]
    assert "question about my bill" in [e["body"] for e in billing]
    assert "question about my bill" not in [e["body"] for e in nursing]


def trail(stack: Any, clock: Clock, **query: str) -> list[dict[str, Any]]:
    """The patient page's records as an admin reads the trail back (GET /inbox/audit), oldest first."""
    status, _h, body = call(
        stack, clock, "admin", "GET", f"/inbox/audit?{urlencode({**query, 'limit': 200})}"
    )
    assert status == 200, body
    records = [r for r in json.loads(body)["records"] if r["action"].startswith("secure_")]
    return sorted((r for r in records if r["action"] != "secure_send"), key=lambda r: r["sequence"])


def outcomes(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["action"], r["detail"].get("outcome", "")) for r in records]


def test_every_try_on_a_known_link_is_on_the_trail_with_its_outcome_even_on_a_dead_link(
    clinic, clock
) -> None:
    """Issue 13: every view, failed check and answer is in the audit trail -- also when the link is
    expired, locked or used up, the date is not a date, or the session ended."""
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    token = token_sent_to(THANH_MOBILE)
    assert open_with(clinic, token, ("13", "40", "1984"))[0] == 400  # not a date: no try counted
    assert open_with(clinic, token, MAGGIE_DOB)[0] == 401
    status, _h, html = open_with(clinic, token, THANH_DOB)
    assert status == 200
    session = session_of(html)
    assert page(clinic, "POST /s/answer", {"session": session, "answer": "   "})[0] == 400
    for n in range(10):
        assert page(clinic, "POST /s/answer", {"session": session, "answer": f"answer {n}"})[0] == 200
    status, _h, html = page(clinic, "POST /s/answer", {"session": session, "answer": "one more"})
    assert status == 400 and "at most 10 answers" in html
    clock.now = MONDAY_OPEN + timedelta(minutes=16)
    assert page(clinic, "POST /s/answer", {"session": session, "answer": "late"})[0] == 401
    clock.now = MONDAY_OPEN + timedelta(days=7, seconds=1)
    assert open_with(clinic, token, THANH_DOB)[0] == 410  # expired

    records = trail(clinic, clock, conversation_id=cid)
    [link] = shown_secure(clinic, clock, cid)
    assert {r["user_id"] for r in records} == {f"patient-link:{link['id']}"}
    assert outcomes(records) == [
        ("secure_check_failed", "not_a_date"),
        ("secure_check_failed", "wrong_dob"),
        ("secure_view", "opened"),
        ("secure_answer_refused", "invalid_answer"),
        *[("secure_answer", "answered")] * 10,
        ("secure_answer_refused", "used_up"),
        ("secure_answer_refused", "session_ended"),
        ("secure_check_failed", "expired"),
    ]
    assert [r["detail"].get("tries") for r in records[:3]] == ["0", "1", None]
    assert all(r["detail"]["link_id"] == link["id"] for r in records)
    assert not [r for r in records if token[:8] in json.dumps(r) or "t1:" in json.dumps(r)]


def test_a_locked_link_records_each_try_and_a_refused_answer(clinic, clock) -> None:
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    token = token_sent_to(THANH_MOBILE)
    _s, _h, html = open_with(clinic, token, THANH_DOB)  # opened, then someone else locks it
    session = session_of(html)
    for _ in range(5):
        open_with(clinic, token, MAGGIE_DOB)
    assert open_with(clinic, token, THANH_DOB)[0] == 410
    status, _h, html = page(clinic, "POST /s/answer", {"session": session, "answer": "still there?"})
    assert status == 410 and "locked" in html
    assert outcomes(trail(clinic, clock, conversation_id=cid)) == [
        ("secure_view", "opened"),
        *[("secure_check_failed", "wrong_dob")] * 5,
        ("secure_locked", "locked"),
        ("secure_check_failed", "locked"),
        ("secure_answer_refused", "locked"),
    ]
    # a session that is not ours names no link: on the trail with no conversation
    status, _h, _b = page(clinic, "POST /s/answer", {"session": "eyJhbGciOiJub25lIn0.e30.", "answer": "hi"})
    assert status == 401
    [forged] = trail(clinic, clock, user="patient-link:unknown")
    assert forged["action"] == "secure_answer_refused" and forged["conversation_id"] is None
    assert forged["detail"] == {"outcome": "not_found", "presented": "malformed"}


def secure_answers_in_thread(stack: Any, clock: Clock, cid: str) -> list[str]:
    _s, _h, body = call(stack, clock, "nurse", "GET", f"/inbox/conversations/{cid}")
    thread = json.loads(body)["conversation"]["thread"]
    texted = {"START", "Are my results in?"}  # the clinic fixture's texts; answers show as the patient's
    return [e["body"] for e in thread if e["kind"] == "patient" and e["body"] not in texted]


def test_a_double_tap_or_a_reposted_form_lands_the_answer_once(clinic, clock) -> None:
    """Issue 13 / s6: the same answer posted twice in one session is one answer (same success page); a
    different answer, or the same text after the link was opened again, is another."""
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    token = token_sent_to(THANH_MOBILE)
    _s, _h, html = open_with(clinic, token, THANH_DOB)
    session = session_of(html)
    before = conversation_of(clinic, THANH_MOBILE)["patient_messages"]
    form = {"session": session, "answer": "Yes, Tuesday works for me."}
    first = page(clinic, "POST /s/answer", form)
    clock.now = MONDAY_OPEN + timedelta(seconds=3)  # the phone re-posts after a poor connection
    second = page(clinic, "POST /s/answer", form)
    assert first[0] == second[0] == 200 and "Your answer was sent" in second[2]
    assert first[2] == second[2]
    assert secure_answers_in_thread(clinic, clock, cid) == ["Yes, Tuesday works for me."]
    assert conversation_of(clinic, THANH_MOBILE)["patient_messages"] == before + 1
    [link] = shown_secure(clinic, clock, cid)
    assert link["answers"] == 1
    answered = [r for r in trail(clinic, clock, conversation_id=cid) if r["action"] == "secure_answer"]
    assert [r["detail"]["outcome"] for r in answered] == ["answered", "repeat"]
    assert answered[0]["detail"]["message_id"] == answered[1]["detail"]["message_id"]

    # a different answer is another; so is the same text in a new session (the link opened again)
    clock.now = MONDAY_OPEN + timedelta(seconds=10)  # the thread orders by time
    assert page(clinic, "POST /s/answer", {"session": session, "answer": "Morning if possible."})[0] == 200
    clock.now = MONDAY_OPEN + timedelta(seconds=20)
    _s, _h, html = open_with(clinic, token, THANH_DOB)
    assert page(clinic, "POST /s/answer", {**form, "session": session_of(html)})[0] == 200
    assert secure_answers_in_thread(clinic, clock, cid) == [
        "Yes, Tuesday works for me.",
        "Morning if possible.",
        "Yes, Tuesday works for me.",
    ]
    [link] = shown_secure(clinic, clock, cid)
    assert link["answers"] == 3
    # what makes a re-post the same is a keyed hash: the text is in no key or attribute
    assert plaintext_leaks(clinic, ["Tuesday works", "Morning if possible"]) == []


def test_a_repost_finishes_an_answer_whose_first_post_stopped_after_it_was_taken(
    clinic, clock, monkeypatch
) -> None:
    """The first post took the answer, then the function stopped before the message was logged (a
    timeout): the phone's re-post lands it, once."""
    from shared.messaging.store import DynamoMessageLog

    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    _s, _h, html = open_with(clinic, token_sent_to(THANH_MOBILE), THANH_DOB)
    form = {"session": session_of(html), "answer": "Please call me after 5."}
    real_append = DynamoMessageLog.append

    def stopped(self: Any, record: Any) -> None:
        if record.kind == "secure_answer":
            raise TimeoutError("the function ran out of time")
        real_append(self, record)

    monkeypatch.setattr(DynamoMessageLog, "append", stopped)
    with pytest.raises(TimeoutError):
        page(clinic, "POST /s/answer", form)
    monkeypatch.setattr(DynamoMessageLog, "append", real_append)
    assert secure_answers_in_thread(clinic, clock, cid) == []
    status, _h, html = page(clinic, "POST /s/answer", form)
    assert status == 200 and "Your answer was sent" in html
    assert page(clinic, "POST /s/answer", form)[0] == 200
    assert secure_answers_in_thread(clinic, clock, cid) == ["Please call me after 5."]
    [link] = shown_secure(clinic, clock, cid)
    assert link["answers"] == 1


def raw_post(stack: Any, route: str, body: str | bytes, content_type: str) -> tuple[int, str]:
    _method, _, path = route.partition(" ")
    event = events.http_api_event(
        "POST", path, route_key=route, body=body, headers={"content-type": content_type}
    )
    answer = stack.functions["SecurePageFunction"].invoke(event)
    text = answer["body"]
    if answer.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    return answer["statusCode"], text


def test_a_malformed_form_on_a_real_link_gets_a_clear_400_page_and_changes_nothing(clinic, clock) -> None:
    """What docs/openapi.yaml describes of the two forms, broken on a live link and session: 400 and a page
    that says so; no try counted, nothing answered, the thread as it was."""
    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    token = token_sent_to(THANH_MOBILE)
    _s, _h, html = open_with(clinic, token, THANH_DOB)
    session = session_of(html)
    form = "application/x-www-form-urlencoded"
    good_check = urlencode({"token": token, "month": "07", "day": "14", "year": "1961"})  # a wrong date
    good_answer = urlencode({"session": session, "answer": "hello"})
    before, thread = secure_items(clinic), secure_answers_in_thread(clinic, clock, cid)
    broken = [
        ("POST /s", good_check + "&extra=1", form),  # a field the form has not
        ("POST /s", good_check + "&month=08", form),  # a field twice
        ("POST /s", json.dumps({"token": token}), "application/json"),  # not a form
        ("POST /s", good_check, "text/plain"),
        ("POST /s", good_check + "&pad=" + "x" * 9000, form),  # over 8 KiB
        ("POST /s", b"token=" + token.encode() + b"&month=\xff&day=14&year=1961", form),  # not UTF-8
        ("POST /s", "&".join(f"f{n}=1" for n in range(20)), form),  # too many fields
        ("POST /s/answer", good_answer + "&extra=1", form),
        ("POST /s/answer", good_answer + "&answer=again", form),
        ("POST /s/answer", json.dumps({"session": session, "answer": "hello"}), "application/json"),
    ]
    for route, body, content_type in broken:
        status, text_ = raw_post(clinic, route, body, content_type)
        assert status == 400 and "could not read what was sent" in text_ and "Nothing was saved" in text_, (
            route,
            body,
        )
    assert secure_items(clinic) == before and secure_answers_in_thread(clinic, clock, cid) == thread
    [link] = shown_secure(clinic, clock, cid)
    assert link["failed_tries"] == 0 and link["answers"] == 0
    # the same forms whole are taken: the broken ones were refused for what was wrong with them
    assert raw_post(clinic, "POST /s", good_check, form)[0] == 401
    assert raw_post(clinic, "POST /s/answer", good_answer, form)[0] == 200


def test_the_page_tells_a_browser_without_javascript_why_it_needs_it(clinic) -> None:
    """The token is in the URL fragment, so only the page's script can put it into the form: a browser
    without JavaScript is told so plainly (and who to call), not left with a form that cannot work."""
    status, headers, html = page(clinic, "GET /s")
    assert status == 200
    [noscript] = re.findall(r"<noscript>(.*?)</noscript>", html, flags=re.S)
    assert "needs JavaScript" in noscript and "Turn on JavaScript" in noscript
    assert "Riverside Family Clinic" in noscript
    assert "<style" not in noscript and "'unsafe-inline'" not in headers["Content-Security-Policy"]


def test_two_posts_racing_take_the_answer_once_in_the_store(clinic, clock) -> None:
    """The race a double tap makes: both posts read the link at one version and try to take the same
    answer. The store's one transaction lets one through; the other is told it was taken (a repeat), not
    a conflict, so it answers the same page. A different answer on a stale version is a conflict."""
    from shared.core.errors import ConcurrentChange
    from shared.secure import wiring as secure_wiring
    from shared.secure.domain import AnswerClaim
    from shared.secure.ports import AnswerRepeated

    cid = conversation_of(clinic, THANH_MOBILE)["conversation_id"]
    assert send(clinic, clock, "nurse", cid)[0] == 201
    assert open_with(clinic, token_sent_to(THANH_MOBILE), THANH_DOB)[0] == 200
    links = secure_wiring.secure_page().links
    [read] = links.for_conversation(cid)
    answered = read.answer(clock.now)
    claim = AnswerClaim("a1:" + "0" * 64, read.link_id, "sa_" + "A" * 22, clock.now)
    links.take_answer(answered, claim, expected_version=read.version)
    with pytest.raises(AnswerRepeated):  # the racing twin: same read, same answer
        links.take_answer(answered, claim, expected_version=read.version)
    other = AnswerClaim("a1:" + "1" * 64, read.link_id, "sa_" + "B" * 22, clock.now)
    with pytest.raises(ConcurrentChange):  # another answer on the stale read: read again and retry
        links.take_answer(answered, other, expected_version=read.version)
    [stored] = links.for_conversation(cid)
    assert stored.answers == 1 and links.answer_claim(cid, claim.answer_key) == claim
    assert links.answer_claim(cid, other.answer_key) is None
