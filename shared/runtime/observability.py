"""One place for Powertools Logger, Metrics and Tracer. Logs carry ids and hashes, never PHI."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(use_rfc3339=True)
metrics = Metrics()
tracer = Tracer()


class MetricsCounter:
    """Counts domain events as Powertools EMF metrics."""

    def count(self, name: str, value: int = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
