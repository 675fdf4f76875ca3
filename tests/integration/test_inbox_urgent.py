"""Issue 12: a text that reads as urgent gets the 911 reply whatever the hour, is flagged, pages the
on-call topic without PHI, and is re-escalated by the scheduled sweep until a staff member opens it;
overdue conversations are flagged against the department's first-response target in business minutes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import plaintext_leaks
from tests.integration.inbox_helpers import (
    PATIENT,
    clinic_departments,
    conversation_in,
    frozen_clock,
    pages,
    replies_to,
    sweep,
    text,
)

# Los Angeles, UTC-8. Nursing: Mon-Fri 08:30-12:00 and 13:00-17:00; first response target 30 minutes.
MON_1000 = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)
MON_1150 = datetime(2027, 3, 1, 19, 50, tzinfo=UTC)
SAT_2300 = datetime(2027, 3, 7, 7, 0, tzinfo=UTC)
BLEEDING = "my incision is bleeding and it won't stop, what should I do"


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MON_1000)


@pytest.fixture
def clinic(stack):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    return stack


def _open_as_staff(stack, conversation_id: str, user: str, at: datetime) -> None:  # type: ignore[no-untyped-def]
    """What the inbox's GET of a conversation does for a staff member: move their read marker."""
    from infra.local.stack import function_environment
    from shared.inbox import wiring

    with function_environment(stack.functions["InboxSweepFunction"].environment):
        wiring.inbox_settings.cache_clear()
        wiring.conversation_store.cache_clear()
        store = wiring.conversation_store()
        record = store.get(conversation_id)
        assert record is not None
        opened = record.conversation.mark_read(user, at)
        store.save(
            type(record)(opened, record.after_hours_key, record.escalation), expected_version=opened.version
        )


def test_an_urgent_text_in_hours_gets_911_is_flagged_and_pages_on_call_without_phi(clinic, clock) -> None:
    text(clinic, clock, MON_1000, BLEEDING)
    [reply] = replies_to()
    assert "call 911" in reply and reply.startswith("Riverside Family Clinic: ")
    nursing = conversation_in(clinic, "nursing")
    assert nursing["urgent"] is True
    assert nursing["urgent_category"] == "bleeding"
    assert nursing["escalations"] == 1
    [page] = pages(clinic)
    cid = nursing["conversation_id"]
    assert page["message"] == {
        "type": "urgent_patient_text",
        "department": "nursing",
        "conversation_id": cid,
        "link": f"https://inbox.example.org/conversations/{cid}",
        "category": "bleeding",
        "attempt": 1,
    }
    everything = page["raw"] + json.dumps(page["subject"]) + json.dumps(page["attributes"])
    digits = PATIENT.lstrip("+")
    for secret in (PATIENT, digits, digits[-10:], "incision", "won't stop", nursing["phone_hmac"]):
        assert secret not in everything
    logged = [i for i in clinic.table("MessagesTable").scan()["Items"] if i.get("kind") == "urgent_reply"]
    assert len(logged) == 1
    assert plaintext_leaks(clinic, [PATIENT, BLEEDING, "incision is bleeding"]) == []


def test_an_urgent_text_after_hours_gets_the_911_reply_instead_of_the_after_hours_one(clinic, clock) -> None:
    text(clinic, clock, SAT_2300, "no puedo respirar")
    [reply] = replies_to()
    assert "911" in reply and "Si es una emergencia" in reply  # Spanish, as the patient wrote
    assert conversation_in(clinic, "front-desk")["urgent"] is True
    text(clinic, clock, SAT_2300 + timedelta(minutes=20), "hello?")  # same closed period: nothing more
    assert len(replies_to()) == 1
    assert len(pages(clinic)) == 1


def test_the_sweep_re_escalates_until_a_staff_member_opens_it(clinic, clock) -> None:
    text(clinic, clock, MON_1000, BLEEDING)
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    assert len(pages(clinic)) == 1
    # The sweep's "now" is the scheduled time in its event, not the wall clock (two days later here).
    wall = MON_1000 + timedelta(days=2)
    result = sweep(clinic, clock, MON_1000 + timedelta(minutes=5), wall=wall)
    assert result["escalated"] == 0 and len(pages(clinic)) == 1  # not due yet (every 10 minutes)
    for minutes, expected in ((10, 2), (15, 2), (20, 3)):
        sweep(clinic, clock, MON_1000 + timedelta(minutes=minutes), wall=wall)
        assert len(pages(clinic)) == expected, minutes
    assert [p["message"]["attempt"] for p in pages(clinic)] == [1, 2, 3]
    assert conversation_in(clinic, "nursing")["escalations"] == 3

    _open_as_staff(clinic, cid, "nurse-ana", MON_1000 + timedelta(minutes=22))
    result = sweep(clinic, clock, MON_1000 + timedelta(minutes=30))
    assert result["escalation_ended"] == 1 and result["escalated"] == 0
    assert conversation_in(clinic, "nursing")["escalation_ended"] == "opened"
    sweep(clinic, clock, MON_1000 + timedelta(minutes=60))
    assert len(pages(clinic)) == 3  # stopped once opened


def test_escalation_is_bounded(clinic, clock) -> None:
    text(clinic, clock, MON_1000, BLEEDING)
    for minutes in range(10, 200, 10):
        sweep(clinic, clock, MON_1000 + timedelta(minutes=minutes))
    assert len(pages(clinic)) == 6  # EscalationMaxAttempts
    nursing = conversation_in(clinic, "nursing")
    assert nursing["escalation_ended"] == "exhausted"
    assert nursing["escalations"] == 6


def test_overdue_in_business_minutes_across_the_lunch_gap(clinic, clock) -> None:
    text(clinic, clock, MON_1150, "I need a refill of my prescription")
    # 11:50 + 30 business minutes: 10 before the 12:00-13:00 gap, 20 after it -> due at 13:20.
    result = sweep(clinic, clock, MON_1150 + timedelta(minutes=85))  # 13:15
    assert result["overdue_flagged"] == 0
    assert conversation_in(clinic, "nursing")["overdue"] is False
    result = sweep(clinic, clock, MON_1150 + timedelta(minutes=91))  # 13:21
    assert result["overdue_flagged"] == 1
    nursing = conversation_in(clinic, "nursing")
    assert nursing["overdue"] is True
    assert nursing["version"] == 3  # flagged by the scheduler (a change that makes no staff view stale)
    assert sweep(clinic, clock, MON_1150 + timedelta(minutes=120))["overdue_flagged"] == 0  # once


def test_the_sweep_refuses_an_event_without_its_time(clinic, clock) -> None:
    from shared.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as raised:
        clinic.functions["InboxSweepFunction"].invoke({"detail": {}})
    assert raised.value.field == "time"


def test_the_committed_sweep_sample_runs(clinic, clock) -> None:
    from infra.local import make_events

    event = json.loads((make_events.EVENTS_DIR / "inbox_sweep_scheduled.json").read_text(encoding="utf-8"))
    result = clinic.functions["InboxSweepFunction"].invoke(event)
    assert result == {
        "checked": 0,
        "overdue_flagged": 0,
        "escalated": 0,
        "escalation_ended": 0,
        "raced": 0,
        "anchored": None,
    }


def test_a_write_of_the_thread_never_puts_back_the_escalation_attempts_it_read(clinic, clock) -> None:
    """The sweep records a page beside the version; a staff or scheduler write made on an earlier read
    must keep it (a lost attempt count would page again, or never stop)."""
    from dataclasses import replace

    from infra.local.stack import function_environment
    from shared.inbox import wiring

    text(clinic, clock, MON_1000, BLEEDING)
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    with function_environment(clinic.functions["InboxSweepFunction"].environment):
        wiring.inbox_settings.cache_clear()
        wiring.conversation_store.cache_clear()
        store = wiring.conversation_store()
        read = store.get(cid)
        assert read is not None and read.escalation is not None and read.escalation.attempts == 1
        paged = replace(read.escalation, attempts=2, last_at=MON_1000 + timedelta(minutes=10))
        assert store.record_escalation(cid, paged, previous_attempts=1)  # the sweep, meanwhile
        flagged = read.conversation.set_overdue(True, MON_1000 + timedelta(minutes=31))
        store.save(replace(read, conversation=flagged), expected_version=read.conversation.version)
    item = conversation_in(clinic, "nursing")
    assert item["overdue"] is True and item["version"] == flagged.version
    assert item["escalations"] == 2
    assert item["escalated_at"] == "2027-03-01T18:10:00.000000Z"
