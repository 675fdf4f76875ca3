"""The delivery-status service and the log groups it accepts, built once per container."""

from __future__ import annotations

from typing import Any

from shared.consent.wiring import consent_ledger
from shared.core.clock import SystemClock
from shared.crypto.wiring import blind_index
from shared.messaging.wiring import delivery_book
from shared.runtime.wiring import cached, core_settings


@cached
def delivery_log_groups() -> frozenset[str]:
    """The SNS SMS delivery log groups the template subscribes to; any other group is refused."""
    from shared.delivery.settings import DeliverySettings

    return DeliverySettings.from_env().log_groups


@cached
def delivery_status_service() -> Any:
    from shared.delivery.domain import DeliveryStatusService

    return DeliveryStatusService(
        messages=delivery_book(),
        consent=consent_ledger(),
        blind_index=blind_index(),
        clock=SystemClock(),
        default_region=core_settings().default_phone_region,
    )
