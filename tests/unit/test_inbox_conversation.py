"""The conversation model's pure transitions, and the stale-version races between staff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import Conflict, InvalidInput
from shared.inbox.conversation import (
    MATERIAL,
    AssigneeKind,
    ChangeKind,
    Conversation,
    ConversationStatus,
    InvalidTransition,
    StaffMember,
    StaleVersion,
    is_conversation_id,
    new_conversation_id,
)
from tests.fakes import FakeBlindIndex, no_network

__all__ = ["no_network"]
pytestmark = pytest.mark.usefixtures("no_network")

T0 = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
PATIENT = "+12065550123"
DEPARTMENTS = {"nursing", "billing", "front-desk"}
ANA = StaffMember("ana", frozenset({"nursing"}))
BO = StaffMember("bo", frozenset({"nursing", "front-desk"}))
CY = StaffMember("cy", frozenset({"billing"}))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def conversation() -> Conversation:
    return Conversation.start(
        conversation_id=new_conversation_id(),
        phone_hmac=FakeBlindIndex().phone(PATIENT),
        department="nursing",
        at=T0,
    )


def with_text() -> Conversation:
    return conversation().receive_patient_text(at(1))


# -- ids ------------------------------------------------------------------------------------------


def test_ids_are_opaque_random_and_unrelated_to_the_number():
    ids = {new_conversation_id() for _ in range(200)}
    assert len(ids) == 200 and all(is_conversation_id(i) for i in ids)
    one, two = conversation(), conversation()  # the same number twice: nothing in common but the index
    assert one.phone_hmac == two.phone_hmac and one.conversation_id != two.conversation_id
    assert "0123" not in one.conversation_id and PATIENT not in repr(one)


@pytest.mark.parametrize("bad", ["", "c_short", "conversation-1", "c_" + "x" * 21 + "!", None])
def test_start_refuses_an_id_that_is_not_opaque(bad):
    with pytest.raises(ValueError):
        Conversation.start(conversation_id=bad, phone_hmac="h", department="nursing", at=T0)


def test_a_new_conversation_is_open_on_its_departments_queue_at_version_1():
    c = conversation()
    assert c.status is ConversationStatus.OPEN and c.version == 1
    assert (c.assignee.kind, c.assignee.id) == (AssigneeKind.DEPARTMENT, "nursing")
    assert c.first_inbound_at is None and not c.unread_for("ana")


# -- the patient ----------------------------------------------------------------------------------


def test_a_patient_text_counts_stamps_and_is_unread_for_everyone():
    c = with_text()
    assert c.version == 2 and c.patient_messages == 1
    assert c.first_inbound_at == c.last_inbound_at == c.awaiting_reply_since == at(1)
    assert c.last_activity_at == at(1)
    assert c.unread_for("ana") and c.unread_for("bo")
    later = c.receive_patient_text(at(5))
    assert later.first_inbound_at == at(1) and later.awaiting_reply_since == at(1)
    assert later.last_inbound_at == at(5) and later.patient_messages == 2


def test_a_patient_text_reopens_a_closed_conversation():
    c = with_text()
    closed = c.close(by="ana", expected_version=c.version, at=at(2))
    again = closed.receive_patient_text(at(30))
    assert again.status is ConversationStatus.OPEN and again.closed_at is None
    assert again.history[-1].kind is ChangeKind.PATIENT_MESSAGE and again.history[-1].detail == "reopened"


def test_a_late_patient_text_does_not_move_last_activity_back():
    c = with_text().receive_patient_text(at(10)).receive_patient_text(at(3))
    assert c.last_inbound_at == at(10) and c.last_activity_at == at(10)


# -- replies --------------------------------------------------------------------------------------


def test_the_first_reply_stamps_the_first_response_once_and_clears_awaiting():
    c = with_text()
    replied = c.staff_reply(by="ana", expected_version=c.version, at=at(20))
    assert replied.first_response_at == at(20) and replied.awaiting_reply_since is None
    assert replied.staff_replies == 1 and replied.version == c.version + 1
    assert not replied.unread_for("ana") and replied.unread_for("bo")
    again = replied.staff_reply(by="bo", expected_version=replied.version, at=at(25))
    assert again.first_response_at == at(20) and again.staff_replies == 2


def test_a_reply_before_any_patient_text_is_no_first_response():
    c = conversation()
    assert c.staff_reply(by="ana", expected_version=1, at=at(1)).first_response_at is None


def test_a_reply_to_a_closed_conversation_is_refused():
    c = with_text()
    closed = c.close(by="ana", expected_version=c.version, at=at(2))
    with pytest.raises(InvalidTransition):
        closed.staff_reply(by="ana", expected_version=closed.version, at=at(3))


def test_two_staff_replying_on_the_same_version_exactly_one_wins():
    view = with_text()
    outcomes = []
    current = view
    for who in ("ana", "bo"):
        try:
            current = current.staff_reply(by=who, expected_version=view.version, at=at(5))
            outcomes.append(who)
        except StaleVersion as stale:
            outcomes.append(stale)
    assert outcomes[0] == "ana" and isinstance(outcomes[1], StaleVersion)
    stale = outcomes[1]
    assert stale.expected == view.version and stale.current_version == view.version + 1
    assert [(c.kind, c.by) for c in stale.changes] == [(ChangeKind.STAFF_REPLY, "ana")]
    assert current.staff_replies == 1 and isinstance(stale, Conflict)


def test_a_reply_on_a_view_older_than_a_new_patient_text_is_told_about_it():
    view = with_text()
    moved = view.receive_patient_text(at(3))
    with pytest.raises(StaleVersion) as caught:
        moved.staff_reply(by="ana", expected_version=view.version, at=at(4))
    assert [c.kind for c in caught.value.changes] == [ChangeKind.PATIENT_MESSAGE]
    assert "patient_message" in str(caught.value)


def test_an_assignment_on_a_stale_view_is_refused_with_the_new_assignee():
    view = with_text()
    taken = view.assign_user(by="bo", expected_version=view.version, member=BO, at=at(2))
    with pytest.raises(StaleVersion) as caught:
        taken.assign_user(by="ana", expected_version=view.version, member=ANA, at=at(3))
    [change] = caught.value.changes
    assert change.kind is ChangeKind.ASSIGNED and change.detail == "user:bo"


def test_the_overdue_flag_does_not_make_a_view_stale():
    view = with_text()
    flagged = view.set_overdue(True, at(70))
    assert flagged.version == view.version + 1 and flagged.overdue
    replied = flagged.staff_reply(by="ana", expected_version=view.version, at=at(71))
    assert replied.version == flagged.version + 1 and not replied.overdue


def test_changes_older_than_the_kept_history_are_reported_as_truncated():
    c = with_text()
    view_version = c.version
    for n in range(60):
        c = c.receive_patient_text(at(2 + n))
    with pytest.raises(StaleVersion) as caught:
        c.staff_reply(by="ana", expected_version=view_version, at=at(100))
    assert caught.value.truncated and len(caught.value.changes) == 50


@pytest.mark.parametrize("version", [0, -1, True, "3", 1.0, None])
def test_a_malformed_version_is_400_naming_the_field(version):
    c = with_text()
    with pytest.raises(InvalidInput) as caught:
        c.staff_reply(by="ana", expected_version=version, at=at(2))
    assert caught.value.field == "version"


def test_a_version_from_the_future_is_400():
    c = with_text()
    with pytest.raises(InvalidInput):
        c.close(by="ana", expected_version=c.version + 1, at=at(2))


# -- assignment -----------------------------------------------------------------------------------


def test_assign_to_a_user_of_the_department_records_the_history():
    c = with_text()
    assigned = c.assign_user(by="ana", expected_version=c.version, member=BO, at=at(2))
    assert (assigned.assignee.kind, assigned.assignee.id) == (AssigneeKind.USER, "bo")
    assert [(a.kind, a.by, a.detail) for a in assigned.assignments] == [
        (ChangeKind.ASSIGNED, "ana", "user:bo")
    ]


def test_assign_to_a_user_outside_the_department_is_refused():
    c = with_text()
    with pytest.raises(InvalidInput) as caught:
        c.assign_user(by="ana", expected_version=c.version, member=CY, at=at(2))
    assert caught.value.field == "user"


def test_assigning_to_the_current_assignee_again_is_refused():
    c = with_text()
    with pytest.raises(InvalidTransition):
        c.assign_department(
            by="ana", expected_version=c.version, department="nursing", at=at(2), known=DEPARTMENTS
        )


def test_back_to_the_department_queue_and_a_transfer_to_another():
    c = with_text()
    mine = c.assign_user(by="ana", expected_version=c.version, member=ANA, at=at(2))
    queue = mine.assign_department(
        by="ana", expected_version=mine.version, department="nursing", at=at(3), known=DEPARTMENTS
    )
    assert queue.assignee.kind is AssigneeKind.DEPARTMENT and queue.department == "nursing"
    moved = queue.assign_department(
        by="ana", expected_version=queue.version, department="billing", at=at(4), known=DEPARTMENTS
    )
    assert moved.department == "billing" and moved.assignee.id == "billing"
    assert [a.kind for a in moved.assignments] == [
        ChangeKind.ASSIGNED,
        ChangeKind.ASSIGNED,
        ChangeKind.TRANSFERRED,
    ]


@pytest.mark.parametrize("department", ["oncology", "Nursing", "", "a b"])
def test_a_transfer_to_an_unknown_or_malformed_department_is_400(department):
    c = with_text()
    with pytest.raises(InvalidInput) as caught:
        c.assign_department(
            by="ana", expected_version=c.version, department=department, at=at(2), known=DEPARTMENTS
        )
    assert caught.value.field == "department"


# -- notes, labels, close, reopen -----------------------------------------------------------------


def test_a_note_is_added_with_its_author():
    c = with_text()
    noted = c.add_note(
        by="ana", expected_version=c.version, note_id="n1", body=" call back after 3 ", at=at(2)
    )
    [note] = noted.notes
    assert (note.note_id, note.author, note.body) == ("n1", "ana", "call back after 3")
    assert noted.history[-1].detail == "n1"  # the history names the note, never its text


@pytest.mark.parametrize("body", ["", "   ", "x" * 4001, None])
def test_an_empty_or_huge_note_is_400(body):
    c = with_text()
    with pytest.raises(InvalidInput) as caught:
        c.add_note(by="ana", expected_version=c.version, note_id="n1", body=body, at=at(2))
    assert caught.value.field == "body"


def test_the_same_note_twice_is_refused():
    c = with_text()
    noted = c.add_note(by="ana", expected_version=c.version, note_id="n1", body="a", at=at(2))
    with pytest.raises(InvalidTransition):
        noted.add_note(by="ana", expected_version=noted.version, note_id="n1", body="a", at=at(3))


def test_labels_are_added_and_removed():
    c = with_text()
    labelled = c.label(by="ana", expected_version=c.version, at=at(2), add=["refill", "callback"])
    assert labelled.labels == {"refill", "callback"}
    fewer = labelled.label(by="ana", expected_version=labelled.version, at=at(3), remove=["callback"])
    assert fewer.labels == {"refill"} and fewer.history[-1].detail == "refill"


@pytest.mark.parametrize("labels", [["Refill"], ["a b"], [""], ["x" * 33], [f"l{n}" for n in range(21)]])
def test_malformed_or_too_many_labels_are_400(labels):
    c = with_text()
    with pytest.raises(InvalidInput) as caught:
        c.label(by="ana", expected_version=c.version, at=at(2), add=labels)
    assert caught.value.field == "labels"


def test_setting_the_labels_they_have_already_is_refused():
    c = with_text()
    with pytest.raises(InvalidTransition):
        c.label(by="ana", expected_version=c.version, at=at(2), remove=["refill"])


def test_close_and_reopen():
    c = with_text().flag_urgent(at(1))
    closed = c.close(by="ana", expected_version=c.version, at=at(9))
    assert closed.status is ConversationStatus.CLOSED and closed.closed_at == at(9) and not closed.urgent
    with pytest.raises(InvalidTransition):
        closed.close(by="ana", expected_version=closed.version, at=at(10))
    opened = closed.reopen(by="bo", expected_version=closed.version, at=at(11))
    assert opened.status is ConversationStatus.OPEN and opened.closed_at is None
    with pytest.raises(InvalidTransition):
        opened.reopen(by="bo", expected_version=opened.version, at=at(12))


def test_close_on_a_stale_view_is_refused():
    view = with_text()
    moved = view.receive_patient_text(at(2))
    with pytest.raises(StaleVersion):
        moved.close(by="ana", expected_version=view.version, at=at(3))


def test_urgent_is_flagged_once():
    c = with_text().flag_urgent(at(1))
    assert c.urgent and c.flag_urgent(at(2)) is c


# -- reads ----------------------------------------------------------------------------------------


def test_mark_read_changes_neither_the_version_nor_the_history():
    c = with_text()
    read = c.mark_read("ana", at(2))
    assert read.version == c.version and read.history == c.history
    assert not read.unread_for("ana") and read.unread_for("bo")
    assert read.mark_read("ana", at(1)) is read  # a marker never moves back
    newer = read.receive_patient_text(at(3))
    assert newer.unread_for("ana")


def test_a_nurse_reading_does_not_make_another_nurses_view_stale():
    view = with_text()
    read = view.mark_read("bo", at(2))
    replied = read.staff_reply(by="ana", expected_version=view.version, at=at(3))
    assert replied.staff_replies == 1


@pytest.mark.parametrize("user", ["", "a b", None, "x" * 200])
def test_a_malformed_user_id_is_400(user):
    c = with_text()
    with pytest.raises(InvalidInput):
        c.close(by=user, expected_version=c.version, at=at(2))


def test_naive_times_are_a_programming_error():
    with pytest.raises(ValueError):
        with_text().receive_patient_text(datetime(2026, 11, 24, 15, 30))


# -- races, generated -----------------------------------------------------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["patient", "reply", "note", "reload", "overdue", "read", "assign"]),
        st.sampled_from(["ana", "bo"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(OPERATIONS)
def test_a_write_wins_exactly_when_nothing_material_changed_since_its_view(operations):
    current = with_text()
    views = {"ana": current, "bo": current}
    material_since = {"ana": False, "bo": False}
    for step, (operation, who) in enumerate(operations):
        before = current
        when = at(10 + step)
        if operation == "patient":
            current = current.receive_patient_text(when)
        elif operation == "overdue":
            current = current.set_overdue(not current.overdue, when)
        elif operation == "read":
            current = current.mark_read(who, when)
            assert current.version == before.version and current.history == before.history
            continue
        elif operation == "reload":
            views[who], material_since[who] = current, False
            continue
        else:
            view = views[who]
            try:
                if operation == "reply":
                    current = current.staff_reply(by=who, expected_version=view.version, at=when)
                elif operation == "note":
                    current = current.add_note(
                        by=who, expected_version=view.version, note_id=f"n{step}", body="call back", at=when
                    )
                else:
                    member = ANA if who == "ana" else BO
                    current = current.assign_user(
                        by=who, expected_version=view.version, member=member, at=when
                    )
            except StaleVersion as stale:
                assert material_since[who], "refused although nothing material changed since the view"
                assert stale.changes and all(c.version > view.version for c in stale.changes)
                continue
            except InvalidTransition:
                continue  # assigning to the current assignee again: no write
            assert not material_since[who], "a write on a stale view won"
            views[who], material_since[who] = current, False  # the writer sees their own write
        if current.version != before.version:
            assert current.version == before.version + 1
            if current.history[-1].kind in MATERIAL:
                for name in material_since:
                    if views[name] is not current:
                        material_since[name] = True
