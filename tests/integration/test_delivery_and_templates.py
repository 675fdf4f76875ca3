"""Issue 4: stored templates the sender uses, SNS delivery status back on the records, per-patient listing."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from infra.local import events
from tests.fixtures.fhir_samples import MAGGIE_MOBILE, THANH_MOBILE
from tests.integration.harness import outbox, plaintext_leaks, texts_to
from tests.integration.test_reminders import (
    CALLER,
    FIRST_RUN,
    SENDER_NOW,
    deliver,
    future_bundle,
    pinned_clock,  # noqa: F401 - the autouse fixture pins the functions' clock here too
    post_bundle,
    receive,
    scheduled_run,
)

STAFF = "arn:aws:iam::123456789012:user/frontdesk"


def api(stack, method: str, path: str, route: str, body: Any = None, **params: str) -> tuple[int, dict]:
    event = events.http_api_event(
        method,
        path,
        route_key=f"{method} {route}",
        body=None if body is None else json.dumps(body),
        headers={"content-type": "application/json"},
        path_parameters=params or None,
        iam_caller=STAFF,
    )
    response = stack.functions["MessagesApiFunction"].invoke(event)
    return response["statusCode"], json.loads(response["body"])


def save_template(stack, body: str, name: str = "reminder") -> tuple[int, dict]:
    return api(stack, "PUT", f"/templates/{name}", "/templates/{name}", {"body": body}, name=name)


def lookup(stack, phone: str, **extra: Any) -> list[dict[str, Any]]:
    status, body = api(stack, "POST", "/messages/lookup", "/messages/lookup", {"phone": phone, **extra})
    assert status == 200, body
    return body["messages"]


def send_two_day_reminders(stack) -> None:
    post_bundle(stack, future_bundle())
    assert scheduled_run(stack, FIRST_RUN)["queued"] == 2
    assert deliver(stack, receive(stack)) == {"batchItemFailures": []}


def sent_ids() -> dict[str, str]:
    """SNS message id -> number, for every text SNS accepted."""
    from moto.sns.models import sns_backends

    return {mid: phone for mid, (phone, _) in sns_backends["123456789012"]["us-east-1"].sms_messages.items()}


def report(stack, lines: list[dict[str, Any]], *, failure: bool = False, group: str | None = None) -> Any:
    logical = "SmsDeliveryFailureLogGroup" if failure else "SmsDeliveryLogGroup"
    event = events.cloudwatch_logs_event(group or stack.ref(logical), [json.dumps(line) for line in lines])
    return stack.functions["DeliveryStatusFunction"].invoke(event)


def rejected_messages(stack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    got = sqs.receive_message(
        QueueUrl=stack.ref("AsyncFailureQueue"), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return got.get("Messages", [])


# -- templates ------------------------------------------------------------------------------------------


def test_saved_template_is_versioned_normalized_and_used_by_the_sender(stack):
    status, body = save_template(
        stack,
        "{clinic_name}: Hi {first_name}, you\u2019re booked {when}[ at {location}]. "
        "Reply C to confirm, R to reschedule, STOP to opt out.",
    )
    assert status == 201, body
    saved = body["template"]
    assert saved["version"] == 1 and saved["saved_by"] == STAFF
    assert "you're booked" in saved["body"]  # the curly apostrophe was normalized before storing
    assert body["report"]["as_written"]["ucs2_culprits"] == ["U+2019"]
    assert body["report"]["normalized"]["encoding"] == "GSM-7"

    # Saving the same text again makes no new version; a change makes version 2, and v1 is kept.
    status, again = save_template(stack, saved["body"])
    assert status == 200 and again["created"] is False and again["template"]["version"] == 1
    status, second = save_template(
        stack,
        "{clinic_name}: {first_name}, see you {when}[ at {location}]. C=confirm R=reschedule STOP=opt out",
    )
    assert status == 201 and second["template"]["version"] == 2
    status, shown = api(stack, "GET", "/templates/reminder", "/templates/{name}", name="reminder")
    assert status == 200 and shown["template"]["version"] == 2
    assert [v["version"] for v in shown["versions"]] == [2, 1]

    send_two_day_reminders(stack)
    [maggie] = texts_to(MAGGIE_MOBILE)
    assert maggie.startswith("Riverside Family Clinic: Maggie, see you ")
    assert maggie.endswith("C=confirm R=reschedule STOP=opt out")
    [record] = lookup(stack, MAGGIE_MOBILE)
    assert record["template"] == "reminder@v2" and record["status"] == "sent"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("{clinic_name}: your {reason} visit is {when}. Reply STOP to opt out.", "{reason}"),
        ("{clinic_name}: see Dr. {provider} {when}. Reply STOP to opt out.", "{provider}"),
        ("{clinic_name}: see you {when}. Reply C to confirm or CANCEL to cancel. STOP to opt out.", "CANCEL"),
        ("Riverside: see you {when}. Reply STOP to opt out.", "{clinic_name}"),
        ("{clinic_name}: see you {when}.", "STOP"),
        ("{clinic_name}: see you {when!r}. Reply STOP to opt out.", "format"),
        ("{clinic_name}: see you {when. Reply STOP to opt out.", "malformed"),
    ],
)
def test_a_template_that_breaks_a_rule_is_refused_naming_the_problem_and_nothing_is_stored(
    stack, body, named
):
    status, answer = save_template(stack, body)
    assert status == 400
    assert named in answer["error"]["message"] and answer["error"]["field"] == "body"
    assert not [
        i for i in stack.table("ControlTable").scan()["Items"] if str(i["pk"]).startswith("template#")
    ]


def test_unknown_template_name_and_missing_credentials_are_refused(stack):
    status, answer = save_template(stack, "{clinic_name}: hi. Reply STOP to opt out.", name="marketing")
    assert status == 400 and answer["error"]["field"] == "name"
    status, answer = api(stack, "GET", "/templates/reminder", "/templates/{name}", name="reminder")
    assert status == 404  # nothing stored yet: the built-in wording is in use
    event = events.http_api_event(
        "PUT",
        "/templates/reminder",
        route_key="PUT /templates/{name}",
        body='{"body":"x"}',
        headers={"content-type": "application/json"},
        path_parameters={"name": "reminder"},
    )
    assert stack.functions["MessagesApiFunction"].invoke(event)["statusCode"] == 403


def test_a_template_that_needs_two_segments_is_flagged_when_saved(stack):
    long = (
        "{clinic_name}: Hello {first_name}! This is a friendly reminder of your upcoming appointment {when} "
        "at {location}. Please arrive 15 minutes early. Reply C to confirm, R to reschedule, STOP to opt out."
    )
    status, body = save_template(stack, long)
    assert status == 201
    assert body["template"]["multi_segment"] is True and body["report"]["multi_segment"] is True
    assert body["report"]["sample_report"]["segments"] == 2
    assert any("segments" in warning for warning in body["report"]["warnings"])


# -- delivery status ------------------------------------------------------------------------------------


def test_delivery_reports_update_records_and_a_carrier_opt_out_reaches_the_ledger(stack):
    send_two_day_reminders(stack)
    ids = {phone: mid for mid, phone in sent_ids().items()}
    at = SENDER_NOW
    result = report(stack, [events.sns_delivery_log(ids[MAGGIE_MOBILE], MAGGIE_MOBILE, "delivered", at=at)])
    assert result["delivered"] == 1
    result = report(
        stack, [events.sns_delivery_log(ids[THANH_MOBILE], THANH_MOBILE, "opted_out", at=at)], failure=True
    )
    assert result["opted_out"] == 1

    [maggie] = lookup(stack, MAGGIE_MOBILE)
    assert maggie["status"] == "delivered" and maggie["delivery"]["detail"] == (
        "Message has been accepted by phone carrier"
    )
    assert "body" not in maggie  # bodies only on request
    [thanh] = lookup(stack, THANH_MOBILE, include_body=True)
    assert thanh["status"] == "opted_out" and "Reply C to confirm" in thanh["body"]

    # The carrier's opt-out is on the consent ledger, as a carrier-sourced event.
    consent = stack.functions["ConsentApiFunction"].invoke(
        events.http_api_event(
            "POST",
            "/consent/lookup",
            body=json.dumps({"phone": THANH_MOBILE}),
            headers={"content-type": "application/json"},
            iam_caller=CALLER,
        )
    )
    state = json.loads(consent["body"])["consent"]
    assert state == {"status": "opted_out", "updated_at": state["updated_at"], "source": "carrier"}

    # Redelivered and out-of-order reports change nothing: an older report never overwrites a newer one.
    earlier = at.replace(microsecond=0) - timedelta(minutes=5)
    result = report(
        stack,
        [events.sns_delivery_log(ids[MAGGIE_MOBILE], MAGGIE_MOBILE, "unknown", at=earlier)],
        failure=True,
    )
    assert result["stale"] == 1
    report(
        stack, [events.sns_delivery_log(ids[THANH_MOBILE], THANH_MOBILE, "opted_out", at=at)], failure=True
    )
    assert lookup(stack, MAGGIE_MOBILE)[0]["status"] == "delivered"
    ledger = [i for i in stack.table("ConsentTable").scan()["Items"] if str(i["sk"]).startswith("EVENT#")]
    assert len([i for i in ledger if i["source"] == "carrier"]) == 1
    # No number in clear anywhere, carrier reason included.
    assert not plaintext_leaks(stack, [MAGGIE_MOBILE, THANH_MOBILE])


def test_failed_delivery_keeps_the_carriers_reason(stack):
    send_two_day_reminders(stack)
    ids = {phone: mid for mid, phone in sent_ids().items()}
    report(stack, [events.sns_delivery_log(ids[MAGGIE_MOBILE], MAGGIE_MOBILE, "unreachable")], failure=True)
    [maggie] = lookup(stack, MAGGIE_MOBILE)
    assert maggie["status"] == "failed"
    assert maggie["delivery"]["detail"] == "Phone is currently unreachable/unavailable"


def _raw_logs_event(group: str, lines: list[str]) -> dict[str, Any]:
    return events.cloudwatch_logs_event(group, lines)


@pytest.mark.parametrize(
    "line",
    [
        "not json at all",
        json.dumps({"notification": {"messageId": "x"}, "status": "SUCCESS"}),
        json.dumps(
            {
                "notification": {"messageId": "m-1", "timestamp": "yesterday"},
                "delivery": {"destination": "+12065550187"},
                "status": "SUCCESS",
            }
        ),
        json.dumps(
            {
                "notification": {"messageId": "m-1", "timestamp": "2026-11-23 17:04:05.123"},
                "delivery": {"destination": "+12065550187"},
                "status": "MAYBE",
            }
        ),
        json.dumps(
            {
                "notification": {"messageId": "m-1", "timestamp": "2026-11-23 17:04:05.123"},
                "delivery": {"destination": "not-a-number", "providerResponse": "Phone number is opted out"},
                "status": "FAILURE",
            }
        ),
        "x" * 20000,
    ],
)
def test_malformed_log_lines_are_parked_and_change_nothing(stack, line):
    send_two_day_reminders(stack)
    before = {json.dumps(i, default=str) for i in stack.table("MessagesTable").scan()["Items"]}
    consent_before = len(stack.table("ConsentTable").scan()["Items"])
    result = stack.functions["DeliveryStatusFunction"].invoke(
        _raw_logs_event(stack.ref("SmsDeliveryLogGroup"), [line])
    )
    assert result["rejected"] == 1
    assert {json.dumps(i, default=str) for i in stack.table("MessagesTable").scan()["Items"]} == before
    assert len(stack.table("ConsentTable").scan()["Items"]) == consent_before
    [parked] = rejected_messages(stack)
    assert parked["MessageAttributes"]["source"]["StringValue"] == "sns-delivery-status"


def test_a_report_naming_another_number_than_the_text_went_to_is_refused(stack):
    send_two_day_reminders(stack)
    ids = {phone: mid for mid, phone in sent_ids().items()}
    forged = events.sns_delivery_log(ids[MAGGIE_MOBILE], THANH_MOBILE, "opted_out")
    result = report(stack, [forged], failure=True)
    assert result["rejected"] == 1
    assert lookup(stack, MAGGIE_MOBILE)[0]["status"] == "sent"
    assert not [i for i in stack.table("ConsentTable").scan()["Items"] if i.get("source") == "carrier"]


def test_payloads_that_are_not_subscription_data_or_come_from_another_group_are_refused(stack):
    function = stack.functions["DeliveryStatusFunction"]
    assert function.invoke({"awslogs": {"data": "bm90IGd6aXA="}})["rejected"] == 1
    assert function.invoke({"hello": "world"})["rejected"] == 1
    other = events.cloudwatch_logs_event("/aws/lambda/something-else", ["{}"])
    assert function.invoke(other)["rejected"] == 1
    control = json.dumps(
        {
            "messageType": "CONTROL_MESSAGE",
            "owner": "CloudwatchLogs",
            "logGroup": "",
            "logStream": "",
            "subscriptionFilters": [],
            "logEvents": [],
        }
    )
    packed = base64.b64encode(gzip.compress(control.encode())).decode()
    assert function.invoke({"awslogs": {"data": packed}})["rejected"] == 0
    assert len(rejected_messages(stack)) == 3


def test_unmatched_reports_are_counted_and_a_carrier_opt_out_is_still_honoured(stack):
    result = report(stack, [events.sns_delivery_log("no-such-message", MAGGIE_MOBILE, "delivered")])
    assert result == {**result, "delivered": 1, "unmatched": 1}
    result = report(
        stack, [events.sns_delivery_log("other-sender-msg", MAGGIE_MOBILE, "opted_out")], failure=True
    )
    assert result["opted_out"] == 1 and result["unmatched"] == 1
    # The carrier will refuse texts to this number now, so the ledger says so and reminders skip it.
    post_bundle(stack, future_bundle())
    scheduled_run(stack, FIRST_RUN)
    deliver(stack, receive(stack))
    assert texts_to(MAGGIE_MOBILE) == [] and len(outbox()) == 1
