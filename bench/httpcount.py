"""Counting AWS requests at the HTTP layer: every attempt botocore makes, retries included.

botocore sends each attempt through ``botocore.endpoint.Endpoint._do_get_response``: it emits the
``before-send`` event (where moto's ``mock_aws`` and test stubs answer) and otherwise puts the request
on the wire. A retry (throttling, a 5xx, a connection error) goes through it again. Counting there,
rather than around ``BaseClient._make_api_call``, sees what AWS bills: one count per HTTP request.

Counts are kept per *phase* (set per thread with :meth:`HttpCounter.phase`, so concurrent simulated
senders and pollers each charge their own phase) and per ``service:Operation``. Requests made outside
any phase are kept under :data:`UNPHASED` and reported, never dropped.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

UNPHASED = "(outside any phase)"

# Called after each attempt with (service, operation, parsed response or None).
Observer = Callable[[str, str, Any], None]


class HttpCounter:
    def __init__(self) -> None:
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._local = threading.local()
        self._observers: list[Observer] = []

    # --- phases -------------------------------------------------------------------------------------
    def current_phase(self) -> str:
        stack = getattr(self._local, "phases", None)
        return stack[-1] if stack else UNPHASED

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        stack = getattr(self._local, "phases", None)
        if stack is None:
            stack = self._local.phases = []
        stack.append(name)
        try:
            yield
        finally:
            stack.pop()

    def observe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def record(self, service: str, operation: str, parsed: Any) -> None:
        self.counts[self.current_phase()][f"{service}:{operation}"] += 1
        for observer in self._observers:
            observer(service, operation, parsed)

    # --- reading ------------------------------------------------------------------------------------
    def total(self, phase: str | None = None) -> int:
        phases = [phase] if phase is not None else list(self.counts)
        return sum(sum(self.counts[p].values()) for p in phases)

    def by_service(self, phase: str) -> Counter[str]:
        services: Counter[str] = Counter()
        for key, n in self.counts[phase].items():
            services[key.split(":", 1)[0]] += n
        return services

    # --- installing ---------------------------------------------------------------------------------
    @contextmanager
    def installed(self) -> Iterator[HttpCounter]:
        """Count every HTTP attempt any botocore client makes while inside this block."""
        from botocore.endpoint import Endpoint

        original = Endpoint._do_get_response  # type: ignore[attr-defined]
        counter = self

        def counted(endpoint: Any, request: Any, operation_model: Any, context: Any) -> Any:
            result = original(endpoint, request, operation_model, context)
            success, _exception = result
            parsed = success[1] if success is not None else None
            counter.record(operation_model.service_model.service_name, operation_model.name, parsed)
            return result

        Endpoint._do_get_response = counted  # type: ignore[attr-defined]
        try:
            yield self
        finally:
            Endpoint._do_get_response = original  # type: ignore[attr-defined]
