"""Lambda containers in one process: each simulated container gets its own wiring caches.

In AWS every concurrent invocation runs in its own container, and each container builds its own
services (``shared.runtime.wiring.cached``): its own PHI data-key cache, template cache, settings. KMS
requests are per container and cache window, so sharing one process-wide cache between ten simulated
senders would count a tenth of them. While :class:`Containers` is active, every ``@cached`` factory
answers from the cache of the container the calling task runs in (``VirtualTime.container()``).

It works on whatever factories the tree registers: it swaps each registered cache, wherever a module
under ``shared``/``functions`` holds it, for a per-container one, and puts the originals back on exit.
The handler module of a function is also loaded once per container (:meth:`Containers.handler`), so
module-level state such as Powertools' ``BatchProcessor`` is per container too.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from bench.virtualtime import VirtualTime

_PREFIXES = ("shared.", "functions.")


class _PerContainer:
    def __init__(self, original: Any, containers: Containers) -> None:
        self.__wrapped__ = original.__wrapped__
        self._containers = containers
        self._memo: dict[tuple[str, Any], Any] = {}
        functools_name = getattr(original, "__name__", "factory")
        self.__name__ = functools_name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = (self._containers.current(), (args, tuple(sorted(kwargs.items()))))
        if key not in self._memo:
            self._memo[key] = self.__wrapped__(*args, **kwargs)
        return self._memo[key]

    def cache_clear(self) -> None:
        self._memo.clear()


class Containers:
    def __init__(self, clock: VirtualTime) -> None:
        self._clock = clock
        self._swapped: list[tuple[ModuleType, str, Any]] = []
        self._saved_caches: list[Any] = []
        self._stand_ins: list[tuple[_PerContainer, Any]] = []
        self._handlers: dict[tuple[str, str], Callable[..., Any]] = {}

    def current(self) -> str:
        return self._clock.container()

    def __enter__(self) -> Containers:
        from shared.runtime import wiring

        self._saved_caches = list(wiring._caches)
        replacements = {id(cache): _PerContainer(cache, self) for cache in self._saved_caches}
        self._stand_ins = [(replacements[id(cache)], cache) for cache in self._saved_caches]
        for module in list(sys.modules.values()):
            name = getattr(module, "__name__", "")
            if not isinstance(module, ModuleType) or not name.startswith(_PREFIXES):
                continue
            for attribute, value in list(vars(module).items()):
                if id(value) in replacements:
                    self._swapped.append((module, attribute, value))
                    setattr(module, attribute, replacements[id(value)])
        wiring._caches[:] = list(replacements.values())
        return self

    def __exit__(self, *_exc: object) -> None:
        from shared.runtime import wiring

        for module, attribute, value in reversed(self._swapped):
            setattr(module, attribute, value)
        self._swapped.clear()
        # A module first imported meanwhile took the per-container stand-ins: give it the originals too,
        # and keep the caches it registered.
        originals = {id(stand_in): original for stand_in, original in self._stand_ins}
        for module in list(sys.modules.values()):
            if isinstance(module, ModuleType) and getattr(module, "__name__", "").startswith(_PREFIXES):
                for attribute, value in list(vars(module).items()):
                    if id(value) in originals:
                        setattr(module, attribute, originals[id(value)])
        added = [c for c in wiring._caches if not isinstance(c, _PerContainer)]
        wiring._caches[:] = self._saved_caches + added

    def handler(self, dotted: str) -> Callable[..., Any]:
        """``module.function`` (a template Handler) loaded afresh for the current container."""
        key = (self.current(), dotted)
        if key not in self._handlers:
            module_name, function = dotted.rsplit(".", 1)
            spec = importlib.util.find_spec(module_name)
            if spec is None or spec.loader is None:
                raise ImportError(module_name)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._handlers[key] = getattr(module, function)
        return self._handlers[key]
