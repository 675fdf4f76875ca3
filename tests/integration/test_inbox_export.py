"""Issue 12: ``GET /inbox/conversations/{id}/export`` through template.yaml with real-shaped JWT authorizer
events. The whole conversation (every page of the thread, oldest first) as JSON or, with ``format=text``,
a plain-text transcript download; the same access as reading it (another department's conversation is the
same 404 as a missing one); an ``export`` audit record (ids only: format, message count) appended before
any body is decrypted, so an export the trail cannot record is not answered."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.inbox_helpers import (
    PATIENT,
    Clock,
    clinic_departments,
    frozen_clock,
    text,
)
from tests.integration.test_inbox_conversations_api import MISSING, MONDAY_OPEN, STAFF, _opt_in, audit, call

OTHER = "+12065550177"
FIRST = "My incision is a bit red, is that normal?"
REPLY = "Some redness is normal; call us if it spreads."


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MONDAY_OPEN)


@pytest.fixture
def clinic(stack, clock):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    _opt_in(stack, clock)
    text(stack, clock, MONDAY_OPEN, FIRST)
    # Another number texts nursing too: its own conversation, never in this one's export.
    text(stack, clock, MONDAY_OPEN + timedelta(seconds=30), "refill for my inhaler please", from_number=OTHER)
    return stack


def nursing_cid(stack: Any, clock: Clock) -> str:
    """The patient's nursing conversation (the other number's is nursing's too), as the nurse lists it."""
    _s, _h, raw = call(stack, clock, "nurse", "GET", "/inbox/conversations?department=nursing")
    [found] = [c for c in json.loads(raw)["conversations"] if c["masked_number"].endswith(PATIENT[-4:])]
    return str(found["id"])


def reply(stack: Any, clock: Clock, cid: str, body: str = REPLY) -> None:
    _s, _h, raw = call(stack, clock, "nurse", "GET", f"/inbox/conversations/{cid}")
    version = json.loads(raw)["conversation"]["version"]
    status, _h, raw = call(
        stack,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/messages",
        {"version": version, "body": body},
    )
    assert status == 201, raw


def exports(stack: Any) -> list[dict[str, Any]]:
    return [r for r in audit(stack) if r["action"] == "export"]


def test_a_nurse_exports_the_transcript_and_the_export_is_on_the_record(clinic, clock) -> None:
    cid = nursing_cid(clinic, clock)
    clock.now = MONDAY_OPEN + timedelta(minutes=3)
    reply(clinic, clock, cid)
    status, headers, body = call(
        clinic,
        clock,
        "nurse",
        "GET",
        f"/inbox/conversations/{cid}/export?format=text",
        headers={"user-agent": "ClinicTextWeb/1"},
    )
    assert status == 200, body
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"] == f'attachment; filename="conversation-{cid}.txt"'
    assert headers["Cache-Control"] == "no-store"
    assert FIRST in body and REPLY in body
    assert "Staff reply from nina.nurse" in body and f"Conversation: {cid}" in body
    assert "inhaler" not in body  # the other number's text
    assert body.index(FIRST) < body.index(REPLY)  # oldest first
    [record] = exports(clinic)
    assert record["conversation_id"] == cid and record["user_id"] == STAFF["nurse"][0]
    assert record["username"] == "nina.nurse"
    assert record["source_ip"] == "127.0.0.1" and record["user_agent"] == "ClinicTextWeb/1"
    # the patient's text, the reply, and the number's START confirmation (an automated text of the number)
    assert record["detail"] == {"via": "department", "format": "text", "messages": "3"}
    assert FIRST not in json.dumps(record, default=str) and REPLY not in json.dumps(record, default=str)


def test_the_json_export_holds_the_whole_thread_notes_labels_assignments_delivery_and_consent(
    clinic, clock
) -> None:
    cid = nursing_cid(clinic, clock)
    for minutes in range(1, 56):  # more than one page of show (50), and of the export's own reads
        text(clinic, clock, MONDAY_OPEN + timedelta(minutes=minutes), f"one more refill question {minutes}")
    reply(clinic, clock, cid)
    _s, _h, raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}")
    version = json.loads(raw)["conversation"]["version"]
    status, _h, raw = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/notes",
        {"version": version, "body": "Called"},
    )
    assert status == 200, raw
    status, _h, raw = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/labels",
        {"version": version + 1, "add": ["wound"]},
    )
    assert status == 200, raw
    status, _h, raw = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/assign",
        {"version": version + 2, "department": "billing"},
    )
    assert status == 200, raw  # handed to billing: billing's to export now, with the transfer on record

    status, headers, raw = call(clinic, clock, "billing", "GET", f"/inbox/conversations/{cid}/export")
    assert (
        status == 200
        and headers["Content-Type"] == "application/json"
        and headers["Cache-Control"] == "no-store"
    )
    answer = json.loads(raw)
    c = answer["conversation"]
    bodies = [e["body"] for e in c["thread"]]
    patient = [e for e in c["thread"] if e["kind"] == "patient"]
    assert len(patient) == 56 and bodies[0] == FIRST and REPLY in bodies
    assert "one more refill question 55" in bodies and "refill for my inhaler please" not in bodies
    assert [e["at"] for e in c["thread"]] == sorted(e["at"] for e in c["thread"])
    assert answer["export"]["messages"] == len(c["thread"])
    [staff] = [e for e in c["thread"] if e["kind"] == "staff_reply"]
    assert staff["sender"]["name"] == "nina.nurse" and staff["status"] == "sent"
    assert set(staff["delivery"]) == {"status", "at", "detail"}  # no carrier report yet: all None
    assert [n["body"] for n in c["notes"]] == ["Called"] and c["labels"] == ["wound"]
    [transfer] = c["assignment_history"]
    assert transfer["by"] == STAFF["nurse"][0] and "billing" in json.dumps(transfer)
    assert c["department"] == "billing" and c["consent"]["state"] == "opted_in"
    assert c["masked_number"].endswith("0123") and "secure_messages" in answer
    [record] = exports(clinic)
    assert record["detail"]["format"] == "json" and record["detail"]["messages"] == str(len(c["thread"]))


def test_billing_gets_404_for_nursings_conversation_and_nothing_is_recorded_as_export(clinic, clock) -> None:
    cid = nursing_cid(clinic, clock)
    hidden = call(clinic, clock, "billing", "GET", f"/inbox/conversations/{cid}/export?format=text")
    missing = call(clinic, clock, "billing", "GET", f"/inbox/conversations/{MISSING}/export?format=text")
    assert hidden[0] == missing[0] == 404 and hidden[2] == missing[2]
    assert FIRST not in hidden[2]
    assert exports(clinic) == []
    nobody = call(clinic, clock, "nobody", "GET", f"/inbox/conversations/{cid}/export")
    assert nobody[0] == 403 and exports(clinic) == []


def test_an_admin_may_export_any_departments_conversation(clinic, clock) -> None:
    cid = nursing_cid(clinic, clock)
    status, _h, raw = call(clinic, clock, "admin", "GET", f"/inbox/conversations/{cid}/export")
    assert status == 200 and FIRST in raw
    [record] = exports(clinic)
    assert record["user_id"] == STAFF["admin"][0] and record["detail"]["via"] == "admin"


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("c_AAAAAAAAAAAAAAAAAAAAAA", "format=pdf", "format"),
        ("c_AAAAAAAAAAAAAAAAAAAAAA", "format=json,text", "format"),
        ("c_AAAAAAAAAAAAAAAAAAAAAA", "format=TEXT", "format"),
        ("CHAIN", "", "conversation_id"),
        ("c_" + "A" * 500, "format=text", "conversation_id"),
        ("settings%23departments", "", "conversation_id"),
    ],
)
def test_a_malformed_id_or_an_unknown_format_is_400_naming_the_field(
    clinic, clock, path, query, field
) -> None:
    status, _h, raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{path}/export?{query}")
    assert status == 400, raw
    assert json.loads(raw)["error"]["field"] == field
    assert exports(clinic) == []


def test_an_unknown_format_on_a_real_conversation_is_400_and_not_recorded(clinic, clock) -> None:
    cid = nursing_cid(clinic, clock)
    status, _h, raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}/export?format=html")
    assert status == 400 and json.loads(raw)["error"]["field"] == "format" and FIRST not in raw
    assert exports(clinic) == []


def test_the_export_is_recorded_before_any_body_is_decrypted_and_a_failed_record_exports_nothing(
    clinic, clock, monkeypatch
) -> None:
    from shared.audit.store import DynamoAuditLog
    from shared.messaging.store import DynamoMessageLog

    cid = nursing_cid(clinic, clock)
    steps: list[str] = []
    real_append, real_page = DynamoAuditLog.append, DynamoMessageLog.thread_page

    def append(self, event):  # type: ignore[no-untyped-def]
        steps.append(f"audit:{event.action}")
        return real_append(self, event)

    def page(self, phone_hmac, **kwargs):  # type: ignore[no-untyped-def]
        steps.append("bodies" if kwargs.get("include_body", True) else "count")
        return real_page(self, phone_hmac, **kwargs)

    monkeypatch.setattr(DynamoAuditLog, "append", append)
    monkeypatch.setattr(DynamoMessageLog, "thread_page", page)
    status, _h, _raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}/export")
    assert status == 200
    assert steps.index("audit:export") < steps.index("bodies") and steps[0] == "count"

    def broken(self, event):  # type: ignore[no-untyped-def]
        raise RuntimeError("the audit table is unavailable")

    monkeypatch.setattr(DynamoAuditLog, "append", broken)
    steps.clear()
    with pytest.raises(RuntimeError):
        call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}/export?format=text")
    assert "bodies" not in steps
    assert len(exports(clinic)) == 1  # the first export only


def test_a_thread_over_the_export_bound_is_413_and_nothing_is_recorded(clinic, clock, monkeypatch) -> None:
    from shared.inbox import service_staff

    cid = nursing_cid(clinic, clock)
    for minutes in (1, 2, 3):
        text(clinic, clock, MONDAY_OPEN + timedelta(minutes=minutes), f"refill question {minutes}")
    # five texts: the START confirmation, the first text and three more
    monkeypatch.setattr(service_staff, "MAX_EXPORT_MESSAGES", 4)
    status, _h, raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}/export")
    assert status == 413, raw
    assert json.loads(raw)["error"]["field"] == "conversation_id" and "refill" not in raw
    assert exports(clinic) == []
    monkeypatch.setattr(service_staff, "MAX_EXPORT_MESSAGES", 5)
    status, _h, raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}/export")
    assert status == 200 and json.loads(raw)["export"]["messages"] == 5


def test_an_answer_over_the_lambda_payload_limit_is_413_not_a_500(clinic, clock, monkeypatch) -> None:
    from functions.inbox_api import handler

    cid = nursing_cid(clinic, clock)
    monkeypatch.setattr(handler, "MAX_EXPORT_BYTES", 200)
    for query in ("", "?format=text"):
        status, _h, raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}/export{query}")
        assert status == 413, raw
        assert json.loads(raw)["error"]["field"] == "conversation_id" and FIRST not in raw


def test_a_number_whose_log_is_over_the_scan_bound_is_413(clinic, clock, monkeypatch) -> None:
    """Other departments' texts to the number are read past, but not without end."""
    from shared.inbox import service_staff

    cid = nursing_cid(clinic, clock)
    for minutes in (1, 2, 3):
        text(clinic, clock, MONDAY_OPEN + timedelta(minutes=minutes), f"question about my bill {minutes}")
    monkeypatch.setattr(service_staff, "EXPORT_PAGE", 2)
    monkeypatch.setattr(service_staff, "MAX_EXPORT_SCAN", 4)
    status, _h, raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}/export")
    assert status == 413, raw
    assert exports(clinic) == []
    # the number's whole log is 6 texts (START, its confirmation, the first text, three to billing)
    monkeypatch.setattr(service_staff, "MAX_EXPORT_SCAN", 7)
    status, _h, raw = call(clinic, clock, "nurse", "GET", f"/inbox/conversations/{cid}/export")
    assert status == 200, raw
    bodies = [e["body"] for e in json.loads(raw)["conversation"]["thread"]]
    assert FIRST in bodies and not any("bill" in b for b in bodies)  # billing's, read past
