"""Driving the staff inbox through template.yaml: department settings, patient texts at chosen instants,
the sweep's schedule, and what landed (conversations, replies, on-call pages)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from infra.local import events
from infra.local.stack import ACCOUNT, REGION, Stack
from shared.core.clock import iso
from shared.inbox.departments import DepartmentSettings
from tests.integration.harness import CLINIC_NUMBER, outbox

NURSING_LINE = "+12065550199"
PATIENT = "+12065550123"


class Clock:
    """The functions' wall clock, moved by the test (SystemClock.now is patched to read it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now


def set_department(stack: Stack, name: str, **settings: Any) -> None:
    """What ``PUT /inbox/departments/{name}`` stores (the settings item of ConversationsTable)."""
    value = DepartmentSettings.model_validate_json(json.dumps(settings))
    stack.table("ConversationsTable").put_item(
        Item={"pk": "settings#departments", "sk": name, "settings": value.model_dump_json()}
    )


def clinic_departments(stack: Stack, zone: str = "America/Los_Angeles") -> None:
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    set_department(
        stack,
        "billing",
        time_zone=zone,
        hours={day: [["09:00", "17:00"]] for day in weekdays},
        keywords=["bill", "invoice", "copay", "factura"],
    )
    set_department(
        stack,
        "nursing",
        time_zone=zone,
        # A split shift with a lunch gap, and a holiday (2027-03-03, a Wednesday).
        hours={day: [["08:30", "12:00"], ["13:00", "17:00"]] for day in weekdays},
        holidays=["2027-03-03"],
        keywords=["refill", "prescription", "incision"],
        numbers=[NURSING_LINE],
        first_response_minutes=30,
    )


def text(
    stack: Stack,
    clock: Clock,
    at: datetime,
    body: str,
    *,
    from_number: str = PATIENT,
    to_number: str = CLINIC_NUMBER,
    message_id: str | None = None,
) -> Any:
    """The patient texts ``body`` at ``at`` (the notification's timestamp; the functions' clock too)."""
    clock.now = at
    message = events.two_way_sms_message(from_number, to_number, body, message_id=message_id)
    event = events.sns_event(stack.ref("InboundSmsTopic"), json.dumps(message), timestamp=iso(at))
    return stack.functions["InboundSmsFunction"].invoke(event)


def sweep(stack: Stack, clock: Clock, at: datetime, *, wall: datetime | None = None) -> Any:
    """InboxSweepSchedule fires for the scheduled time ``at`` (the wall clock at ``wall``, else ``at``)."""
    clock.now = wall or at
    props = dict(stack.schedules())["InboxSweepSchedule"]
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{stack.ref('InboxSweepSchedule')}"
    event = events.scheduler_event(props["Target"]["Input"], scheduled_time=at, schedule_arn=arn)
    return stack.schedule_target("InboxSweepSchedule").invoke(event)


def conversations(stack: Stack) -> list[dict[str, Any]]:
    items = stack.table("ConversationsTable").scan()["Items"]
    return [item for item in items if item.get("record_type") == "conversation"]


def conversation_in(stack: Stack, department: str) -> dict[str, Any]:
    [found] = [item for item in conversations(stack) if item["department"] == department]
    return found


def replies_to(number: str = PATIENT) -> list[str]:
    return [body for phone, body in outbox() if phone == number]


def pages(stack: Stack) -> list[dict[str, Any]]:
    """What the OnCallTopic was sent: (message, subject, attributes) per notification."""
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[stack.ref("OnCallTopic")]
    return [
        {"message": json.loads(message), "raw": message, "subject": subject, "attributes": attributes}
        for _id, message, subject, attributes, _group in topic.sent_notifications
    ]


def frozen_clock(monkeypatch: Any, at: datetime) -> Clock:
    """The functions' clock held at ``at`` (the test moves ``clock.now``), pacing relaxed: every inbox
    test file's ``clock`` fixture."""
    from shared.core.clock import SystemClock

    clock = Clock(at)
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now)
    relax_pacing(monkeypatch)
    return clock


def relax_pacing(monkeypatch: Any) -> None:
    """moto on this shared machine takes longer per write than DynamoDB does, so the pacer's 30 ms
    lateness check (a slot reached late is given up and booked again) would refuse every slot. Pacing has
    its own tests; here a reply may reach its slot late."""
    from shared.outbound import store

    monkeypatch.setattr(store, "LATE_TOLERANCE", 5.0)


def open_around_the_clock(stack: Stack, department: str = "front-desk") -> None:
    """The default department (template's DefaultDepartment) staffed every hour of every day: for suites
    written before the inbox, whose texts arrive at the machine's wall-clock time and which check what
    else is texted back, so that an after-hours reply (correct outside the default Mon-Fri 08:00-17:00)
    does not depend on when the suite runs. The inbox's own suites set the hours they test."""
    every_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    set_department(
        stack,
        department,
        time_zone="America/New_York",
        hours={day: [["00:00", "24:00"]] for day in every_day},
    )
