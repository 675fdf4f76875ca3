"""infra.local.moto_speed keeps moto's transaction semantics while backing up items, not tables."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.local.moto_speed import item_level_transactions


@pytest.fixture
def table(aws):
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
    created = dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    created.put_item(Item={"pk": "a", "n": 1})
    created.put_item(Item={"pk": "b", "n": 1})
    return created


def transact(items):
    boto3.client("dynamodb", region_name="us-east-1").transact_write_items(TransactItems=items)


def update(pk: str) -> dict:
    return {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table):
    with item_level_transactions():
        with pytest.raises(ClientError) as refused:
            transact(
                [
                    update("a"),
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}, "n": {"N": "9"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "b"}},
                            "ConditionExpression": "n = :two",
                            "ExpressionAttributeValues": {":two": {"N": "2"}},
                        }
                    },
                ]
            )
        assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
        reasons = [r["Code"] for r in refused.value.response["CancellationReasons"]]
        assert reasons == ["None", "None", "ConditionalCheckFailed"]
        items = {item["pk"]: int(item["n"]) for item in table.scan()["Items"]}
        assert items == {"a": 1, "b": 1}  # a's update undone, c never written


def test_a_transaction_that_holds_applies_all_of_it_and_the_patch_is_removed_after(table):
    from moto.dynamodb import models

    original = models.DynamoDBBackend.transact_write_items
    with item_level_transactions():
        assert models.DynamoDBBackend.transact_write_items is not original
        transact([update("a"), update("b")])
    assert models.DynamoDBBackend.transact_write_items is original
    assert {item["pk"]: int(item["n"]) for item in table.scan()["Items"]} == {"a": 2, "b": 2}


def test_symmetric_and_hmac_keys_stay_distinct_and_signing_keys_get_their_own_rsa_key(aws):
    from moto.kms import models

    from infra.local.moto_speed import reused_unused_key_material

    kms = boto3.client("kms", region_name="us-east-1")
    with reused_unused_key_material():
        first, second = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
        mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        signers = [
            kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            for _ in range(2)
        ]
        keys = models.kms_backends["123456789012"]["us-east-1"].keys
        assert keys[first].key_material != keys[second].key_material
        sealed = kms.encrypt(KeyId=first, Plaintext=b"x")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=sealed)["KeyId"].endswith(first)
        with pytest.raises(ClientError):
            kms.decrypt(CiphertextBlob=sealed, KeyId=second)
        tag = kms.generate_mac(KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
        assert kms.verify_mac(KeyId=mac, Message=b"m", Mac=tag, MacAlgorithm="HMAC_SHA_256")["MacValid"]
        assert keys[signers[0]].private_key is not keys[signers[1]].private_key
        signature = kms.sign(KeyId=signers[0], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")[
            "Signature"
        ]
        assert not kms.verify(
            KeyId=signers[1], Message=b"m", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256"
        )["SignatureValid"]


def test_the_key_patches_are_removed_after():
    from moto.cognitoidp import models as cognito_models
    from moto.kms import models as kms_models

    from infra.local.moto_speed import reused_unused_key_material

    generate = kms_models.generate_private_key
    importer = cognito_models.jwk.RSAKey.__dict__["import_key"]
    with reused_unused_key_material():
        assert kms_models.generate_private_key is not generate
    assert kms_models.generate_private_key is generate
    assert cognito_models.jwk.RSAKey.__dict__["import_key"] is importer


def test_sqs_speedup_keeps_moto_rules_and_counts_and_is_removed_after(aws):
    from moto.sqs.models import Queue, SQSBackend, sqs_backends

    from infra.local.moto_speed import linear_sqs

    sqs = boto3.client("sqs", region_name="us-east-1")
    original = (Queue.__dict__["attributes"], SQSBackend.__dict__["receive_message"])
    with linear_sqs():
        assert Queue.__dict__["attributes"] is not original[0]
        url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        for body in ("a", "b", "c"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
        assert len(got) == 2
        # GetQueueAttributes still counts: one visible, two in flight.
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessages"] == "1"
        assert counts["ApproximateNumberOfMessagesNotVisible"] == "2"
        # Older than the queue's retention period: dropped at receive, as moto does.
        queue = sqs_backends["123456789012"]["us-east-1"].queues["short"]
        for message in queue._messages:
            message.sent_timestamp -= 61_000
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
        # Content-based deduplication (read from the queue's attributes inside send) still applies.
        fifo = sqs.create_queue(
            QueueName="dedup.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        )["QueueUrl"]
        for _ in range(2):
            sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
        assert len(sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]) == 1
        # Outside send and receive, the attributes are moto's own, counts and all.
        assert Queue.__dict__["attributes"].fget(queue) == original[0].fget(queue)
    assert (Queue.__dict__["attributes"], SQSBackend.__dict__["receive_message"]) == original


def _item_operations(client: Any) -> list[Any]:
    """Every DynamoDB item operation the patch answers, with each attribute type, pages and capacity."""
    answers: list[Any] = []

    def keep(response: dict[str, Any]) -> None:
        answers.append({k: v for k, v in response.items() if k != "ResponseMetadata"})

    keep(
        client.create_table(
            TableName="speed",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            SSESpecification={"Enabled": True, "SSEType": "KMS"},
            BillingMode="PAY_PER_REQUEST",
        )
    )
    keep(
        client.update_time_to_live(
            TableName="speed", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )
    )
    keep(
        client.update_continuous_backups(
            TableName="speed", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    )
    keep(client.describe_table(TableName="speed"))
    item = {
        "s": {"S": "text é"},
        "n": {"N": "1.50"},
        "b": {"B": b"\x00\xff"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"\x01"]},
        "m": {"M": {"inner": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}]}}},
    }
    for i in range(5):
        keep(
            client.put_item(TableName="speed", Item={"pk": {"S": "p"}, "sk": {"S": f"{i}"}, "t": {"S": "x"}})
        )
    keep(client.put_item(TableName="speed", Item={"pk": {"S": "p"}, "sk": {"S": "bin"}, **item}))
    keep(client.get_item(TableName="speed", Key={"pk": {"S": "p"}, "sk": {"S": "bin"}}, ConsistentRead=True))
    keep(client.get_item(TableName="speed", Key={"pk": {"S": "p"}, "sk": {"S": "missing"}}))
    keep(client.get_item(TableName="speed", Key={"pk": {"S": "p"}, "sk": {"S": "1"}}))
    keep(
        client.query(
            TableName="speed",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p"}},
            Limit=2,
            ReturnConsumedCapacity="TOTAL",
        )
    )
    keep(client.scan(TableName="speed", Limit=3, ReturnConsumedCapacity="INDEXES"))
    keep(
        client.batch_get_item(
            RequestItems={
                "speed": {"Keys": [{"pk": {"S": "p"}, "sk": {"S": k}} for k in ("0", "1", "missing")]}
            }
        )
    )
    keep(
        client.update_item(
            TableName="speed",
            Key={"pk": {"S": "p"}, "sk": {"S": "0"}},
            UpdateExpression="SET c = if_not_exists(c, :zero) + :one",
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
    )
    keep(
        client.delete_item(
            TableName="speed", Key={"pk": {"S": "p"}, "sk": {"S": "4"}}, ReturnValues="ALL_OLD"
        )
    )
    keep(
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "speed", "Item": {"pk": {"S": "q"}, "sk": {"S": "1"}}}},
                {"Delete": {"TableName": "speed", "Key": {"pk": {"S": "p"}, "sk": {"S": "3"}}}},
            ],
            ReturnConsumedCapacity="TOTAL",
        )
    )
    keep(
        client.transact_get_items(
            TransactItems=[{"Get": {"TableName": "speed", "Key": {"pk": {"S": "q"}, "sk": {"S": "1"}}}}]
        )
    )
    keep(
        client.batch_write_item(
            RequestItems={"speed": [{"PutRequest": {"Item": {"pk": {"S": "r"}, "sk": {"S": "1"}}}}]}
        )
    )
    try:
        client.put_item(
            TableName="speed",
            Item={"pk": {"S": "q"}, "sk": {"S": "1"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except client.exceptions.ConditionalCheckFailedException as refused:
        answers.append(refused.response["Error"])
    return answers


def test_json_dynamodb_answers_parse_as_mottos_own_and_the_patch_is_removed_after(monkeypatch):
    from moto import mock_aws
    from moto.core.responses import ActionResult

    from infra.local.moto_speed import JSON_ANSWERS, json_dynamodb_responses

    own_serializer = ActionResult.__dict__["execute_result"]
    while hasattr(own_serializer, "__wrapped__"):  # make test runs every test inside the patch
        own_serializer = own_serializer.__wrapped__
    JSON_ANSWERS.clear()
    with mock_aws():
        with json_dynamodb_responses():
            patched = ActionResult.execute_result
            fast = _item_operations(boto3.client("dynamodb", region_name="us-east-1"))
        assert ActionResult.execute_result is not patched
    monkeypatch.setattr(ActionResult, "execute_result", own_serializer)
    with mock_aws():
        own = _item_operations(boto3.client("dynamodb", region_name="us-east-1"))
    # Written by the patch: all but the answers holding bytes (the binary item's put is empty, so JSON).
    assert sum(JSON_ANSWERS.values()) == 20, JSON_ANSWERS
    assert {"Query", "Scan", "TransactWriteItems", "CreateTable", "DescribeTable"} <= set(JSON_ANSWERS)
    assert len(fast) == len(own) == 22
    for index, (mine, theirs) in enumerate(zip(fast, own, strict=True)):
        assert _steady(mine) == _steady(theirs), index


# Differ between two runs whatever writes the answer: each run's table gets its own id, key and times.
_PER_RUN = {
    "TableId",
    "CreationDateTime",
    "KMSMasterKeyArn",
    "LatestRestorableDateTime",
    "EarliestRestorableDateTime",
}


def _steady(value: Any) -> Any:
    """An answer with each per-run value replaced by its type (a date stays a date, parsed as one)."""
    if isinstance(value, dict):
        return {k: type(v).__name__ if k in _PER_RUN else _steady(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value
