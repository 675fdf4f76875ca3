"""infra.local.moto_speed keeps moto's transaction semantics while backing up items, not tables."""

from __future__ import annotations

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
