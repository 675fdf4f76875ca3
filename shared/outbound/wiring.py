"""The SNS sender and opt-out list, the send pacer and the caps ledger, built once per container."""

from __future__ import annotations

from shared.outbound.ports import (
    BatchReader,
    CapLedger,
    CarrierOptOutList,
    SendPacer,
    SmsSender,
    Transactions,
)
from shared.outbound.sns import SnsOptOutList, SnsSmsSender
from shared.outbound.store import DynamoBatchReader, DynamoCapLedger, DynamoSendPacer, DynamoTransactions
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings


@cached
def sms_sender() -> SmsSender:
    return SnsSmsSender(aws.client("sns"), default_origination=core_settings().origination_number)


@cached
def carrier_optouts() -> CarrierOptOutList:
    return SnsOptOutList(aws.client("sns"))


@cached
def batch_reader() -> BatchReader:
    """Batch reads for the send path (any table: the resource client serialises native values)."""
    return DynamoBatchReader(aws.table(core_settings().control_table).meta.client)


@cached
def transactions() -> Transactions:
    return DynamoTransactions(aws.table(core_settings().control_table).meta.client)


@cached
def cap_ledger() -> CapLedger:
    return DynamoCapLedger(aws.table(core_settings().control_table))


def send_pacer(*, number_key: str, parts_per_second: float, max_wait: float) -> SendPacer:
    """The shared send schedule of one origination number (the caller caches what it builds with it)."""
    return DynamoSendPacer(
        aws.table(core_settings().control_table),
        number_key=number_key,
        parts_per_second=parts_per_second,
        max_wait=max_wait,
    )
