"""``clinictext audit verify``: walk the audit trail in AuditTable, check every record's hash, its link to
the one before, the numbering, the chain head and the newest anchors in AuditAnchorBucket, and say what
is wrong, first record first. Exit 0 when intact, 1 when not, 2 when the trail cannot be read.

Where the trail is: the running sandbox by default (``GET /_sandbox/audit`` names its table, bucket and
key), or a deployed stack with ``--table``, ``--anchor-bucket`` and ``--key-arn`` (the stack's
AuditAnchorBucketName output; your own AWS credentials, which need dynamodb:GetItem/Query on the table,
kms:Decrypt on the data key, s3:ListBucket/GetObject on the bucket, and PutItem inside a transaction to
record the verification). The verification itself is appended to the trail as an ``audit_verify``
record, after the check.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
from dataclasses import replace
from typing import Any

from infra.client import request as call_api
from infra.terminal import printable

_NAME = re.compile(r"[^A-Za-z0-9_.@-]")
# A KMS key ARN, any partition (aws, aws-us-gov, aws-cn): what the stack's DataKey output gives.
_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,64}")


def add_parser(sub: Any, default_api: str) -> None:
    audit = sub.add_parser("audit", help="the audit trail: verify its hash chain and anchors")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check every record, the chain head and the anchors")
    verify.add_argument("--from", dest="first", type=int, default=1, help="first record number (default 1)")
    verify.add_argument(
        "--to", dest="last", type=int, default=None, help="last record number (default: head)"
    )
    verify.add_argument("--anchors", type=int, default=12, help="how many of the newest anchors to check")
    verify.add_argument("--table", help="AuditTable's name (a deployed stack)")
    verify.add_argument("--anchor-bucket", help="AuditAnchorBucket's name (output AuditAnchorBucketName)")
    verify.add_argument("--key-arn", help="DataKey's ARN (break-glass reasons are hashed as written)")
    verify.add_argument("--keystore-table", help="PhiKeyStoreTable's name (output PhiKeyStoreTableName)")
    verify.add_argument("--branch-key-id", help="the PHI branch key's id (output PhiBranchKeyId)")
    verify.add_argument("--no-record", action="store_true", help="do not append the audit_verify record")
    verify.add_argument("--api", default=default_api, help="the sandbox, when --table is not given")


def _where(args: argparse.Namespace) -> dict[str, Any] | str:
    if args.table:
        if not args.key_arn:
            return "--table needs --key-arn (the stack's DataKey)"
        if not (args.keystore_table and args.branch_key_id):
            return "--table needs --keystore-table and --branch-key-id (the stack's PHI keystore outputs)"
        if not _KEY_ARN.fullmatch(args.key_arn):
            return "--key-arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID, the stack's DataKey)"
        return {
            "audit_table": args.table,
            "anchor_bucket": args.anchor_bucket,
            "data_key_arn": args.key_arn,
            "keystore_table": args.keystore_table,
            "branch_key_id": args.branch_key_id,
        }
    status, body = call_api("GET", f"{args.api}/_sandbox/audit")
    if status != 200:
        return f"the sandbox at {args.api} does not name its audit trail ({status}); give --table"
    where = dict(json.loads(body))
    # The sandbox's embedded AWS: its endpoint, any credentials.
    os.environ["AWS_ENDPOINT_URL"] = where["aws_endpoint"]
    os.environ["AWS_DEFAULT_REGION"] = where["region"]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "sandbox")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "sandbox")
    return where


def run(args: argparse.Namespace) -> int:
    from shared.audit.domain import AuditAction, AuditEvent, findings
    from shared.audit.wiring import operator_verifier
    from shared.core.errors import IntegrityError, InvalidInput

    where = _where(args)
    if isinstance(where, str):
        print(where)
        return 2
    if args.anchors < 0:
        print("--anchors must be 0 or more")
        return 2
    try:
        verifier = operator_verifier(
            table=where["audit_table"],
            data_key_arn=where["data_key_arn"],
            anchor_bucket=where.get("anchor_bucket"),
            keystore_table=where["keystore_table"],
            branch_key_id=where["branch_key_id"],
        )
    except Exception as exc:  # the keystore client refuses its settings with library-internal errors
        print(f"cannot open the PHI keystore ({type(exc).__name__}): check --keystore-table and --key-arn")
        return 2
    verifier = replace(verifier, anchors_checked=args.anchors)
    operator = _NAME.sub("_", getpass.getuser() or "operator")[:60] or "operator"
    event = AuditEvent(
        user_id=f"cli:{operator}",
        username=operator,
        action=AuditAction.AUDIT_VERIFY,
        source_ip="",
        user_agent="clinictext-cli",
    )
    try:
        report = verifier.run(first=args.first, last=args.last)
    except InvalidInput as exc:
        print(f"{exc.field}: {exc.message}")
        return 2
    except IntegrityError as exc:
        print(f"BROKEN: {printable(str(exc))}")
        return 1
    head = report.head
    span = f"{report.first_sequence} .. {report.last_sequence}" if report.checked else "none"
    print(f"audit trail {where['audit_table']}: {report.checked} record(s) checked, sequences {span}")
    if head is not None:
        print(f"chain head: sequence {head.sequence}, hash {head.hash}")
    if verifier.anchors is None:
        print("anchors: not checked (no --anchor-bucket): records cut off the end go unseen")
    else:
        print(f"anchors: newest {args.anchors} checked against the table")
    problems = findings(report)
    if problems:
        print(f"BROKEN: {printable(problems[0][1])}")
        for _sequence, sentence in problems[1:20]:
            print(f"  also: {printable(sentence)}")
        if len(problems) > 20:
            print(f"  ... and {len(problems) - 20} more finding(s)")
    else:
        print("INTACT: every record verifies and links to the one before, up to the chain head")
    if not args.no_record:
        outcome = {"intact": "yes" if report.intact else "no", "checked": str(report.checked)}
        if args.first != 1 or args.last is not None:
            outcome.update({"from": str(args.first), "to": str(args.last or "head")})
        try:
            verifier.log.append(replace(event, detail=outcome))
        except Exception as exc:  # a broken head refuses appends: say so, the finding stands
            print(f"(this verification was not recorded in the trail: {type(exc).__name__})")
    return 0 if report.intact else 1
