"""Issue 12 through template.yaml: list items with the first name and masked number (the sealed contact
payload), starting a conversation (consent required), assigning to a named staff member (the Cognito
staff directory) and the response-time metrics (the API and the sweep's CloudWatch EMF)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fixtures.fhir_samples import MAGGIE_MOBILE, resource_at, sample_bundle
from tests.integration.harness import outbox, plaintext_leaks
from tests.integration.inbox_helpers import (
    PATIENT,
    clinic_departments,
    conversation_in,
    conversations,
    frozen_clock,
    sweep,
    text,
)
from tests.integration.test_inbox_conversations_api import STAFF, audit, call

MONDAY_OPEN = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles, nursing open
NEW_NUMBER = "+12065550177"


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    return frozen_clock(monkeypatch, MONDAY_OPEN)


@pytest.fixture
def clinic(stack, clock):  # type: ignore[no-untyped-def]
    clinic_departments(stack)
    return stack


def staff_users(stack: Any) -> None:
    """The STAFF of the API tests as users of the template's pool, in their department groups."""
    idp = stack.client("cognito-idp")
    pool = stack.ref("StaffUserPool")
    existing = {g["GroupName"] for g in idp.list_groups(UserPoolId=pool)["Groups"]}
    for who, (_sub, username, groups) in STAFF.items():
        idp.admin_create_user(
            UserPoolId=pool,
            Username=username,
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "name", "Value": f"{who.title()} {username}"}],
        )
        for group in groups:
            if group not in existing:
                idp.create_group(UserPoolId=pool, GroupName=group)
                existing.add(group)
            idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=group)


def user_id_of(stack: Any, username: str) -> str:
    user = stack.client("cognito-idp").admin_get_user(
        UserPoolId=stack.ref("StaffUserPool"), Username=username
    )
    return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")


def post_appointment_for(stack: Any) -> None:
    """An appointment for Maggie (first name on record, mobile MAGGIE_MOBILE) through the appointments API."""
    from infra.local import events

    bundle = sample_bundle()
    start = datetime(2027, 3, 8, 17, 30, tzinfo=UTC)
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
    assert stack.functions["AppointmentsApiFunction"].invoke(event)["statusCode"] in (200, 207)


# -- 4. list items: first name and masked number ------------------------------------------------------
def test_list_items_show_the_first_name_on_record_and_the_masked_number_never_stored_in_clear(
    clinic, clock
) -> None:
    post_appointment_for(clinic)
    text(clinic, clock, MONDAY_OPEN, "Is my incision healing?", from_number=MAGGIE_MOBILE)
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=1), "Question about my refill", from_number=PATIENT)
    status, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/conversations")
    items = {i["masked_number"]: i for i in json.loads(body)["conversations"]}
    assert status == 200
    assert set(items) == {"***-***-" + MAGGIE_MOBILE[-4:], "***-***-" + PATIENT[-4:]}
    assert items["***-***-" + MAGGIE_MOBILE[-4:]]["first_name"] == "Maggie"
    assert items["***-***-" + PATIENT[-4:]]["first_name"] is None  # not in the appointment book
    stored = conversations(clinic)
    assert all(item.get("contact_ct") for item in stored)
    assert plaintext_leaks(clinic, [MAGGIE_MOBILE, PATIENT, MAGGIE_MOBILE[2:], PATIENT[2:]]) == []


def test_a_conversation_whose_contact_cannot_be_opened_lists_without_it_and_the_rest_still_list(
    clinic, clock, capsys
) -> None:
    """Issue 12 review: one altered contact_ct raised IntegrityError and 500'd the whole list. That item
    now lists with no first name or masked number, the others as before, and a metric counts it."""
    post_appointment_for(clinic)
    text(clinic, clock, MONDAY_OPEN, "Is my incision healing?", from_number=MAGGIE_MOBILE)
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=1), "Question about my refill", from_number=PATIENT)
    table = clinic.table("ConversationsTable")
    [maggie, other] = sorted(conversations(clinic), key=lambda c: c["last_activity_at"])
    sealed = str(other["contact_ct"])
    altered = sealed[:-8] + ("A" if sealed[-8] != "A" else "B") + sealed[-7:]
    table.update_item(
        Key={"pk": other["pk"], "sk": other["sk"]},
        UpdateExpression="SET contact_ct = :ct",
        ExpressionAttributeValues={":ct": altered},
    )
    capsys.readouterr()
    status, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/conversations")
    assert status == 200, body
    items = {i["id"]: i for i in json.loads(body)["conversations"]}
    assert items[other["conversation_id"]]["first_name"] is None
    assert items[other["conversation_id"]]["masked_number"] is None
    assert items[maggie["conversation_id"]]["first_name"] == "Maggie"
    printed = capsys.readouterr().out
    blobs = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
    assert [b["InboxContactUnreadable"] for b in blobs if "InboxContactUnreadable" in b] == [[1.0]]
    assert PATIENT not in printed and PATIENT[2:] not in printed  # no PHI logged


def test_the_list_audit_record_names_the_conversations_it_showed(clinic, clock) -> None:
    """Issue 12 review: the list shows first names and masked numbers, so its audit record says whose
    (the conversation ids listed, in order); an empty list says none."""
    text(clinic, clock, MONDAY_OPEN, "Is my incision healing?", from_number=MAGGIE_MOBILE)
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=1), "Question about my refill", from_number=PATIENT)
    status, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/conversations")
    shown = [i["id"] for i in json.loads(body)["conversations"]]
    assert status == 200 and len(shown) == 2
    [record] = [r for r in audit(clinic) if r["action"] == "list"]
    detail = record["detail"]
    listed = ",".join(detail[k] for k in sorted(detail) if k.startswith("ids_")).split(",")
    assert listed == shown and detail["listed"] == "2"
    call(clinic, clock, "billing", "GET", "/inbox/conversations?department=billing")
    [_first, empty] = [r for r in audit(clinic) if r["action"] == "list"]
    assert empty["detail"]["listed"] == "0" and not [k for k in empty["detail"] if k.startswith("ids_")]


# -- 2. starting a conversation -----------------------------------------------------------------------
def test_a_nurse_starts_a_conversation_with_a_number_without_consent_record_and_the_text_goes_out(
    clinic, clock
) -> None:
    before = len(outbox())
    status, headers, body = call(
        clinic,
        clock,
        "nurse",
        "POST",
        "/inbox/conversations",
        {"phone": "(206) 555-0177", "department": "nursing", "body": "Hi, this is the clinic's nurse line."},
    )
    answer = json.loads(body)
    assert status == 201, body
    assert (
        answer["created"] is True and answer["sent"]["status"] == "sent" and answer["sent"]["segments"] == 1
    )
    assert answer["conversation"]["masked_number"] == "***-***-0177"
    assert headers["ETag"] == f'"{answer["conversation"]["version"]}"'
    assert outbox()[before:] == [(NEW_NUMBER, "Hi, this is the clinic's nurse line.")]
    stored = conversation_in(clinic, "nursing")
    assert stored["staff_replies"] == 1 and "first_response_at" not in stored  # nothing to respond to
    actions = [(r["action"], r.get("conversation_id")) for r in audit(clinic)]
    assert ("start", answer["conversation"]["id"]) in actions
    assert plaintext_leaks(clinic, [NEW_NUMBER, NEW_NUMBER[2:]]) == []

    # the thread shows who sent the first text, as for a reply
    _s, _h, shown = call(
        clinic, clock, "nurse", "GET", f"/inbox/conversations/{answer['conversation']['id']}"
    )
    [first] = [e for e in json.loads(shown)["conversation"]["thread"] if e["kind"] == "staff_reply"]
    assert first["sender"] == {"user_id": STAFF["nurse"][0], "name": STAFF["nurse"][1]}

    # again: the open conversation is returned, nothing more is sent
    status, _h, body = call(
        clinic,
        clock,
        "nurse2",
        "POST",
        "/inbox/conversations",
        {"phone": NEW_NUMBER, "department": "nursing", "body": "Second hello"},
    )
    again = json.loads(body)
    assert status == 200 and again["created"] is False and again["sent"] is None
    assert again["conversation"]["id"] == answer["conversation"]["id"]
    assert len(outbox()) == before + 1


def test_starting_with_a_number_whose_open_conversation_contact_is_altered_answers_it_not_500(
    clinic, clock
) -> None:
    """start()'s existing-open path opened the sealed contact unguarded: an altered contact_ct was a 500.
    It now answers 200 with the open conversation (no name or number shown) and sends nothing."""
    text(clinic, clock, MONDAY_OPEN, "Question about my refill", from_number=PATIENT)
    item = conversation_in(clinic, "nursing")
    sealed = str(item["contact_ct"])
    clinic.table("ConversationsTable").update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET contact_ct = :ct",
        ExpressionAttributeValues={":ct": sealed[:-8] + ("A" if sealed[-8] != "A" else "B") + sealed[-7:]},
    )
    before = len(outbox())
    status, _h, body = call(
        clinic,
        clock,
        "nurse",
        "POST",
        "/inbox/conversations",
        {"phone": PATIENT, "department": "nursing", "body": "Hi, this is the clinic's nurse line."},
    )
    answer = json.loads(body)
    assert status == 200, body
    assert answer["created"] is False and answer["conversation"]["id"] == item["conversation_id"]
    assert answer["conversation"]["masked_number"] is None
    assert len(outbox()) == before


def test_a_patient_who_opted_out_is_not_texted_and_the_reason_is_given(clinic, clock) -> None:
    text(clinic, clock, MONDAY_OPEN - timedelta(minutes=5), "STOP", from_number=NEW_NUMBER)
    before = len(outbox())
    status, _h, body = call(
        clinic,
        clock,
        "nurse",
        "POST",
        "/inbox/conversations",
        {"phone": NEW_NUMBER, "department": "nursing", "body": "Hello"},
    )
    assert status == 409 and "opted out" in json.loads(body)["error"]["message"]
    assert len(outbox()) == before
    assert [c for c in conversations(clinic) if c["department"] == "nursing"] == []


@pytest.mark.parametrize(
    ("who", "payload", "expected"),
    [
        ("nurse", {"phone": "+1206555", "department": "nursing", "body": "Hi"}, 400),
        ("nurse", {"phone": 12065550177, "department": "nursing", "body": "Hi"}, 400),
        ("nurse", {"phone": NEW_NUMBER, "department": "nursing"}, 400),
        ("nurse", {"phone": NEW_NUMBER, "department": "nursing", "body": "Hi", "extra": 1}, 400),
        ("nurse", {"phone": NEW_NUMBER, "department": "Nursing!", "body": "Hi"}, 400),
        ("billing", {"phone": NEW_NUMBER, "department": "nursing", "body": "Hi"}, 404),
        ("nurse", {"phone": NEW_NUMBER, "body": "Hi"}, 400),
    ],
)
def test_a_malformed_or_forbidden_start_is_refused_and_changes_nothing(
    clinic, clock, who, payload, expected
) -> None:
    before = len(outbox())
    status, _h, body = call(clinic, clock, who, "POST", "/inbox/conversations", payload)
    assert status == expected, body
    assert len(outbox()) == before and conversations(clinic) == []
    assert [r for r in audit(clinic) if r["action"] == "start"] == []


# -- 3. assigning to a named staff member -------------------------------------------------------------
def test_assign_to_a_nurse_by_username_then_filter_by_assignee_and_read_the_history(
    clinic, clock, monkeypatch
) -> None:
    staff_users(clinic)
    text(clinic, clock, MONDAY_OPEN, "Question about my incision")
    cid = conversation_in(clinic, "nursing")["conversation_id"]
    version = int(conversation_in(clinic, "nursing")["version"])
    noah = user_id_of(clinic, "noah.nurse")

    status, _h, body = call(clinic, clock, "billing", "GET", "/inbox/staff?department=nursing")
    assert status == 404
    status, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/staff?department=nursing")
    people = json.loads(body)["staff"]
    assert status == 200 and [p["username"] for p in people] == ["nina.nurse", "noah.nurse"]
    assert people[1] == {
        "user_id": noah,
        "username": "noah.nurse",
        "display_name": "Nurse2 noah.nurse",
        "departments": ["nursing"],
    }

    status, _h, body = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/assign",
        {"user": "bill.clerk", "version": version},
    )
    assert status == 400 and "department" in json.loads(body)["error"]["message"]
    status, _h, body = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/assign",
        {"user": "nobody.here", "version": version},
    )
    assert status == 400
    assert conversation_in(clinic, "nursing")["version"] == version  # nothing changed

    clock.now = MONDAY_OPEN + timedelta(minutes=3)
    status, _h, body = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{cid}/assign",
        {"user": "noah.nurse", "version": version},
    )
    shown = json.loads(body)["conversation"]
    assert status == 200 and shown["assignee"] == {"kind": "user", "id": noah}
    [assigned] = shown["assignment_history"]
    assert assigned["by"] == STAFF["nurse"][0] and assigned["detail"] == f"user:{noah}"
    assert assigned["at"].startswith("2027-03-01T18:03")

    for query, expected in (
        ("assignee=noah.nurse", [cid]),
        ("assignee=nina.nurse", []),
        ("assignee=unassigned", []),
        (f"assignee={noah}", [cid]),
    ):
        _s, _h, body = call(clinic, clock, "nurse", "GET", f"/inbox/conversations?{query}")
        assert [c["id"] for c in json.loads(body)["conversations"]] == expected, query
    # Noah's own token carries his Cognito sub
    monkeypatch.setitem(STAFF, "nurse2", (noah, "noah.nurse", ["nursing"]))
    _s, _h, body = call(clinic, clock, "nurse2", "GET", "/inbox/conversations?assignee=me")
    assert [c["id"] for c in json.loads(body)["conversations"]] == [cid]
    assert ("assign", cid) in [(r["action"], r.get("conversation_id")) for r in audit(clinic)]


def test_a_name_cognito_would_refuse_is_400_for_assign_and_the_assignee_filter(
    clinic, clock, monkeypatch
) -> None:
    """Issue 12 review: Cognito answers AdminGetUser for a name outside its username pattern with
    InvalidParameterException (moto does not), which 500'd assign and the assignee filter. The name is
    now refused 400 before the directory is asked."""
    import re

    from botocore.exceptions import ClientError

    from shared.staff.store import CognitoStaffDirectory

    staff_users(clinic)
    text(clinic, clock, MONDAY_OPEN, "About my refill")
    item = conversation_in(clinic, "nursing")
    real = CognitoStaffDirectory.member
    as_cognito = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]+")

    def member(self: Any, username: str) -> Any:
        if not as_cognito.fullmatch(username) or len(username) > 128:
            error = {"Error": {"Code": "InvalidParameterException", "Message": "Username failed to satisfy"}}
            raise ClientError(error, "AdminGetUser")
        return real(self, username)

    monkeypatch.setattr(CognitoStaffDirectory, "member", member)
    for name in ("noah nurse", "noah\u202enurse", "noah\u200bnurse"):
        status, _h, body = call(
            clinic,
            clock,
            "nurse",
            "POST",
            f"/inbox/conversations/{item['conversation_id']}/assign",
            {"version": int(item["version"]), "user": name},
        )
        assert status == 400 and json.loads(body)["error"]["field"] == "user", (name, body)
    assert conversation_in(clinic, "nursing") == item
    status, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/conversations?assignee=noah%20nurse")
    assert status == 400 and "username" in json.loads(body)["error"]["message"], body


def test_assign_takes_a_user_or_a_department_not_both(clinic, clock) -> None:
    text(clinic, clock, MONDAY_OPEN, "Question about my incision")
    c = conversation_in(clinic, "nursing")
    status, _h, _b = call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{c['conversation_id']}/assign",
        {"user": "noah.nurse", "department": "nursing", "version": int(c["version"])},
    )
    assert status == 400


# -- 1. metrics ---------------------------------------------------------------------------------------
def test_metrics_give_business_minute_figures_for_the_callers_departments(clinic, clock) -> None:
    # Nursing opens 08:30-12:00 and 13:00-17:00 in Los Angeles (16:30-20:00, 21:00-01:00 UTC in March).
    numbers = ["+12065550131", "+12065550132", "+12065550133"]
    for i, number in enumerate(numbers):
        text(clinic, clock, MONDAY_OPEN + timedelta(minutes=i), "About my refill", from_number=number)
    ids = {c["conversation_id"]: c for c in conversations(clinic)}
    by_number = sorted(ids.values(), key=lambda c: c["first_inbound_at"])
    # answers after 10, 20 minutes; the third waits past nursing's 30-minute target
    for item, minutes in zip(by_number[:2], (10, 21), strict=True):
        clock.now = MONDAY_OPEN + timedelta(minutes=minutes)
        status, _h, body = call(
            clinic,
            clock,
            "nurse",
            "POST",
            f"/inbox/conversations/{item['conversation_id']}/messages",
            {"body": "We will call you shortly.", "version": int(item["version"])},
        )
        assert status == 201, body
    first = by_number[0]["conversation_id"]
    clock.now = MONDAY_OPEN + timedelta(minutes=40)
    version = int(conversation_in_id(clinic, first)["version"])
    assert (
        call(clinic, clock, "nurse", "POST", f"/inbox/conversations/{first}/close", {"version": version})[0]
        == 200
    )

    clock.now = MONDAY_OPEN + timedelta(hours=1)
    status, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/metrics?from=2027-03-01&to=2027-03-01")
    answer = json.loads(body)
    assert status == 200, body
    [nursing] = answer["departments"]
    assert nursing["department"] == "nursing" and nursing["first_response_target_minutes"] == 30
    [period] = nursing["periods"]
    assert period["conversations"] == 3 and period["answered"] == 2 and period["closed"] == 1
    assert period["awaiting"] == 1 and period["overdue"] == 1
    assert period["first_response_minutes"] == {"count": 2, "median": 15.0, "p90": 19.0}
    assert period["time_to_close_minutes"] == {"count": 1, "median": 40.0, "p90": 40.0}
    [record] = [
        r for r in audit(clinic) if r["action"] == "list" and r.get("detail", {}).get("view") == "metrics"
    ]
    assert record["user_id"] == STAFF["nurse"][0]

    # an admin sees every department; billing does not see nursing's
    _s, _h, body = call(clinic, clock, "admin", "GET", "/inbox/metrics?from=2027-03-01&to=2027-03-01")
    assert "nursing" in [d["department"] for d in json.loads(body)["departments"]]
    _s, _h, body = call(clinic, clock, "billing", "GET", "/inbox/metrics?from=2027-03-01&to=2027-03-01")
    assert [d["department"] for d in json.loads(body)["departments"]] == ["billing"]
    status, _h, _b = call(clinic, clock, "billing", "GET", "/inbox/metrics?department=nursing")
    assert status == 404

    status, _h, body = call(
        clinic, clock, "nurse", "GET", "/inbox/metrics?from=2027-02-22&to=2027-03-07&granularity=week"
    )
    weeks = json.loads(body)["departments"][0]["periods"]
    assert status == 200 and [w["conversations"] for w in weeks] == [0, 3]


def test_metrics_count_staff_started_conversations_in_time_to_close_and_on_their_own(clinic, clock) -> None:
    """A conversation a nurse started counts in time to close (from the nurse's first text) and as
    staff_started; its patient's answer and the nurse's reply to it are no first response."""
    text(clinic, clock, MONDAY_OPEN, "About my refill", from_number=PATIENT)
    clock.now = MONDAY_OPEN + timedelta(minutes=5)
    status, _h, body = call(
        clinic,
        clock,
        "nurse",
        "POST",
        "/inbox/conversations",
        {"phone": NEW_NUMBER, "department": "nursing", "body": "Hi, this is the clinic's nurse line."},
    )
    assert status == 201, body
    started = json.loads(body)["conversation"]["id"]
    text(clinic, clock, MONDAY_OPEN + timedelta(minutes=15), "Thanks, my refill?", from_number=NEW_NUMBER)
    patients = next(c for c in conversations(clinic) if c["conversation_id"] != started)
    for item, minutes in ((patients, 10), (conversation_in_id(clinic, started), 20)):
        clock.now = MONDAY_OPEN + timedelta(minutes=minutes)
        status, _h, body = call(
            clinic,
            clock,
            "nurse",
            "POST",
            f"/inbox/conversations/{item['conversation_id']}/messages",
            {"body": "We will call you shortly.", "version": int(item["version"])},
        )
        assert status == 201, body
    clock.now = MONDAY_OPEN + timedelta(minutes=45)
    version = int(conversation_in_id(clinic, started)["version"])
    close = call(
        clinic, clock, "nurse", "POST", f"/inbox/conversations/{started}/close", {"version": version}
    )
    assert close[0] == 200, close[2]

    clock.now = MONDAY_OPEN + timedelta(hours=1)
    status, _h, body = call(clinic, clock, "nurse", "GET", "/inbox/metrics?from=2027-03-01&to=2027-03-01")
    assert status == 200, body
    [period] = json.loads(body)["departments"][0]["periods"]
    assert (period["conversations"], period["patient_started"], period["staff_started"]) == (2, 1, 1)
    # first response: the patient-started one only (10 minutes); the started one's reply is not one
    assert period["answered"] == 1 and period["first_response_minutes"]["median"] == 10.0
    # time to close: from the nurse's first text (+5) to the close (+45)
    assert period["time_to_close_minutes"] == {"count": 1, "median": 40.0, "p90": 40.0}
    assert period["closed"] == 1 and period["awaiting"] == 0 and period["overdue"] == 0


def conversation_in_id(stack: Any, cid: str) -> dict[str, Any]:
    [found] = [c for c in conversations(stack) if c["conversation_id"] == cid]
    return found


@pytest.mark.parametrize(
    "query",
    [
        "from=2027-13-01",
        "from=yesterday",
        "to=2027-03-01T00:00:00Z",
        "from=2027-03-02&to=2027-03-01",
        "granularity=hour",
        "from=2020-01-01&to=2027-03-01",
        "department=Nursing!",
    ],
)
def test_malformed_metrics_queries_are_refused(clinic, clock, query) -> None:
    status, _h, body = call(clinic, clock, "nurse", "GET", f"/inbox/metrics?{query}")
    assert status == 400, body


def test_the_sweep_emits_response_times_as_cloudwatch_emf_per_department(clinic, clock, capsys) -> None:
    text(clinic, clock, MONDAY_OPEN, "About my refill")
    item = conversation_in(clinic, "nursing")
    clock.now = MONDAY_OPEN + timedelta(minutes=12)
    call(
        clinic,
        clock,
        "nurse",
        "POST",
        f"/inbox/conversations/{item['conversation_id']}/messages",
        {"body": "We will call you.", "version": int(item["version"])},
    )
    capsys.readouterr()
    sweep(clinic, clock, MONDAY_OPEN + timedelta(minutes=15))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    emitted: dict[tuple[str, str], float] = {}
    for blob in blobs:
        [directive] = blob["_aws"]["CloudWatchMetrics"]
        if "Department" in directive["Dimensions"][0]:
            assert directive["Namespace"] == "ClinicText"
            for metric in directive["Metrics"]:
                [value] = blob[metric["Name"]]
                emitted[(blob["Department"], metric["Name"])] = value
    assert emitted[("nursing", "InboxFirstResponseMedian")] == 12.0
    assert emitted[("nursing", "InboxConversations")] == 1
    assert emitted[("nursing", "InboxAnswered")] == 1
    assert emitted[("billing", "InboxConversations")] == 0
    assert ("billing", "InboxFirstResponseMedian") not in emitted  # nothing to measure
    assert PATIENT not in json.dumps(blobs) and PATIENT[2:] not in json.dumps(blobs)
