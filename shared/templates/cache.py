"""The current template, read at most once per TTL per container."""

from __future__ import annotations

import threading

from shared.core.clock import Clock, SystemClock
from shared.templates.ports import StoredTemplate, TemplateStore


class CachedTemplates:
    """The current template, read at most once per ``ttl`` seconds per container: a send costs no
    extra DynamoDB read, and a newly saved version is in use within a minute. Age is measured on the
    functions' clock (a port), so a clock that jumps ahead (the sandbox's story) expires the cache too."""

    def __init__(self, store: TemplateStore, *, ttl: float = 60.0, clock: Clock | None = None) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock or SystemClock()
        self._cache: dict[str, tuple[float, StoredTemplate | None]] = {}
        self._lock = threading.Lock()

    def current(self, name: str) -> StoredTemplate | None:
        now = self._clock.now().timestamp()
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and 0 <= now - hit[0] < self._ttl:
                return hit[1]
        found = self._store.current(name)
        with self._lock:
            self._cache[name] = (now, found)
        return found
