"""What an operator is told (issue 10 §1): parked inbound texts and unreadable consent records raise alarms
on the metrics the code really emits, notifying an encrypted operations topic CloudWatch may publish to."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.template.cfn import REPO, function_props, is_data_key, of_type, props, target

ALARMS = of_type("AWS::CloudWatch::Alarm")
NAMESPACE = function_props("InboundSmsFunction")["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
_QUERY = re.compile(r"^SELECT SUM\((\w+)\) FROM (\w+)$")
# The metrics a person must act on, and the code that counts them.
OPERATOR_METRICS = {"InboundParked", "ConsentStateUnreadable", "ConsentEventUnreadable"}


def _source() -> str:
    files = [*REPO.glob("shared/**/*.py"), *REPO.glob("functions/**/*.py")]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def _queried(alarm: str) -> tuple[str, str]:
    [query] = [m for m in props(alarm)["Metrics"] if m.get("ReturnData")]
    found = _QUERY.match(query["Expression"])
    assert found, f"{alarm}: expected a Metrics Insights SUM over one metric"
    return found.group(1), found.group(2)


def test_every_operator_metric_has_an_alarm() -> None:
    assert {_queried(alarm)[0] for alarm in ALARMS} >= OPERATOR_METRICS


@pytest.mark.parametrize("alarm", ALARMS)
def test_alarm_queries_a_metric_the_code_emits_in_the_functions_namespace(alarm: str) -> None:
    metric, namespace = _queried(alarm)
    assert namespace == NAMESPACE
    assert f'"{metric}"' in _source(), f"{alarm}: no code counts {metric}"


@pytest.mark.parametrize("alarm", ALARMS)
def test_alarm_notifies_the_operations_topic_on_the_first_occurrence(alarm: str) -> None:
    alarm_props = props(alarm)
    assert alarm_props["ActionsEnabled"] is True
    assert [target(action) for action in alarm_props["AlarmActions"]] == ["OperationsTopic"]
    assert (
        alarm_props["Threshold"] == 1 and alarm_props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    )
    assert alarm_props["TreatMissingData"] == "notBreaching"


def test_the_operations_topic_is_encrypted_and_cloudwatch_may_use_it_and_its_key() -> None:
    assert is_data_key(props("OperationsTopic")["KmsMasterKeyId"])
    policies = of_type("AWS::SNS::TopicPolicy")
    [policy] = [name for name in policies if target(props(name)["Topics"][0]) == "OperationsTopic"]
    [publish] = props(policy)["PolicyDocument"]["Statement"]
    assert (
        publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and publish["Action"] == "sns:Publish"
    )
    assert "aws:SourceAccount" in publish["Condition"]["StringEquals"]
    key_statements: list[dict[str, Any]] = props("DataKey")["KeyPolicy"]["Statement"]
    [cloudwatch] = [s for s in key_statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(cloudwatch["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert "aws:SourceAccount" in cloudwatch["Condition"]["StringEquals"]


@pytest.mark.parametrize("function", ["InboundSmsFunction", "TwilioWebhookFunction"])
def test_inbound_functions_can_park_a_text_on_the_failure_queue(function: str) -> None:
    variables = function_props(function)["Environment"]["Variables"]
    assert target(variables["REJECTED_QUEUE_URL"]) == "AsyncFailureQueue"
    own = props(function)
    may_send = target((own.get("DeadLetterQueue") or {}).get("TargetArn")) == "AsyncFailureQueue"
    for policy in own.get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement.get("Action", []) if isinstance(statement, dict) else []
            if "sqs:SendMessage" in actions and target(statement.get("Resource")) == "AsyncFailureQueue":
                may_send = True
    assert may_send, f"{function} cannot send to AsyncFailureQueue"
