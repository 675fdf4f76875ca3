"""The message log, built once per container."""

from __future__ import annotations

from shared.crypto.wiring import cipher
from shared.messaging.store import DynamoMessageLog
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings


@cached
def message_log() -> DynamoMessageLog:
    return DynamoMessageLog(aws.table(core_settings().messages_table), cipher())
