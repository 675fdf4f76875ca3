"""The message log and the delivery-status book, built once per container."""

from __future__ import annotations

from shared.crypto.wiring import cipher
from shared.messaging.store import DynamoDeliveryBook, DynamoMessageLog
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings


@cached
def delivery_book() -> DynamoDeliveryBook:
    return DynamoDeliveryBook(aws.table(core_settings().delivery_table))


@cached
def message_log() -> DynamoMessageLog:
    return DynamoMessageLog(aws.table(core_settings().messages_table), cipher(), delivery_book())
