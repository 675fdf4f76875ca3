"""Issue 11 §3, PHI format 3: the hierarchical keyring's keystore table and who may use it.

The keystore holds the PHI branch key wrapped by DataKey. It is kept like the other tables (KMS, PITR,
retained) and protected from deletion; no function may write it (``clinictext keys init`` creates the
branch key with the deployer's credentials), every function that may decrypt PHI may read it, and the
branch-key unwrap is granted only with the keystore's encryption context.
"""

from __future__ import annotations

import pytest

from tests.template.cfn import FUNCTIONS, RESOURCES, TEMPLATE, as_list, function_statements, target

KEYSTORE = "PhiKeyStoreTable"


def phi_functions() -> list[str]:
    return [
        name
        for name in FUNCTIONS
        if any(s.get("Sid") == "PhiEnvelopeEncryption" for _o, s in function_statements(name))
    ]


def test_the_keystore_table_is_encrypted_recoverable_retained_and_protected() -> None:
    table = RESOURCES[KEYSTORE]
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert props["DeletionProtectionEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert target(props["SSESpecification"]["KMSMasterKeyId"]) == "DataKey"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    # The MPL's keystore schema.
    assert props["KeySchema"] == [
        {"AttributeName": "branch-key-id", "KeyType": "HASH"},
        {"AttributeName": "type", "KeyType": "RANGE"},
    ]


def test_every_function_gets_the_keystore_and_branch_key_names() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert target(env["PHI_KEYSTORE_TABLE"]) == KEYSTORE
    assert env["PHI_BRANCH_KEY_ID"] == {"Fn::Sub": "${AWS::StackName}-phi"}


def test_some_functions_handle_phi() -> None:
    assert len(phi_functions()) >= 5


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_may_write_the_keystore(function: str) -> None:
    for _owner, statement in function_statements(function):
        if statement.get("Effect") != "Allow":
            continue
        resources = {target(r) for r in as_list(statement.get("Resource"))}
        if KEYSTORE in resources or any(KEYSTORE in str(r) for r in as_list(statement.get("Resource"))):
            assert set(as_list(statement["Action"])) == {"dynamodb:GetItem"}, statement


@pytest.mark.parametrize("function", phi_functions())
def test_a_phi_function_reads_the_keystore_and_unwraps_only_the_branch_key(function: str) -> None:
    statements = [s for _o, s in function_statements(function)]
    read = [s for s in statements if KEYSTORE in {target(r) for r in as_list(s.get("Resource"))}]
    assert [as_list(s["Action"]) for s in read] == [["dynamodb:GetItem"]]
    unwrap = [s for s in statements if s.get("Sid") == "PhiBranchKeyUnwrap"]
    assert len(unwrap) == 1
    assert as_list(unwrap[0]["Action"]) == ["kms:Decrypt"]
    assert target(unwrap[0]["Resource"]) == "DataKey"
    condition = unwrap[0]["Condition"]["StringEquals"]
    assert target(condition["kms:EncryptionContext:tablename"]) == KEYSTORE
    assert condition["kms:EncryptionContext:branch-key-id"] == {"Fn::Sub": "${AWS::StackName}-phi"}


def test_the_outputs_name_what_keys_init_needs() -> None:
    outputs = TEMPLATE["Outputs"]
    assert target(outputs["PhiKeyStoreTableName"]["Value"]) == KEYSTORE
    assert outputs["PhiBranchKeyId"]["Value"] == {"Fn::Sub": "${AWS::StackName}-phi"}
    assert target(outputs["DataKeyArn"]["Value"]) == "DataKey"
