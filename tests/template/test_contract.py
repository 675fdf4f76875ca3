"""What template.yaml must guarantee: PHI encrypted with the stack's key and retained, failures kept,
logs bounded, and permissions that name what they touch."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.template.cfn import (
    CONDITIONS,
    DATA_KEY,
    FUNCTIONS,
    PARAMETERS,
    RESOURCES,
    as_list,
    branches,
    events,
    function_props,
    function_statements,
    identity_statements,
    is_data_key,
    of_type,
    props,
    references,
    role_statements,
    target,
)

TABLES = of_type("AWS::DynamoDB::Table")
TOPICS = of_type("AWS::SNS::Topic")
QUEUES = of_type("AWS::SQS::Queue")
LOG_GROUPS = of_type("AWS::Logs::LogGroup")
KEYS = of_type("AWS::KMS::Key")
SCHEDULES = of_type("AWS::Scheduler::Schedule")

# Actions AWS does not let a policy scope to a resource: publishing straight to a phone number (no topic)
# and the account-wide SMS opt-out list. Only these may be granted on Resource "*".
UNSCOPABLE_ACTIONS = {"sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut", "sns:OptInPhoneNumber"}
# Event sources that invoke Lambda asynchronously: failures after retries are dropped without a DLQ.
ASYNC_EVENT_TYPES = {
    "SNS",
    "S3",
    "Schedule",
    "ScheduleV2",
    "CloudWatchEvent",
    "EventBridgeRule",
    "CloudWatchLogs",
    "IoTRule",
}
STATEMENTS = identity_statements()
SQS_DEFAULT_RETENTION = 345600
SQS_DEFAULT_VISIBILITY = 30
LAMBDA_DEFAULT_TIMEOUT = 3


def _statement_id(item: tuple[str, dict[str, Any]]) -> str:
    owner, statement = item
    return f"{owner}:{statement.get('Sid') or as_list(statement.get('Action'))[0]}"


def test_the_template_declares_what_the_tests_check() -> None:
    # Guards every parametrized test below against passing vacuously on an empty list.
    assert TABLES and TOPICS and QUEUES and FUNCTIONS and LOG_GROUPS and SCHEDULES and STATEMENTS
    assert DATA_KEY in KEYS


# -- encryption and retention of data ------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_table_is_encrypted_with_the_data_key_backed_up_and_retained(table: str) -> None:
    resource, properties = RESOURCES[table], props(table)
    sse = properties.get("SSESpecification") or {}
    assert sse.get("SSEEnabled") is True and sse.get("SSEType") == "KMS", f"{table}: SSE must be KMS"
    assert is_data_key(sse.get("KMSMasterKeyId")), f"{table}: SSE must use the stack's {DATA_KEY}"
    pitr = properties.get("PointInTimeRecoverySpecification") or {}
    assert pitr.get("PointInTimeRecoveryEnabled") is True, f"{table}: point-in-time recovery is off"
    assert resource.get("DeletionPolicy") == "Retain", f"{table}: deleting the stack would delete PHI"
    assert resource.get("UpdateReplacePolicy") == "Retain", f"{table}: a replacement would delete PHI"


def test_data_key_rotates_is_retained_and_has_a_key_policy() -> None:
    resource, properties = RESOURCES[DATA_KEY], props(DATA_KEY)
    assert properties.get("EnableKeyRotation") is True
    assert resource.get("DeletionPolicy") == "Retain", "deleting the key makes every table unreadable"
    assert resource.get("UpdateReplacePolicy") == "Retain"
    statements = as_list((properties.get("KeyPolicy") or {}).get("Statement") or [])
    assert statements, "the DataKey needs an explicit key policy"
    for statement in statements:
        principal = statement.get("Principal")
        assert principal != "*" and principal != {"AWS": "*"}, (
            f"{statement.get('Sid')}: anyone may use the key"
        )
        if "Service" in principal and statement.get("Effect") == "Allow":
            assert statement.get("Condition"), (
                f"{statement.get('Sid')}: service use must be tied to this account"
            )
    # Without the account root, IAM policies cannot grant use of the key and nobody can administer it.
    assert any(
        statement.get("Effect") == "Allow" and ":root" in str((statement.get("Principal") or {}).get("AWS"))
        for statement in statements
    )


@pytest.mark.parametrize("key", KEYS)
def test_every_key_is_retained(key: str) -> None:
    assert RESOURCES[key].get("DeletionPolicy") == "Retain"
    assert RESOURCES[key].get("UpdateReplacePolicy") == "Retain"


@pytest.mark.parametrize("topic", TOPICS)
def test_topic_is_encrypted_with_the_data_key(topic: str) -> None:
    assert is_data_key(props(topic).get("KmsMasterKeyId")), f"{topic}: inbound texts are PHI"


@pytest.mark.parametrize("queue", QUEUES)
def test_queue_is_encrypted_with_the_data_key(queue: str) -> None:
    assert is_data_key(props(queue).get("KmsMasterKeyId")), f"{queue}: queued messages are PHI"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_environment_is_encrypted_with_the_data_key(function: str) -> None:
    assert is_data_key(function_props(function).get("KmsKeyArn"))


# -- logs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_logs_to_a_declared_log_group_with_retention(function: str) -> None:
    log_group = target((function_props(function).get("LoggingConfig") or {}).get("LogGroup"))
    assert log_group in LOG_GROUPS, (
        f"{function}: without LoggingConfig.LogGroup Lambda creates /aws/lambda/... that keeps logs forever"
    )
    assert props(log_group).get("RetentionInDays"), f"{log_group}: no RetentionInDays"


@pytest.mark.parametrize("log_group", LOG_GROUPS)
def test_log_group_has_retention_and_the_data_key(log_group: str) -> None:
    assert props(log_group).get("RetentionInDays"), f"{log_group}: no RetentionInDays"
    assert is_data_key(props(log_group).get("KmsKeyId")), f"{log_group}: not encrypted with {DATA_KEY}"


# -- failures are kept ----------------------------------------------------------------------------------


def _scheduled_functions() -> set[str]:
    return {str(target(props(schedule)["Target"]["Arn"])) for schedule in SCHEDULES}


ASYNC_FUNCTIONS = sorted(
    {name for name in FUNCTIONS if events(name, *ASYNC_EVENT_TYPES)}
    | (_scheduled_functions() & set(FUNCTIONS))
)


def test_asynchronous_functions_are_found() -> None:
    assert any(events(name, "SNS") for name in ASYNC_FUNCTIONS)
    assert _scheduled_functions() & set(ASYNC_FUNCTIONS)


@pytest.mark.parametrize("function", ASYNC_FUNCTIONS)
def test_asynchronous_function_keeps_failed_events(function: str) -> None:
    properties = function_props(function)
    dead_letter = target((properties.get("DeadLetterQueue") or {}).get("TargetArn"))
    on_failure = target(
        (
            ((properties.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure")
            or {}
        ).get("Destination")
    )
    kept_in = dead_letter or on_failure
    assert kept_in, (
        f"{function} is invoked asynchronously; give it a DeadLetterQueue or OnFailure destination"
    )
    assert RESOURCES[kept_in]["Type"] in {"AWS::SQS::Queue", "AWS::SNS::Topic"}


SNS_EVENTS = [(name, event_name) for name in FUNCTIONS for event_name in events(name, "SNS")]


@pytest.mark.parametrize(("function", "event_name"), SNS_EVENTS)
def test_sns_subscription_dead_letters_to_a_queue_sns_may_write(function: str, event_name: str) -> None:
    properties = events(function)[event_name]["Properties"]
    topic = target(properties["Topic"])
    queue = target((properties.get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
    assert queue in QUEUES, f"{function}.{event_name}: the subscription needs a RedrivePolicy to a queue"
    # SNS itself sends to a subscription's DLQ, so the queue policy must let it (SAM adds no such policy).
    granted = False
    for policy in of_type("AWS::SQS::QueuePolicy"):
        if queue not in {target(q) for q in as_list(props(policy)["Queues"])}:
            continue
        for statement in as_list(props(policy)["PolicyDocument"]["Statement"]):
            services = as_list((statement.get("Principal") or {}).get("Service"))
            condition_refs = {name for _kind, name in references(statement.get("Condition"))}
            granted |= (
                statement.get("Effect") == "Allow"
                and "sns.amazonaws.com" in services
                and "sqs:SendMessage" in as_list(statement.get("Action"))
                and topic in condition_refs
            )
    assert granted, f"no AWS::SQS::QueuePolicy lets {topic} (sns.amazonaws.com) send to {queue}"


SQS_EVENTS = [(name, event_name) for name in FUNCTIONS for event_name in events(name, "SQS")]


@pytest.mark.parametrize(("function", "event_name"), SQS_EVENTS)
def test_sqs_event_source_queue_has_a_redrive_policy(function: str, event_name: str) -> None:
    event = events(function)[event_name]["Properties"]
    queue = target(event["Queue"])
    assert queue in QUEUES, f"{function}.{event_name}: queue must be declared in this template"
    redrive = props(queue).get("RedrivePolicy") or {}
    dead_letter = target(redrive.get("deadLetterTargetArn"))
    assert dead_letter in QUEUES, f"{queue}: failed messages need a dead-letter queue"
    # AWS guidance for Lambda consumers: at least 5 receives, so throttling alone does not dead-letter.
    assert int(redrive.get("maxReceiveCount", 0)) >= 5
    # Messages keep their first enqueue time in the DLQ; a shorter DLQ retention would expire them early.
    retention = int(props(queue).get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION))
    assert int(props(dead_letter).get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)) > retention
    # CloudFormation refuses an event source whose queue visibility is shorter than the function timeout.
    timeout = int(function_props(function).get("Timeout", LAMBDA_DEFAULT_TIMEOUT))
    assert int(props(queue).get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY)) >= timeout
    # Without partial batch responses, one failed reminder re-sends the other texts in its batch.
    if int(event.get("BatchSize", 10)) > 1:
        assert "ReportBatchItemFailures" in (event.get("FunctionResponseTypes") or [])


def test_fanout_schedule_targets_the_fanout_function_with_a_dead_letter_queue() -> None:
    schedules = [s for s in SCHEDULES if target(props(s)["Target"]["Arn"]) == "ReminderFanoutFunction"]
    assert len(schedules) == 1, "exactly one AWS::Scheduler::Schedule must run the reminder fan-out"
    schedule = props(schedules[0])
    assert RESOURCES[schedules[0]]["Type"] == "AWS::Scheduler::Schedule"
    scheduled = [
        (name, event)
        for name, event in events("ReminderFanoutFunction").items()
        if event["Type"] in {"Schedule", "ScheduleV2"}
    ]
    assert not scheduled, "a second schedule on the function itself would run the fan-out twice"
    target_spec = schedule["Target"]
    dead_letter = target((target_spec.get("DeadLetterConfig") or {}).get("Arn"))
    assert dead_letter in QUEUES, "the schedule needs a DeadLetterConfig queue"
    assert target_spec.get("RetryPolicy"), "the schedule needs an explicit RetryPolicy"
    role = target(target_spec["RoleArn"])
    assert role in of_type("AWS::IAM::Role")
    granted = role_statements(role)
    statements = [s for _owner, s in granted]
    assert any(
        "lambda:InvokeFunction" in as_list(s.get("Action"))
        and {target(r) for r in as_list(s.get("Resource"))} == {"ReminderFanoutFunction"}
        for s in statements
    ), f"{role} must be allowed to invoke exactly the fan-out function"
    assert any(
        "sqs:SendMessage" in as_list(s.get("Action"))
        and dead_letter in {target(r) for r in as_list(s.get("Resource"))}
        for s in statements
    ), f"{role} must be allowed to send to its dead-letter queue {dead_letter}"
    if is_data_key(props(dead_letter).get("KmsMasterKeyId")):
        assert any(
            "kms:GenerateDataKey" in as_list(s.get("Action"))
            and DATA_KEY in {target(r) for r in as_list(s.get("Resource"))}
            for s in statements
        ), f"{role} cannot write to the encrypted queue {dead_letter} without kms:GenerateDataKey"


# -- least privilege ------------------------------------------------------------------------------------


@pytest.mark.parametrize("item", STATEMENTS, ids=_statement_id)
def test_statement_names_each_action(item: tuple[str, dict[str, Any]]) -> None:
    owner, statement = item
    if statement.get("Effect") != "Allow":
        return
    assert "NotAction" not in statement and "NotResource" not in statement, f"{owner}: NotAction/NotResource"
    wildcards = [action for action in as_list(statement.get("Action")) if "*" in action]
    assert not wildcards, f"{owner}: {statement.get('Sid')} grants wildcard actions {wildcards}"


def _resource_text(resource: Any) -> str | None:
    """The literal text of a resource ARN (plain or Fn::Sub), or None for a Ref/GetAtt."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return None


@pytest.mark.parametrize("item", STATEMENTS, ids=_statement_id)
def test_statement_names_its_resources(item: tuple[str, dict[str, Any]]) -> None:
    owner, statement = item
    if statement.get("Effect") != "Allow":
        return
    resources = [branch for r in as_list(statement.get("Resource")) for branch in branches(r)]
    assert resources, f"{owner}: {statement.get('Sid')} has no Resource"
    if "*" in resources:
        extra = set(as_list(statement.get("Action"))) - UNSCOPABLE_ACTIONS
        assert resources == ["*"], f"{owner}: mix '*' with named resources in separate statements"
        assert not extra, f"{owner}: {sorted(extra)} can be scoped to a resource; name it instead of '*'"
        return
    for resource in resources:
        text = _resource_text(resource)
        if text is None or "*" not in text:
            continue
        # The wildcards allowed: all indexes of a named table, and the objects under one fixed key
        # prefix of a named bucket (object keys are data: the audit anchors' sequence numbers).
        prefix = re.fullmatch(r"\$\{(\w+)\.Arn\}/[a-z0-9-]+/\*", text)
        in_bucket = prefix is not None and RESOURCES.get(prefix.group(1), {}).get("Type") == "AWS::S3::Bucket"
        assert in_bucket or (text.endswith("/index/*") and "*" not in text.removesuffix("/index/*")), (
            f"{owner}: {statement.get('Sid')} uses a wildcard resource {text!r}"
        )


def test_only_unscopable_sms_actions_are_granted_on_every_resource() -> None:
    everywhere = {
        action
        for _owner, statement in STATEMENTS
        if statement.get("Effect") == "Allow" and "*" in as_list(statement.get("Resource"))
        for action in as_list(statement.get("Action"))
    }
    assert everywhere <= UNSCOPABLE_ACTIONS


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_policies_are_inline_statements(function: str) -> None:
    assert function_statements(function), f"{function} has no policy statements"


# -- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_environment_variable_resolves(function: str) -> None:
    variables = function_props(function)["Environment"]["Variables"]
    assert variables, f"{function} has no environment"
    for name, value in variables.items():
        assert isinstance(value, str | int | float | dict), f"{function}.{name} has no value"
        for kind, referenced in references(value):
            if kind == "Condition":
                assert referenced in CONDITIONS, f"{function}.{name}: condition {referenced} is not declared"
            elif kind == "GetAtt":
                assert referenced in RESOURCES, f"{function}.{name}: GetAtt of undeclared {referenced}"
            else:
                declared = (
                    referenced in PARAMETERS or referenced in RESOURCES or referenced.startswith("AWS::")
                )
                assert declared, f"{function}.{name}: {referenced} is neither a Parameter nor a Resource"
