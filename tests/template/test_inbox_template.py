"""What template.yaml guarantees for the staff inbox: the conversations table's keys and indexes hold no
PHI, the on-call topic is encrypted, the sweep runs from its own schedule, and each function may do only
what its part of the inbox needs."""

from __future__ import annotations

from tests.template.cfn import (
    RESOURCES,
    allows,
    as_list,
    function_props,
    function_statements,
    is_data_key,
    props,
    role_statements,
    target,
)

# Attribute names a key or index may use: random ids, blind indexes, group names, times, markers.
NON_PHI_KEY_ATTRIBUTES = {"pk", "sk", "phone_hmac", "department", "activity_key", "attention"}


def test_conversations_table_keys_and_indexes_hold_no_phi_and_are_encrypted() -> None:
    table = props("ConversationsTable")
    keys = {k["AttributeName"] for k in table["KeySchema"]}
    for index in table["GlobalSecondaryIndexes"]:
        keys |= {k["AttributeName"] for k in index["KeySchema"]}
    assert keys <= NON_PHI_KEY_ATTRIBUTES
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        "by_number",
        "by_department",
        "attention",
    }
    assert is_data_key(table["SSESpecification"]["KMSMasterKeyId"])
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert "TimeToLiveSpecification" not in table  # conversations are records: nothing expires them


def test_on_call_topic_is_encrypted_and_only_the_inbox_functions_publish_to_it() -> None:
    assert is_data_key(props("OnCallTopic")["KmsMasterKeyId"])
    publishers = {
        name
        for name, spec in RESOURCES.items()
        if spec["Type"] == "AWS::Serverless::Function"
        and allows(function_statements(name), "sns:Publish", "OnCallTopic")
    }
    assert publishers >= {"InboundSmsFunction", "TwilioWebhookFunction", "InboxSweepFunction"}


def test_the_sweep_runs_from_its_own_schedule_with_the_time_in_its_event() -> None:
    [schedule] = [
        name
        for name, spec in RESOURCES.items()
        if spec["Type"] == "AWS::Scheduler::Schedule"
        and target(spec["Properties"]["Target"]["Arn"]) == "InboxSweepFunction"
    ]
    spec = props(schedule)
    assert "<aws.scheduler.scheduled-time>" in str(spec["Target"]["Input"])
    assert target(spec["Target"]["DeadLetterConfig"]["Arn"]) == "AsyncFailureQueue"
    role = target(spec["Target"]["RoleArn"])
    invoked = {
        target(r)
        for _owner, s in role_statements(str(role))
        if "lambda:InvokeFunction" in as_list(s.get("Action"))
        for r in as_list(s.get("Resource"))
    }
    assert invoked == {"InboxSweepFunction"}
    assert function_props("InboxSweepFunction").get("DeadLetterQueue")


def test_the_sweep_cannot_send_texts_or_touch_consent() -> None:
    statements = function_statements("InboxSweepFunction")
    publish_anywhere = [
        s
        for _o, s in statements
        if "sns:Publish" in as_list(s.get("Action")) and "*" in as_list(s.get("Resource"))
    ]
    assert publish_anywhere == []  # no direct-to-phone SMS: it pages OnCallTopic only
    assert allows(statements, "sns:Publish", "OnCallTopic")
    granted = {a for _o, s in statements for a in as_list(s.get("Action"))}
    assert "dynamodb:DeleteItem" not in granted and "dynamodb:Scan" not in granted
    resources = {target(r) for _o, s in statements for r in as_list(s.get("Resource"))}
    assert "ConsentTable" not in resources and "MessagesTable" not in resources
