"""PatientInbox on in-memory fakes of its ports (no moto): races while landing, redelivery, pages that
fail, and what an opted-out number is owed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.core.errors import ConcurrentChange
from shared.core.models import Channel, InboundText
from shared.inbox.ports import AlreadyLanded, Escalation, InboxConversation, LandedAlready, Landing, Page
from shared.inbox.service import AFTER_HOURS, URGENT, InboxSettings, PatientInbox
from shared.outbound.pipeline import RetryLater
from tests.fakes import no_network

__all__ = ["no_network"]
pytestmark = pytest.mark.usefixtures("no_network")

MON_2200 = datetime(2027, 3, 2, 3, 0, tzinfo=UTC)  # Monday 22:00 in New York: closed (default hours)
MON_1000 = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)


class FakeStore:
    def __init__(self) -> None:
        self.records: dict[str, InboxConversation] = {}
        self.landed: dict[str, LandedAlready] = {}
        self.race_next_land = 0  # land() calls that lose a race (another text landed meanwhile)

    def get(self, conversation_id: str) -> InboxConversation | None:
        return self.records.get(conversation_id)

    def find(self, phone_hmac: str, department: str) -> InboxConversation | None:
        for record in self.records.values():
            c = record.conversation
            if c.phone_hmac == phone_hmac and c.department == department:
                return record
        return None

    def land(self, record: InboxConversation, landing: Landing, *, expected_version: int | None) -> None:
        if landing.message_id in self.landed:
            raise AlreadyLanded(self.landed[landing.message_id])
        if self.race_next_land:
            self.race_next_land -= 1
            raise ConcurrentChange("raced")
        current = self.find(record.conversation.phone_hmac, record.conversation.department)
        if (current.conversation.version if current else None) != expected_version:
            raise ConcurrentChange("stale")
        cid = record.conversation.conversation_id
        self.records[cid] = record
        self.landed[landing.message_id] = LandedAlready(
            cid, landing.reply, landing.reply_key, landing.language, landing.category
        )

    def save(self, record: InboxConversation, *, expected_version: int) -> None:
        self.records[record.conversation.conversation_id] = record

    def record_escalation(
        self, conversation_id: str, escalation: Escalation, *, previous_attempts: int | None
    ) -> bool:
        record = self.records[conversation_id]
        held = record.escalation.attempts if record.escalation else None
        if held != previous_attempts:
            return False
        self.records[conversation_id] = replace(record, escalation=escalation)
        return True

    def needing_attention(self, *, limit: int = 100, cursor: str | None = None) -> Page:
        return Page(list(self.records.values()))

    def all(self) -> dict[str, Any]:
        return {}

    def put(self, department: str, settings: Any) -> None:
        raise NotImplementedError


class FakePipeline:
    def __init__(self) -> None:
        self.sent: dict[str, str] = {}  # key -> body, claimed once
        self.retry_next = 0

    def send_one(self, text: Any, book: Any, *, seconds_left: float | None = None) -> str:
        if self.retry_next:
            self.retry_next -= 1
            raise RetryLater("throttled")
        if text.key in self.sent:
            return "already_claimed"
        self.sent[text.key] = text.body
        return "sent"


class FakePager:
    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []
        self.fail_next = 0

    def page(self, **message: Any) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("SNS unreachable")
        self.pages.append(message)


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def _inbox(store: FakeStore, pipeline: FakePipeline, pager: FakePager, at: datetime) -> PatientInbox:
    return PatientInbox(
        store=store,
        directory=store,
        pipeline=pipeline,  # type: ignore[arg-type]
        reply_book=object(),  # type: ignore[arg-type]
        pager=pager,
        clock=FixedClock(at),
        settings=InboxSettings(
            clinic_name="Riverside Family Clinic",
            default_department="front-desk",
            default_time_zone="America/New_York",
            staff_app_url="https://inbox.example.org/",
        ),
    )


def _text(body: str, at: datetime, message_id: str = "m1") -> InboundText:
    return InboundText(
        channel=Channel.AWS_SMS,
        provider_message_id=message_id,
        from_number="+12065550123",
        to_number="+12065550100",
        body=body,
        received_at=at,
    )


def test_a_text_that_loses_a_race_is_landed_again_on_the_new_version_once() -> None:
    store, pipeline, pager = FakeStore(), FakePipeline(), FakePager()
    store.race_next_land = 2
    outcome = _inbox(store, pipeline, pager, MON_2200).land(
        _text("hello", MON_2200), "h1", "m1", may_text=True
    )
    [record] = store.records.values()
    assert record.conversation.patient_messages == 1
    assert outcome.reply == AFTER_HOURS and len(pipeline.sent) == 1


def test_a_conversation_that_keeps_changing_is_retried_by_the_event_source() -> None:
    store = FakeStore()
    store.race_next_land = 10
    with pytest.raises(ConcurrentChange):
        _inbox(store, FakePipeline(), FakePager(), MON_2200).land(
            _text("hi", MON_2200), "h1", "m1", may_text=True
        )
    assert store.records == {}


def test_a_throttled_reply_is_sent_by_the_redelivery_under_the_same_key() -> None:
    store, pipeline, pager = FakeStore(), FakePipeline(), FakePager()
    inbox = _inbox(store, pipeline, pager, MON_2200)
    pipeline.retry_next = 1
    with pytest.raises(ConcurrentChange):  # transient: the event source retries the text
        inbox.land(_text("hello", MON_2200), "h1", "m1", may_text=True)
    assert pipeline.sent == {}
    outcome = inbox.land(_text("hello", MON_2200), "h1", "m1", may_text=True)
    assert outcome.replayed and outcome.reply_status == "sent" and len(pipeline.sent) == 1
    [record] = store.records.values()
    assert record.conversation.patient_messages == 1  # landed once
    inbox.land(_text("hello", MON_2200), "h1", "m1", may_text=True)  # and again: claimed already
    assert len(pipeline.sent) == 1


def test_an_opted_out_urgent_text_is_flagged_and_paged_but_gets_no_text() -> None:
    store, pipeline, pager = FakeStore(), FakePipeline(), FakePager()
    outcome = _inbox(store, pipeline, pager, MON_1000).land(
        _text("I can't breathe", MON_1000), "h1", "m1", may_text=False
    )
    assert outcome.urgent and outcome.reply is None and pipeline.sent == {}
    [record] = store.records.values()
    assert record.conversation.urgent and record.after_hours_key is None
    [page] = pager.pages
    assert page["category"] == "breathing" and page["link"].endswith(
        f"/conversations/{outcome.conversation_id}"
    )
    assert "//conversations" not in page["link"]


def test_a_failed_page_gives_its_attempt_back_and_the_redelivery_pages() -> None:
    store, pipeline, pager = FakeStore(), FakePipeline(), FakePager()
    inbox = _inbox(store, pipeline, pager, MON_1000)
    pager.fail_next = 1
    with pytest.raises(ConnectionError):
        inbox.land(_text("chest pain", MON_1000), "h1", "m1", may_text=True)
    [record] = store.records.values()
    assert record.escalation is not None and record.escalation.attempts == 0
    inbox.land(_text("chest pain", MON_1000), "h1", "m1", may_text=True)
    assert len(pager.pages) == 1 and pager.pages[0]["attempt"] == 1
    assert len(pipeline.sent) == 1  # the 911 reply once
    assert next(iter(store.records.values())).escalation.attempts == 1  # type: ignore[union-attr]


def test_an_urgent_reply_counts_for_the_closed_period() -> None:
    store, pipeline, pager = FakeStore(), FakePipeline(), FakePager()
    inbox = _inbox(store, pipeline, pager, MON_2200)
    first = inbox.land(_text("I took too many pills", MON_2200), "h1", "m1", may_text=True)
    second = inbox.land(_text("hello?", MON_2200 + timedelta(minutes=5), "m2"), "h1", "m2", may_text=True)
    assert first.reply == URGENT and second.reply is None
    assert len(pipeline.sent) == 1
