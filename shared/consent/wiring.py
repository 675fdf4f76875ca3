"""The consent ledger and the consent service, built once per container.

The ledger is what the sender, the inbound functions and delivery status need; only the consent API
builds the service, so the service's own parts (message log, SMS sender, reply book) are imported there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.consent.store import DynamoConsentLedger
from shared.core.clock import SystemClock
from shared.crypto.wiring import blind_index, cipher
from shared.runtime import aws
from shared.runtime.observability import MetricsCounter
from shared.runtime.wiring import cached, core_settings

if TYPE_CHECKING:
    from shared.consent.domain import ConsentService


@cached
def consent_ledger() -> DynamoConsentLedger:
    return DynamoConsentLedger(aws.table(core_settings().consent_table), cipher(), counter=MetricsCounter())


@cached
def consent_service() -> ConsentService:
    from shared.consent.domain import ConsentService
    from shared.messaging.wiring import message_log
    from shared.outbound.wiring import sms_sender
    from shared.templates.wiring import reply_book

    return ConsentService(
        blind_index=blind_index(),
        consent=consent_ledger(),
        messages=message_log(),
        sender=sms_sender(),
        replies=reply_book(),
        clock=SystemClock(),
        default_region=core_settings().default_phone_region,
    )
