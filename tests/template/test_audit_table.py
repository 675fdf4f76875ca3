"""AuditTable in template.yaml: kept for good, encrypted, and no principal may change or delete a record.

The permission checks read every IAM statement the template grants (every function's policies and every
role, including ones added later), so a new function that is given UpdateItem on the table fails here.
"""

from __future__ import annotations

from typing import Any

from tests.template.cfn import (
    RESOURCES,
    as_list,
    branches,
    identity_statements,
    is_data_key,
    props,
    references,
)

AUDIT = "AuditTable"
# What a function may do on the audit trail: read it, and append through a conditional transaction.
ALLOWED_ON_AUDIT = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
}
# Actions that change or remove what is stored, or bypass the append path (PartiQL writes, imports,
# restores onto the table, TTL or stream settings).
FORBIDDEN_ON_AUDIT = {
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:PartiQLInsert",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:RestoreTableFromBackup",
    "dynamodb:ImportTable",
}
# Attributes an index of the trail may be keyed on: a random conversation id, a Cognito sub, a day and
# the stamp with the sequence number. Nothing that names or reaches a patient.
NON_PHI_KEYS = {"pk", "sk", "conversation_id", "user_id", "day", "at_sequence"}


def _touches_audit(statement: dict[str, Any]) -> bool:
    resources = [branch for r in as_list(statement.get("Resource")) for branch in branches(r)]
    if "*" in resources or any(isinstance(r, str) and "dynamodb" in r and "*" in r for r in resources):
        return True  # a wildcard covers the audit table too
    return any(name == AUDIT for _kind, name in references(resources))


def _grants(statement: dict[str, Any]) -> set[str]:
    actions = {str(a) for a in as_list(statement.get("Action"))}
    if any(a in {"*", "dynamodb:*"} for a in actions):
        return actions | FORBIDDEN_ON_AUDIT
    return actions


def _inside_transactions_only(statement: dict[str, Any]) -> bool:
    """The statement's Condition limits it to TransactWriteItems (``dynamodb:EnclosingOperation``)."""
    condition = statement.get("Condition") or {}
    for operator in ("StringEquals", "ForAnyValue:StringEquals", "ForAllValues:StringEquals"):
        value = (condition.get(operator) or {}).get("dynamodb:EnclosingOperation")
        if value is not None and as_list(value) == ["TransactWriteItems"]:
            return True
    return False


def violations(statements: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Every grant in ``statements`` that would let a principal change or remove audit records. PutItem
    is allowed only inside TransactWriteItems, the append path that conditions every put on the chain
    head (a bare PutItem could overwrite a record in one call)."""
    found = []
    for owner, statement in statements:
        if statement.get("Effect") != "Allow" or not _touches_audit(statement):
            continue
        granted = _grants(statement)
        dynamodb = {a for a in granted if a.startswith("dynamodb:")}
        wrong = (granted & FORBIDDEN_ON_AUDIT) | (dynamodb - ALLOWED_ON_AUDIT)
        if wrong:
            found.append(f"{owner}: {sorted(wrong)}")
        if "dynamodb:PutItem" in granted and not _inside_transactions_only(statement):
            found.append(f"{owner}: dynamodb:PutItem on the audit trail outside TransactWriteItems")
    return found


def test_the_audit_table_exists_and_the_checks_see_every_statement():
    assert RESOURCES[AUDIT]["Type"] == "AWS::DynamoDB::Table"
    assert identity_statements(), "no IAM statements found: the permission check below would pass vacuously"


def test_no_principal_may_update_or_delete_audit_records():
    assert violations(identity_statements()) == []


def test_the_check_catches_grants_that_could_change_the_trail():
    """The detector itself: statements like a careless new function's are each flagged."""
    table = {"Fn::GetAtt": [AUDIT, "Arn"]}
    flagged = [
        {"Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": table},
        {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"], "Resource": [table]},
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": {"Fn::Sub": "${AuditTable.Arn}/index/*"}},
        {"Effect": "Allow", "Action": ["dynamodb:BatchWriteItem"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PartiQLUpdate"],
            "Resource": {"Fn::Sub": "${AuditTable.Arn}"},
        },
        {"Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": {"Fn::If": ["C", table, "x"]}},
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": table},  # a bare put overwrites
    ]
    for statement in flagged:
        assert violations([("NewFunction", statement)]), statement
    in_transactions = {"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]}}
    append_only = {
        "Effect": "Allow",
        "Action": ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
        "Resource": table,
        "Condition": in_transactions,
    }
    reads = {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": [table]}
    elsewhere = {
        "Effect": "Allow",
        "Action": ["dynamodb:UpdateItem"],
        "Resource": {"Fn::GetAtt": ["ConsentTable", "Arn"]},
    }
    assert violations([("A", append_only), ("A", reads), ("B", elsewhere)]) == []


def test_the_trail_is_kept_encrypted_recoverable_and_protected_from_deletion():
    resource, properties = RESOURCES[AUDIT], props(AUDIT)
    assert resource.get("DeletionPolicy") == "Retain" and resource.get("UpdateReplacePolicy") == "Retain"
    assert properties.get("DeletionProtectionEnabled") is True
    assert "TimeToLiveSpecification" not in properties, "nothing may expire the audit trail"
    sse = properties.get("SSESpecification") or {}
    assert sse.get("SSEEnabled") is True and is_data_key(sse.get("KMSMasterKeyId"))
    assert (properties.get("PointInTimeRecoverySpecification") or {}).get(
        "PointInTimeRecoveryEnabled"
    ) is True


def test_keys_and_indexes_of_the_trail_carry_no_phi():
    properties = props(AUDIT)
    keys = {k["AttributeName"] for k in properties["KeySchema"]}
    indexes = {
        i["IndexName"]: {k["AttributeName"] for k in i["KeySchema"]}
        for i in properties["GlobalSecondaryIndexes"]
    }
    assert set(indexes) == {"by_conversation", "by_user", "by_day"}
    assert keys | set().union(*indexes.values()) <= NON_PHI_KEYS
