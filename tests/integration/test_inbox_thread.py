"""Issue 12: the thread of ``GET /inbox/conversations/{id}`` through template.yaml. The patient's texts in
the conversation, staff replies with who sent them, the automated replies (urgent, after hours) and the
number's automated texts, newest first, each with direction, kind and the delivery status DeliveryTable
holds; another department's texts to the same number stay out; paged by cursor; every page a recorded
read."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from infra.local import events
from tests.integration.inbox_helpers import (
    PATIENT,
    clinic_departments,
    conversation_in,
    frozen_clock,
    replies_to,
    text,
)
from tests.integration.test_inbox_conversations_api import MONDAY_OPEN, STAFF, _opt_in, audit, call


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MONDAY_OPEN)


@pytest.fixture
def clinic(stack, clock):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    text(stack, clock, MONDAY_OPEN, "My incision is a bit red, is that normal?")
    return stack


def sent_ids() -> dict[str, str]:
    from moto.sns.models import sns_backends

    return {
        body: mid for mid, (_phone, body) in sns_backends["123456789012"]["us-east-1"].sms_messages.items()
    }


def deliver(stack, provider_id: str, status: str, at) -> None:
    line = events.sns_delivery_log(provider_id, PATIENT, status, at=at)
    group = stack.ref("SmsDeliveryLogGroup" if status == "delivered" else "SmsDeliveryFailureLogGroup")
    stack.functions["DeliveryStatusFunction"].invoke(events.cloudwatch_logs_event(group, [json.dumps(line)]))


def show(stack, clock, who: str, cid: str, query: str = "") -> tuple[int, dict]:
    status, _h, body = call(stack, clock, who, "GET", f"/inbox/conversations/{cid}{query}")
    return status, json.loads(body)


def test_the_thread_joins_patient_texts_staff_replies_and_automated_texts_in_time_order(clinic, clock):
    _opt_in(clinic, clock)
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    version = int(conversation_in(clinic, "nursing")["version"])
    reply = "Some redness is normal; call us if it spreads."
    clock.now = MONDAY_OPEN + timedelta(minutes=3)
    status, _h, raw = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/messages",
        {"version": version, "body": reply},
    )
    assert status == 201, raw
    deliver(clinic, sent_ids()[reply], "delivered", MONDAY_OPEN + timedelta(minutes=4))
    # An urgent text later: the 911 reply is automated, in this conversation.
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=10), "my incision is bleeding and won't stop")
    urgent_reply = replies_to(PATIENT)[-1]
    # The same number writes to billing: billing's thread, not nursing's.
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=20), "question about my bill")

    status, answer = show(clinic, clock, "nurse", cid)
    assert status == 200
    thread = answer["conversation"]["thread"]
    kinds = [(e["direction"], e["kind"]) for e in thread]
    assert ("inbound", "patient") in kinds and ("outbound", "staff_reply") in kinds
    assert ("outbound", "urgent_reply") in kinds
    bodies = [e["body"] for e in thread]
    assert "question about my bill" not in bodies  # billing's
    assert bodies.index(urgent_reply) < bodies.index(reply)  # newest first
    assert [e["at"] for e in thread] == sorted((e["at"] for e in thread), reverse=True)
    [staff] = [e for e in thread if e["kind"] == "staff_reply"]
    assert staff["sender"] == {"user_id": STAFF["nurse"][0], "name": "nina.nurse"}
    assert staff["delivery"]["status"] == "delivered" and staff["automated"] is False
    [urgent] = [e for e in thread if e["kind"] == "urgent_reply"]
    assert urgent["automated"] is True and urgent["sender"] is None
    patient = [e for e in thread if e["kind"] == "patient"]
    assert "My incision is a bit red, is that normal?" in [e["body"] for e in patient]
    assert all(e["delivery"] is None for e in patient)

    billing_cid = conversation_in(clinic, "billing")["conversation_id"]
    _s, billing = show(clinic, clock, "billing", billing_cid)
    billing_bodies = [e["body"] for e in billing["conversation"]["thread"]]
    assert "question about my bill" in billing_bodies
    assert reply not in billing_bodies and urgent_reply not in billing_bodies


def test_the_thread_pages_by_cursor_and_each_page_is_a_recorded_read(clinic, clock):
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    for minutes in (1, 2, 3):
        text(clinic, clock, MONDAY_OPEN + timedelta(minutes=minutes), f"one more refill question {minutes}")
    _s, first = show(clinic, clock, "nurse", cid, "?limit=2")
    page = first["conversation"]
    assert len(page["thread"]) == 2 and page["thread_cursor"]
    _s, second = show(clinic, clock, "nurse", cid, f"?limit=2&cursor={page['thread_cursor']}")
    seen = [e["id"] for e in page["thread"]] + [e["id"] for e in second["conversation"]["thread"]]
    assert len(set(seen)) == len(seen) == 4
    reads = [r for r in audit(clinic) if r["action"] == "read" and r.get("conversation_id") == cid]
    assert len(reads) == 2 and reads[1]["detail"].get("page") == "next"


def test_a_forged_thread_cursor_or_limit_is_400_and_nothing_is_shown(clinic, clock):
    import base64

    cid = conversation_in(clinic, "nursing")["conversation_id"]
    forged = base64.urlsafe_b64encode(b"CONSENT#x").decode().rstrip("=")
    for query in (f"?cursor={forged}", "?cursor=%%%", "?limit=0", "?limit=101", "?limit=\u00b2"):
        status, answer = show(clinic, clock, "nurse", cid, query)
        assert status == 400, (query, answer)


def test_another_departments_thread_is_404_and_decrypts_nothing(clinic, clock):
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    status, answer = show(clinic, clock, "billing", cid)
    assert status == 404 and "thread" not in json.dumps(answer)


def test_the_conversation_shows_the_numbers_consent_as_the_ledger_holds_it(clinic, clock):
    """A helper saw "consent: unknown" after an opt-in: the conversation carried no consent at all (the
    web app fell back to "unknown"). It now gives the ledger's state and whether a reply may go."""
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    _s, before = show(clinic, clock, "nurse", cid)
    assert before["conversation"]["consent"] == {"state": "unknown", "can_text": True, "reason": None}
    _opt_in(clinic, clock)
    _s, opted_in = show(clinic, clock, "nurse", cid)
    assert opted_in["conversation"]["consent"] == {"state": "opted_in", "can_text": True, "reason": None}
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=1), "STOP")
    _s, opted_out = show(clinic, clock, "nurse", cid)
    consent = opted_out["conversation"]["consent"]
    assert consent["state"] == "opted_out" and consent["can_text"] is False and "STOP" in consent["reason"]
