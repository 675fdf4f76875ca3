"""The SNS sender and opt-out list, the send pacer and the caps ledger, built once per container."""

from __future__ import annotations

from shared.outbound.sns import SnsSmsSender
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings


@cached
def sms_sender() -> SnsSmsSender:
    return SnsSmsSender(aws.client("sns"), default_origination=core_settings().origination_number)
