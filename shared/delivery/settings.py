"""Settings of the delivery-status function: the SMS delivery log groups it accepts."""

from __future__ import annotations

from shared.runtime.settings import CoreSettings


class DeliverySettings(CoreSettings):
    """Delivery status: the SNS SMS delivery log groups (comma-separated) the function accepts."""

    delivery_log_groups: str = ""

    @property
    def log_groups(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.delivery_log_groups.split(",") if name.strip())
