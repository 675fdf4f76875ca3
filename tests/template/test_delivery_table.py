"""Issue 11 §3: delivery status lives in DeliveryTable, keyed by the provider's message id. The message log
has no index left to keep, the delivery-status function cannot touch the message log (PHI ciphertext), and
every function that texts and logs the text may write the status item that goes in the same transaction
(moto checks no IAM: without this grant the send's transaction would be refused only in AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.cfn import FUNCTIONS, as_list, function_statements, props, target


def grants(function: str) -> set[tuple[str, str]]:
    found = set()
    for _owner, statement in function_statements(function):
        if statement.get("Effect") != "Allow":
            continue
        for resource in as_list(statement.get("Resource")):
            for action in as_list(statement.get("Action")):
                found.add((str(action), target(resource) or str(resource)))
    return found


def test_the_message_log_keeps_no_index_and_the_delivery_table_is_keyed_by_the_provider_id() -> None:
    messages = props("MessagesTable")
    assert "GlobalSecondaryIndexes" not in messages
    assert {a["AttributeName"] for a in messages["AttributeDefinitions"]} == {"pk", "sk"}
    delivery = props("DeliveryTable")
    assert delivery["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert "GlobalSecondaryIndexes" not in delivery


def test_the_delivery_status_function_may_only_update_and_read_status_items() -> None:
    dynamodb = {(a, t) for a, t in grants("DeliveryStatusFunction") if a.startswith("dynamodb:")}
    assert {(a, t) for a, t in dynamodb if t == "DeliveryTable"} == {
        ("dynamodb:UpdateItem", "DeliveryTable"),
        ("dynamodb:BatchGetItem", "DeliveryTable"),
    }
    # carrier opt-outs: the ledger (its number sealed in PHI format 3, so the keystore is read)
    assert {t for _a, t in dynamodb} == {"DeliveryTable", "ConsentTable", "PhiKeyStoreTable"}
    assert {a for a, t in dynamodb if t == "PhiKeyStoreTable"} == {"dynamodb:GetItem"}


def _texts_and_logs(function: str) -> bool:
    granted = grants(function)
    return any(a == "sns:Publish" for a, _t in granted) and ("dynamodb:PutItem", "MessagesTable") in granted


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if _texts_and_logs(f)])
def test_a_function_that_texts_and_logs_may_write_the_status_item(function: str) -> None:
    assert ("dynamodb:PutItem", "DeliveryTable") in grants(function)


def test_some_functions_text_and_log() -> None:
    writers: Any = [f for f in FUNCTIONS if _texts_and_logs(f)]
    assert {"ReminderSenderFunction", "InboundSmsFunction", "ConsentApiFunction"} <= set(writers)


def test_the_thread_read_may_join_status_items() -> None:
    assert ("dynamodb:BatchGetItem", "DeliveryTable") in grants("MessagesApiFunction")
