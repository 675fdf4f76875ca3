"""InboundService on in-memory fakes (tests/fakes.py): keywords, plain-words revocation, reminder answers,
redelivery and a damaged consent state, with no moto and no network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.clock import FixedClock
from shared.core.errors import SendRejected, SendThrottled
from shared.core.models import (
    Channel,
    ConsentStatus,
    Direction,
    InboundKind,
    InboundText,
    RoutedReply,
)
from shared.inbound.domain import InboundService, ReplyVia, record_opt_out_last_resort
from shared.templates.replies import ReplyBook
from tests.fakes import (
    FakeBlindIndex,
    FakeCarrierOptOutList,
    FakeConsentLedger,
    FakeCounter,
    FakeMessageLog,
    FakeReminderRouter,
    FakeSmsSender,
    no_network,
)

__all__ = ["no_network"]  # the fixture, used by every test here

PATIENT = "+12065550123"
CLINIC = "+12065550100"
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
REPLIES = ReplyBook(clinic_name="Riverside Family Clinic", support_contact="help@riverside.example")

pytestmark = pytest.mark.usefixtures("no_network")


@dataclass
class World:
    service: InboundService
    consent: FakeConsentLedger
    messages: FakeMessageLog
    sender: FakeSmsSender
    carrier: FakeCarrierOptOutList
    router: FakeReminderRouter
    clock: FixedClock
    counter: FakeCounter
    index: FakeBlindIndex

    @property
    def patient(self) -> str:
        return self.index.phone(PATIENT)

    def status(self) -> ConsentStatus:
        return self.consent.state(self.patient).status


@pytest.fixture
def world() -> World:
    index, consent, messages = FakeBlindIndex(), FakeConsentLedger(), FakeMessageLog()
    sender, carrier, clock, counter = FakeSmsSender(), FakeCarrierOptOutList(), FixedClock(NOW), FakeCounter()
    router = FakeReminderRouter(
        {
            "C": RoutedReply(InboundKind.CONFIRM, REPLIES.confirmed(), "appt-1"),
            "R": RoutedReply(InboundKind.RESCHEDULE, REPLIES.reschedule(), "appt-1"),
        }
    )
    service = InboundService(
        blind_index=index,
        consent=consent,
        messages=messages,
        sender=sender,
        carrier_optouts=carrier,
        replies=REPLIES,
        clock=clock,
        router=router,
        counter=counter,
    )
    return World(service, consent, messages, sender, carrier, router, clock, counter, index)


_sequence = iter(range(1, 1_000_000))


def text(body: str, *, message_id: str | None = None, at: datetime | None = None, channel=Channel.AWS_SMS):
    return InboundText(
        channel=channel,
        provider_message_id=message_id or f"msg-{next(_sequence)}",
        from_number=PATIENT,
        to_number=CLINIC,
        body=body,
        received_at=at or NOW,
    )


# -- STOP / START / HELP --------------------------------------------------------------------------


def test_stop_opts_out_and_confirms_once_from_the_number_texted(world):
    outcome = world.service.handle(text("STOP"))
    assert outcome.kind is InboundKind.OPT_OUT and outcome.reply_via is ReplyVia.SNS
    assert world.status() is ConsentStatus.OPTED_OUT
    [sent] = world.sender.sent
    assert sent.to == PATIENT and sent.origination == CLINIC and "unsubscribed" in sent.body
    [event] = world.consent.events(world.patient)
    assert event.keyword == "STOP" and event.source.value == "keyword"

    second = world.service.handle(text("stop", at=NOW + timedelta(minutes=1)))
    assert second.reply is None  # recorded, not answered a second time
    assert len(world.sender.sent) == 1
    assert len(world.consent.events(world.patient)) == 2
    assert world.counter.counts["OptOuts"] == 2


def test_start_opts_back_in_with_the_ctia_confirmation(world):
    world.service.handle(text("STOP"))
    outcome = world.service.handle(text("START", at=NOW + timedelta(minutes=5)))
    assert outcome.kind is InboundKind.OPT_IN
    assert world.status() is ConsentStatus.OPTED_IN
    body = world.sender.sent[-1].body
    assert "Msg&data rates may apply" in body and "STOP" in body and "HELP" in body
    assert outcome.carrier_sync == "not_on_carrier_list"


def test_start_readmits_on_the_carrier_list_once_per_30_days(world):
    world.carrier.opted_out.add(PATIENT)
    first = world.service.handle(text("START"))
    assert first.carrier_sync == "readmitted" and world.carrier.readmitted == [PATIENT]
    world.carrier.opted_out.add(PATIENT)  # the carrier opted the number out again
    world.clock.advance(days=10)
    second = world.service.handle(text("START", at=world.clock.now()))
    assert second.carrier_sync == "readmit_blocked_30_day_limit"
    assert world.carrier.readmitted == [PATIENT]
    world.clock.advance(days=21)
    third = world.service.handle(text("START", at=world.clock.now()))
    assert third.carrier_sync == "readmitted" and len(world.carrier.readmitted) == 2


def test_a_carrier_list_that_cannot_be_checked_still_records_the_opt_in(world):
    world.carrier.broken = True
    outcome = world.service.handle(text("START"))
    assert outcome.carrier_sync == "carrier_check_failed"
    assert world.status() is ConsentStatus.OPTED_IN


def test_help_is_answered_whether_or_not_the_number_is_subscribed(world):
    world.service.handle(text("STOP"))
    outcome = world.service.handle(text("HELP", at=NOW + timedelta(minutes=1)))
    assert outcome.kind is InboundKind.HELP
    assert "help@riverside.example" in outcome.reply and "STOP" in outcome.reply
    assert world.status() is ConsentStatus.OPTED_OUT  # HELP changes no consent
    assert len(world.sender.sent) == 2


def test_twilio_replies_go_back_as_twiml_and_nothing_is_published(world):
    outcome = world.service.handle(text("STOP", channel=Channel.TWILIO))
    assert outcome.reply_via is ReplyVia.TWIML and outcome.reply_status == "returned_as_twiml"
    assert world.sender.sent == []
    assert world.status() is ConsentStatus.OPTED_OUT


# -- plain words and unclear ----------------------------------------------------------------------


def test_plain_words_revocation_opts_out_with_one_confirmation(world):
    outcome = world.service.handle(text("please stop texting me"))
    assert outcome.kind is InboundKind.OPT_OUT
    assert world.status() is ConsentStatus.OPTED_OUT
    assert "unsubscribed" in outcome.reply
    [event] = world.consent.events(world.patient)
    assert event.keyword == "phrase:stop_texting"


def test_a_spanish_revocation_is_confirmed_in_spanish(world):
    outcome = world.service.handle(text("deja de enviarme mensajes"))
    assert outcome.kind is InboundKind.OPT_OUT and "Se dio de baja" in outcome.reply


def test_an_unclear_reply_pauses_texts_and_gets_the_one_clarification(world):
    outcome = world.service.handle(text("stop it"))
    assert outcome.kind is InboundKind.OPT_OUT_UNCLEAR
    assert world.status() is ConsentStatus.OPTED_OUT  # no answer means revoked
    assert "paused" in outcome.reply and "START" in outcome.reply
    again = world.service.handle(text("stop it", at=NOW + timedelta(minutes=2)))
    assert again.reply is None and len(world.sender.sent) == 1


def test_words_that_only_contain_an_opt_out_word_are_kept_for_staff(world):
    outcome = world.service.handle(text("I need to cancel my appointment"))
    assert outcome.kind is InboundKind.OTHER and outcome.reply is None
    assert world.status() is ConsentStatus.UNKNOWN
    [stored] = world.messages.all()
    assert stored.direction is Direction.INBOUND and stored.kind == "other"


# -- reminder answers -----------------------------------------------------------------------------


def test_a_reminder_answer_is_confirmed_and_linked_to_its_appointment(world):
    outcome = world.service.handle(text("C"))
    assert outcome.kind is InboundKind.CONFIRM and outcome.appointment_id == "appt-1"
    assert world.sender.to(PATIENT) == [REPLIES.confirmed()]
    kinds = sorted((m.direction.value, m.kind, m.appointment_id) for m in world.messages.all())
    assert kinds == [("inbound", "confirm", "appt-1"), ("outbound", "reply_confirm", "appt-1")]


@pytest.mark.parametrize("opt_out", ["STOP", "stop it"])
def test_a_reminder_answer_after_an_opt_out_is_recorded_and_not_answered(world, opt_out):
    world.service.handle(text(opt_out))
    sent = len(world.sender.sent)
    outcome = world.service.handle(text("C", at=NOW + timedelta(minutes=3)))
    assert outcome.kind is InboundKind.CONFIRM and outcome.reply is None
    assert len(world.sender.sent) == sent
    assert any(m.kind == "confirm" for m in world.messages.all())  # the answer itself is kept


def test_a_reminder_answer_over_a_damaged_state_is_not_answered(world):
    world.consent.damage(world.patient)
    outcome = world.service.handle(text("R"))
    assert outcome.kind is InboundKind.RESCHEDULE and outcome.reply is None
    assert world.sender.sent == []


def test_an_opt_out_word_is_never_handed_to_the_reminder_router(world):
    world.router.answers["CANCEL"] = RoutedReply(InboundKind.RESCHEDULE, "rescheduling", "appt-1")
    outcome = world.service.handle(text("CANCEL"))
    assert outcome.kind is InboundKind.OPT_OUT and world.router.seen == []


# -- redelivery -----------------------------------------------------------------------------------


def test_a_redelivered_stop_records_one_event_and_sends_one_confirmation(world):
    first = world.service.handle(text("STOP", message_id="sns-1"))
    again = world.service.handle(text("STOP", message_id="sns-1"))
    assert first.message_id == again.message_id
    assert len(world.consent.events(world.patient)) == 1
    assert len(world.sender.sent) == 1 and again.reply is None
    assert len(world.messages.all()) == 2  # the text and its reply, once each


def test_a_redelivered_other_text_is_logged_once(world):
    world.service.handle(text("see you then", message_id="sns-7"))
    world.service.handle(text("see you then", message_id="sns-7"))
    assert len(world.messages.all()) == 1


def test_a_throttled_confirmation_is_raised_for_the_retry_and_the_retry_confirms_once(world):
    world.sender.fail_next(SendThrottled("slow down"))
    with pytest.raises(SendThrottled):
        world.service.handle(text("STOP", message_id="sns-2"))
    assert world.status() is ConsentStatus.OPTED_OUT  # recorded before the reply was tried
    retry = world.service.handle(text("STOP", message_id="sns-2"))
    assert retry.reply is not None and len(world.sender.sent) == 1
    third = world.service.handle(text("STOP", message_id="sns-2"))
    assert third.reply is None and len(world.sender.sent) == 1


def test_a_rejected_reply_is_logged_with_its_reason_and_not_raised(world):
    world.sender.fail_next(SendRejected("invalid number"))
    outcome = world.service.handle(text("HELP"))
    assert outcome.reply_status == "rejected:invalid number"
    [reply] = [m for m in world.messages.all() if m.direction is Direction.OUTBOUND]
    assert reply.status == "rejected:invalid number"


# -- damaged consent state ------------------------------------------------------------------------


def test_stop_over_a_damaged_state_repairs_it_and_confirms(world):
    world.consent.damage(world.patient)
    outcome = world.service.handle(text("STOP"))
    assert world.status() is ConsentStatus.OPTED_OUT
    assert outcome.reply is not None and "unsubscribed" in outcome.reply


def test_the_patients_own_start_over_a_damaged_state_opts_in(world):
    world.consent.damage(world.patient)
    world.service.handle(text("START"))
    assert world.status() is ConsentStatus.OPTED_IN


def test_an_older_stop_does_not_lose_to_a_newer_start_but_is_on_the_ledger(world):
    world.service.handle(text("START", at=NOW))
    world.service.handle(text("STOP", at=NOW - timedelta(minutes=1)))  # arrived late
    assert world.status() is ConsentStatus.OPTED_IN
    assert [e.action.value for e in world.consent.events(world.patient)] == ["opt_out", "opt_in"]


def test_the_last_resort_path_records_the_same_event_as_handle(world):
    stop = text("STOP", message_id="sns-9")
    last = record_opt_out_last_resort(
        stop, consent=world.consent, blind_index=world.index, clock=world.clock, replies=REPLIES
    )
    assert last.recorded and last.reply is not None
    outcome = world.service.handle(stop)  # the redelivery after the last resort
    assert len(world.consent.events(world.patient)) == 1
    assert outcome.reply is not None  # the reply was never logged, so the one confirmation is still owed
    assert record_opt_out_last_resort(
        text("hello", message_id="sns-10"),
        consent=world.consent,
        blind_index=world.index,
        clock=world.clock,
        replies=REPLIES,
    ) == type(last)(False)


def test_the_last_resort_path_reports_a_ledger_it_cannot_reach(world):
    world.consent.unavailable = True
    last = record_opt_out_last_resort(
        text("STOP"), consent=world.consent, blind_index=world.index, clock=world.clock, replies=REPLIES
    )
    assert not last.recorded and last.reply is None
