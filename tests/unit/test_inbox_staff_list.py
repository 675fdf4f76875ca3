"""The staff inbox on fakes (tests/fakes.py): each list item carries the number's consent state, read for
the whole page in one batch; the existing-open path of ``start()`` survives an unreadable contact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.core.clock import FixedClock
from shared.core.models import (
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
)
from shared.inbox.access import RequestOrigin, StaffIdentity
from shared.inbox.conversation import Conversation, new_conversation_id
from shared.inbox.ports import Contact, InboxConversation, contact_record_ref
from shared.inbox.service_staff import ListFilters, StaffInbox
from tests.fakes import (
    FakeAuditLog,
    FakeBlindIndex,
    FakeConsentLedger,
    FakeContactCipher,
    FakeConversationStore,
    FakeCounter,
    no_network,  # noqa: F401 - the fixture
)

pytestmark = pytest.mark.usefixtures("no_network")

T0 = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)
NURSE = StaffIdentity("u-nurse", "nina.nurse", frozenset({"nursing"}), False, "client")
ORIGIN = RequestOrigin("203.0.113.9", "pytest")
OPTED_IN, OPTED_OUT, NEVER, DAMAGED = "+12065550101", "+12065550102", "+12065550103", "+12065550104"


class Fixture:
    def __init__(self) -> None:
        self.store = FakeConversationStore()
        self.consent = FakeConsentLedger()
        self.index = FakeBlindIndex()
        self.cipher = FakeContactCipher()
        self.counter = FakeCounter()
        self.sent: list[Any] = []
        self.inbox = StaffInbox(
            store=self.store,  # type: ignore[arg-type]
            audit=FakeAuditLog(),
            departments=frozenset({"nursing", "billing"}),
            clock=FixedClock(T0 + timedelta(hours=1)),
            cipher=self.cipher,
            consent=self.consent,
            blind_index=self.index,
            send=self._send,
            counter=self.counter,
        )

    def _send(self, text: Any) -> str:
        self.sent.append(text)
        return "sent"

    def conversation(self, number: str, minutes: int, department: str = "nursing") -> str:
        cid = new_conversation_id()
        at = T0 + timedelta(minutes=minutes)
        c = Conversation.start(
            conversation_id=cid, phone_hmac=self.index.phone(number), department=department, at=at
        ).receive_patient_text(at)
        sealed = self.cipher.encrypt(contact_record_ref(cid), Contact(number, None).payload())
        self.store.records[cid] = InboxConversation(c, contact_ct=sealed)
        return cid

    def consent_to(self, number: str, action: ConsentAction) -> None:
        event = ConsentEvent(
            event_id=f"e-{number}-{action.value}",
            phone_hmac=self.index.phone(number),
            action=action,
            at=T0,
            recorded_at=T0,
            channel=Channel.AWS_SMS,
            source=ConsentSource.KEYWORD,
        )
        self.consent.record(event, number)


@pytest.fixture
def clinic() -> Fixture:
    f = Fixture()
    f.consent_to(OPTED_IN, ConsentAction.OPT_IN)
    f.consent_to(OPTED_OUT, ConsentAction.OPT_IN)
    f.consent_to(OPTED_OUT, ConsentAction.OPT_OUT)
    f.consent_to(DAMAGED, ConsentAction.OPT_IN)
    f.consent.damage(f.index.phone(DAMAGED))
    return f


def test_each_list_item_carries_its_numbers_consent_state_read_in_one_batch(clinic: Fixture) -> None:
    ids = {n: clinic.conversation(n, i) for i, n in enumerate((OPTED_IN, OPTED_OUT, NEVER, DAMAGED))}
    clinic.conversation(OPTED_OUT, 9, department="billing")  # not the nurse's: not listed, not read
    reads_before = clinic.consent.state_reads
    items, _cursor = clinic.inbox.list_conversations(NURSE, ORIGIN, ListFilters())
    consent = {item["id"]: item["consent"] for item in items}
    assert consent == {
        ids[OPTED_IN]: "opted_in",
        ids[OPTED_OUT]: "opted_out",
        ids[NEVER]: "unknown",
        ids[DAMAGED]: "unreadable",  # a damaged record shows as such, never as opted in
    }
    assert clinic.consent.batch_reads == 1 and clinic.consent.state_reads == reads_before


def test_an_empty_page_reads_no_consent(clinic: Fixture) -> None:
    items, _cursor = clinic.inbox.list_conversations(NURSE, ORIGIN, ListFilters())
    assert items == [] and clinic.consent.batch_reads == 0


def test_a_number_the_ledger_does_not_answer_for_lists_as_unreadable(clinic: Fixture) -> None:
    """A ledger whose batch answer leaves a number out (an adapter that dropped it) must not make the
    item look sendable: it shows unreadable."""
    cid = clinic.conversation(OPTED_IN, 0)
    clinic.consent.states = lambda phone_hmacs: {}  # type: ignore[method-assign]
    [item], _cursor = clinic.inbox.list_conversations(NURSE, ORIGIN, ListFilters())
    assert item["id"] == cid and item["consent"] == "unreadable"


class ThrottledTable:
    """A ConsentTable whose BatchGetItem answers the first key and leaves the rest unprocessed."""

    name = "ConsentTable"

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.requests: list[list[str]] = []
        self.meta = self
        self.client = self

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        keys = RequestItems[self.name]["Keys"]
        assert RequestItems[self.name]["ConsistentRead"] is True
        self.requests.append([k["pk"] for k in keys])
        [first, *rest] = keys
        found = [self.items[first["pk"]]] if first["pk"] in self.items else []
        unprocessed = {self.name: {"Keys": rest, "ConsistentRead": True}} if rest else {}
        return {"Responses": {self.name: found}, "UnprocessedKeys": unprocessed}


def test_the_ledgers_batch_read_asks_again_for_unprocessed_keys_and_never_guesses_the_rest() -> None:
    from shared.consent.store import BATCH_GET_ATTEMPTS, DynamoConsentLedger

    opted_out = {
        "pk": "a" * 64,
        "sk": "STATE",
        "status": "opted_out",
        "version": Decimal(2),
        "updated_at": "2027-03-01T18:00:00.000000Z",
    }
    table = ThrottledTable({"a" * 64: opted_out})
    counter = FakeCounter()
    ledger = DynamoConsentLedger(table, FakeContactCipher(), counter=counter, sleep=lambda _s: None)
    numbers = ["a" * 64, "b" * 64, "c" * 64, "d" * 64, "b" * 64]
    states = ledger.states(numbers)
    # asked once for the four distinct keys, then again for what was left, up to the bound
    assert table.requests[0] == ["a" * 64, "b" * 64, "c" * 64, "d" * 64]
    assert len(table.requests) == BATCH_GET_ATTEMPTS
    assert states["a" * 64].status.value == "opted_out"
    assert states["b" * 64].status.value == "unknown"  # read (no item) on the second round
    assert states["c" * 64].status.value == "unknown"  # read on the third
    assert states["d" * 64].status.value == "unreadable"  # never read: not shown as any state it may lack
    assert counter.counts["ConsentBatchUnprocessed"] == 3 + 2 + 1


# -- start() with a number that has a conversation already ---------------------------------------------
def damage_contact(clinic: Fixture, cid: str) -> None:
    record = clinic.store.records[cid]
    other = clinic.cipher.encrypt(contact_record_ref("c_" + "B" * 22), Contact(OPTED_IN).payload())
    clinic.store.records[cid] = replace(record, contact_ct=other)  # sealed for another record


def test_starting_with_a_number_whose_open_conversation_contact_cannot_be_opened_is_no_500(
    clinic: Fixture,
) -> None:
    """The existing-open path of start() opened the contact unguarded: IntegrityError (a 500) instead of
    the conversation, as the list path shows it (no name or number, counted)."""
    cid = clinic.conversation(OPTED_IN, 0)
    damage_contact(clinic, cid)
    shown, sent, created = clinic.inbox.start(
        NURSE, ORIGIN, phone=OPTED_IN, department="nursing", body="Hello from the clinic"
    )
    assert (shown["id"], sent, created) == (cid, None, False)
    assert shown["masked_number"] is None and shown["first_name"] is None
    assert clinic.sent == [] and clinic.counter.counts["InboxContactUnreadable"] == 1


def test_reopening_a_closed_conversation_whose_contact_cannot_be_opened_reseals_it(clinic: Fixture) -> None:
    """A closed conversation with an unreadable contact, reopened by a staff start: the text goes to the
    number typed (its blind index is the conversation's), and the contact is sealed again from it, so the
    answer (and later lists) show it instead of failing after the text went out."""
    cid = clinic.conversation(OPTED_IN, 0)
    record = clinic.store.records[cid]
    c = record.conversation
    closed = c.close(by="u-nurse", expected_version=c.version, at=T0 + timedelta(minutes=5))
    clinic.store.records[cid] = replace(record, conversation=closed)
    damage_contact(clinic, cid)
    shown, sent, created = clinic.inbox.start(
        NURSE, ORIGIN, phone=OPTED_IN, department="nursing", body="Hello from the clinic"
    )
    assert (shown["id"], created, sent and sent["status"]) == (cid, True, "sent")
    assert shown["masked_number"] == "***-***-0101"
    [text] = clinic.sent
    assert text.phone == OPTED_IN
    [item], _cursor = clinic.inbox.list_conversations(NURSE, ORIGIN, ListFilters())
    assert item["masked_number"] == "***-***-0101"


def test_metrics_count_a_started_conversation_in_time_to_close_and_as_staff_started(clinic: Fixture) -> None:
    clinic.conversation(OPTED_IN, 0)  # a patient's, waiting
    shown, _sent, created = clinic.inbox.start(
        NURSE, ORIGIN, phone=NEVER, department="nursing", body="Hello from the clinic"
    )
    assert created
    started = clinic.store.records[shown["id"]].conversation
    assert started.started_by_staff and not clinic.store.records[shown["id"]].conversation.first_inbound_at
    closed = started.close(
        by="u-nurse", expected_version=started.version, at=T0 + timedelta(hours=1, minutes=30)
    )
    clinic.store.records[shown["id"]] = replace(clinic.store.records[shown["id"]], conversation=closed)
    answer = clinic.inbox.metrics(
        NURSE, ORIGIN, department="nursing", first=T0.date(), last=T0.date(), granularity=None
    )
    [period] = answer["departments"][0]["periods"]
    assert (period["conversations"], period["patient_started"], period["staff_started"]) == (2, 1, 1)
    assert period["closed"] == 1 and period["time_to_close_minutes"]["median"] == 30.0
    assert period["answered"] == 0 and period["awaiting"] == 1


@pytest.mark.parametrize(
    ("item", "staff"),
    [
        ({"started_by": "staff", "created_at": "2027-03-01T18:00:00.000000Z"}, True),
        ({"started_by": "patient", "created_at": "2027-03-01T18:00:00.000000Z"}, False),
        # written before started_by: a patient's first text creates the conversation at that instant
        (
            {"created_at": "2027-03-01T18:00:00.000000Z", "first_inbound_at": "2027-03-01T18:00:00.000000Z"},
            False,
        ),
        (
            {"created_at": "2027-03-01T18:00:00.000000Z", "first_inbound_at": "2027-03-01T18:15:00.000000Z"},
            True,
        ),
        ({"created_at": "2027-03-01T18:00:00.000000Z"}, True),
    ],
)
def test_who_started_a_stored_conversation(item: dict[str, str], staff: bool) -> None:
    from shared.inbox.store import _started_by_staff

    assert _started_by_staff(item) is staff


def test_a_reply_in_a_conversation_whose_contact_cannot_be_opened_is_no_500(clinic: Fixture) -> None:
    """reply() opened the contact unguarded too: IntegrityError (a 500). The text now goes through the
    pipeline without the sealed number, which falls back to the number the consent ledger holds (or
    stops it as no_number), and the contact failure is counted."""
    cid = clinic.conversation(OPTED_IN, 0)
    damage_contact(clinic, cid)
    version = clinic.store.records[cid].conversation.version
    shown, sent = clinic.inbox.reply(NURSE, ORIGIN, cid, version, "We will call you shortly.")
    [text] = clinic.sent
    assert text.phone is None and text.phone_hmac == clinic.index.phone(OPTED_IN)
    assert sent["status"] == "sent" and shown["staff_replies"] == 1
    assert clinic.counter.counts["InboxContactUnreadable"] == 1
