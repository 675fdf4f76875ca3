"""AuditAnchorBucket in template.yaml: the audit chain's head is copied where nobody can remove it.
Object Lock in compliance mode, versioned, encrypted with the data key, TLS only, never public; no
principal of the stack may delete an anchor or loosen its lock, and only the inbox sweep may put one."""

from __future__ import annotations

from typing import Any

from tests.template.cfn import (
    RESOURCES,
    TEMPLATE,
    as_list,
    branches,
    function_props,
    identity_statements,
    is_data_key,
    props,
    references,
)

BUCKET = "AuditAnchorBucket"
# Anything that removes an anchor, changes its lock, or lets a principal reconfigure the bucket.
FORBIDDEN = {
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
}


def _touches_bucket(statement: dict[str, Any]) -> bool:
    resources = [branch for r in as_list(statement.get("Resource")) for branch in branches(r)]
    if "*" in resources or any(isinstance(r, str) and ("s3" in r and "*" in r) for r in resources):
        return True
    return any(name == BUCKET for _kind, name in references(resources))


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = {str(a) for a in as_list(statement.get("Action"))}
    return (
        actions | FORBIDDEN if actions & {"*", "s3:*"} or any(a.endswith("*") for a in actions) else actions
    )


def violations(statements: list[tuple[str, dict[str, Any]]]) -> list[str]:
    found = []
    for owner, statement in statements:
        if statement.get("Effect") != "Allow" or not _touches_bucket(statement):
            continue
        granted = _actions(statement)
        if granted & FORBIDDEN:
            found.append(f"{owner}: {sorted(granted & FORBIDDEN)}")
        if "s3:PutObject" in granted and owner != "InboxSweepFunction":
            found.append(f"{owner}: s3:PutObject on the anchors (only the sweep anchors)")
    return found


def test_the_anchors_are_locked_in_compliance_mode_for_six_years_by_default():
    properties = props(BUCKET)
    assert properties["ObjectLockEnabled"] is True
    retention = properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["Days"] == {"Ref": "AuditAnchorRetentionDays"}
    assert TEMPLATE["Parameters"]["AuditAnchorRetentionDays"]["Default"] == 2192  # 164.316(b)(2)(i)
    assert RESOURCES[BUCKET].get("DeletionPolicy") == "Retain"


def test_the_bucket_is_versioned_encrypted_with_the_data_key_and_never_public():
    properties = props(BUCKET)
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert is_data_key(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}


def test_the_bucket_policy_refuses_plain_http_and_every_delete():
    [policy] = [
        name
        for name, spec in RESOURCES.items()
        if spec["Type"] == "AWS::S3::BucketPolicy" and spec["Properties"]["Bucket"] == {"Ref": BUCKET}
    ]
    statements = props(policy)["PolicyDocument"]["Statement"]
    tls = [
        s for s in statements if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert tls and tls[0]["Effect"] == "Deny" and tls[0]["Action"] == "s3:*"
    denied = {
        a for s in statements if s["Effect"] == "Deny" and s["Principal"] == "*" for a in as_list(s["Action"])
    }
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention"} <= denied
    assert not [s for s in statements if s["Effect"] == "Allow"]


def test_no_principal_may_delete_or_unlock_an_anchor_and_only_the_sweep_writes():
    assert violations(identity_statements()) == []
    sweep = function_props("InboxSweepFunction")
    assert sweep["Environment"]["Variables"]["AUDIT_ANCHOR_BUCKET"] == {"Ref": BUCKET}


def test_the_check_catches_grants_that_could_remove_an_anchor():
    bucket = {"Fn::Sub": "${AuditAnchorBucket.Arn}/*"}
    for statement in (
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": bucket},
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:Delete*"], "Resource": bucket},
        {"Effect": "Allow", "Action": ["s3:PutObjectRetention"], "Resource": bucket},
    ):
        assert violations([("InboxSweepFunction", statement)]), statement
    assert violations(
        [("InboxApiFunction", {"Effect": "Allow", "Action": "s3:PutObject", "Resource": bucket})]
    )
    assert not violations(
        [("InboxSweepFunction", {"Effect": "Allow", "Action": "s3:PutObject", "Resource": bucket})]
    )
