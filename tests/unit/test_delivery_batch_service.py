"""DeliveryStatusService.apply_all with in-memory fakes of its ports: a batch of reports is read once for
its opt-outs, written once, and answered line by line in order."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from infra.local.events import sns_delivery_log
from shared.core.errors import InvalidInput
from shared.core.models import ConsentEvent
from shared.delivery.domain import DeliveryResult, DeliveryStatusService, SnsDeliveryLog
from shared.messaging.ports import UNMATCHED, UPDATED, DeliveryReport, Recipients, Recorded

AT = datetime(2026, 11, 23, 17, 4, 5, tzinfo=UTC)
ANA = "+12065550101"
BEN = "+12065550102"


class Book:
    def __init__(self, sent_to: dict[str, str]) -> None:
        self.sent_to = sent_to
        self.reads: list[set[str]] = []
        self.writes: list[list[DeliveryReport]] = []

    def recipients(self, provider_message_ids: Collection[str]) -> Recipients:
        self.reads.append(set(provider_message_ids))
        return Recipients({p: self.sent_to[p] for p in provider_message_ids if p in self.sent_to}, retries=2)

    def record_deliveries(self, reports: Sequence[DeliveryReport]) -> Recorded:
        self.writes.append(list(reports))
        return Recorded(
            tuple(UPDATED if r.provider_message_id in self.sent_to else UNMATCHED for r in reports), 1
        )


class Ledger:
    def __init__(self) -> None:
        self.events: list[ConsentEvent] = []

    def record(self, event: ConsentEvent, phone_e164: str) -> None:
        self.events.append(event)


class Index:
    def phone(self, e164: str) -> str:
        return "hmac:" + e164


class Clock:
    def now(self) -> datetime:
        return AT


def parsed(provider_id: str, number: str, outcome: str) -> SnsDeliveryLog:
    return SnsDeliveryLog.parse(json.dumps(sns_delivery_log(provider_id, number, outcome, at=AT)))


def test_a_batch_reads_its_opt_outs_once_writes_once_and_answers_in_order() -> None:
    book = Book({"m-ana": "hmac:" + ANA, "m-ben": "hmac:" + BEN})
    ledger = Ledger()
    service = DeliveryStatusService(messages=book, consent=ledger, blind_index=Index(), clock=Clock())  # type: ignore[arg-type]
    logs = [
        parsed("m-ana", ANA, "delivered"),
        parsed("m-ben", ANA, "opted_out"),  # another number than Ben's text went to: refused
        parsed("m-ana", ANA, "opted_out"),
        parsed("m-gone", BEN, "opted_out"),  # not ours: the opt-out still reaches the ledger
    ]
    batch = service.apply_all(logs)
    assert book.reads == [{"m-ben", "m-ana", "m-gone"}]
    assert [[r.provider_message_id for r in w] for w in book.writes] == [["m-ana", "m-ana", "m-gone"]]
    first, refused, third, fourth = batch.results
    assert isinstance(refused, InvalidInput) and refused.field == "delivery.destination"
    assert first == DeliveryResult("m-ana", "delivered", UPDATED, None)
    assert third == DeliveryResult("m-ana", "opted_out", UPDATED, "opted_out_recorded")
    assert fourth == DeliveryResult("m-gone", "opted_out", UNMATCHED, "opted_out_recorded")
    assert [e.phone_hmac for e in ledger.events] == ["hmac:" + ANA, "hmac:" + BEN]
    assert batch.retries == 3  # the read's and the write's


def test_a_batch_without_opt_outs_reads_nothing() -> None:
    book = Book({"m-ana": "hmac:" + ANA})
    service = DeliveryStatusService(messages=book, consent=Ledger(), blind_index=Index(), clock=Clock())  # type: ignore[arg-type]
    batch = service.apply_all([parsed("m-ana", ANA, "unreachable")])
    assert book.reads == [] and len(book.writes) == 1
    assert batch.results == (DeliveryResult("m-ana", "failed", UPDATED, None),) and batch.retries == 1
