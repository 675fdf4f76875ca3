"""Issue 12: outside a department's hours a patient's text gets one after-hours reply per closed period
per conversation (split-shift gap, overnight, holiday), never during hours, never to an opted-out number,
and always through the outbound pipeline (claim, message log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.inbox_helpers import (
    clinic_departments,
    conversation_in,
    frozen_clock,
    replies_to,
    text,
)

# Los Angeles is UTC-8 in early March 2027. Nursing: Mon-Fri 08:30-12:00 and 13:00-17:00, closed on
# Wednesday 2027-03-03 (a holiday).
MON_1215 = datetime(2027, 3, 1, 20, 15, tzinfo=UTC)  # the lunch gap
MON_1240 = datetime(2027, 3, 1, 20, 40, tzinfo=UTC)
MON_1330 = datetime(2027, 3, 1, 21, 30, tzinfo=UTC)  # open again
MON_1800 = datetime(2027, 3, 2, 2, 0, tzinfo=UTC)  # closed for the night
MON_2300 = datetime(2027, 3, 2, 7, 0, tzinfo=UTC)
TUE_0700 = datetime(2027, 3, 2, 15, 0, tzinfo=UTC)  # same night's closed period
TUE_1000 = datetime(2027, 3, 2, 18, 0, tzinfo=UTC)
WED_1000 = datetime(2027, 3, 3, 18, 0, tzinfo=UTC)  # the holiday
WED_1500 = datetime(2027, 3, 3, 23, 0, tzinfo=UTC)
REFILL = "I need a refill of my prescription please"


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MON_1215)


@pytest.fixture
def clinic(stack):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    return stack


def test_the_lunch_gap_of_a_split_shift_gets_one_reply_saying_when_it_opens(clinic, clock) -> None:
    text(clinic, clock, MON_1215, REFILL)
    [reply] = replies_to()
    assert reply.startswith("Riverside Family Clinic: ")
    assert "today at 1:00 PM" in reply and "911" in reply
    text(clinic, clock, MON_1240, "also my incision question")  # the same closed period
    assert len(replies_to()) == 1
    text(clinic, clock, MON_1330, "are you there? about the refill")  # open: staff answer
    assert len(replies_to()) == 1
    nursing = conversation_in(clinic, "nursing")
    assert nursing["patient_messages"] == 3
    assert nursing["after_hours_key"].startswith("2027-03-01T20:00:00")  # the gap's bounds (12:00 local)


def test_overnight_one_reply_for_the_whole_night_and_another_the_next_night(clinic, clock) -> None:
    for at in (MON_1800, MON_2300, TUE_0700):
        text(clinic, clock, at, REFILL)
    [reply] = replies_to()
    assert "tomorrow at 8:30 AM" in reply
    text(clinic, clock, TUE_1000, REFILL)  # open
    assert len(replies_to()) == 1
    text(clinic, clock, WED_1000, REFILL)  # Tuesday night runs into the holiday: a new closed period
    replies = replies_to()
    assert len(replies) == 2
    assert "tomorrow at 8:30 AM" in replies[1]  # Wednesday 10:00 is closed: Thursday is tomorrow
    text(clinic, clock, WED_1500, REFILL)  # still the holiday's closed period
    assert len(replies_to()) == 2


def test_no_reply_during_hours(clinic, clock) -> None:
    text(clinic, clock, MON_1330, REFILL)
    text(clinic, clock, TUE_1000, "and my bill")  # billing: 09:00-17:00, open at 10:00
    assert replies_to() == []


def test_never_to_an_opted_out_number(clinic, clock) -> None:
    text(clinic, clock, MON_1215 - timedelta(minutes=5), "STOP")
    assert len(replies_to()) == 1  # the opt-out confirmation
    text(clinic, clock, MON_1215, REFILL)
    text(clinic, clock, MON_1800, REFILL)
    assert len(replies_to()) == 1
    nursing = conversation_in(clinic, "nursing")
    assert nursing["patient_messages"] == 2  # staff still see the texts
    assert "after_hours_key" not in nursing  # no period spent on a reply that never went


def test_a_patient_who_opts_back_in_gets_the_reply_for_the_next_text(clinic, clock) -> None:
    text(clinic, clock, MON_1215 - timedelta(minutes=10), "STOP")
    text(clinic, clock, MON_1215 - timedelta(minutes=5), "START")
    text(clinic, clock, MON_1215, REFILL)
    assert "today at 1:00 PM" in replies_to()[-1]


def test_the_reply_goes_through_the_outbound_pipeline_once(clinic, clock) -> None:
    text(clinic, clock, MON_1800, REFILL, message_id="in-7")
    # A late redelivery (its idempotency record expired) lands nothing and sends nothing more.
    table = clinic.table("IdempotencyTable")
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})
    text(clinic, clock, MON_1800, REFILL, message_id="in-7")
    assert len(replies_to()) == 1
    claims = [i for i in clinic.table("ConversationsTable").scan()["Items"] if i["pk"].startswith("reply#")]
    assert [(c["status"], c["kind"]) for c in claims] == [("sent", "after_hours_reply")]
    logged = [
        i for i in clinic.table("MessagesTable").scan()["Items"] if i.get("kind") == "after_hours_reply"
    ]
    assert len(logged) == 1 and logged[0]["direction"] == "outbound" and "body_ct" in logged[0]
    nursing = conversation_in(clinic, "nursing")
    refs = [
        i
        for i in clinic.table("ConversationsTable").scan()["Items"]
        if i["pk"] == nursing["conversation_id"] and i["sk"].startswith("msg#")
    ]
    assert sorted(r["direction"] for r in refs) == ["inbound", "outbound"]
