"""Simulated Lambda containers: each builds its own services; outside, the shared caches are back."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import count
from types import ModuleType
from typing import Any

import pytest

from bench.containers import Containers
from bench.virtualtime import VirtualTime
from shared.runtime import wiring


@pytest.fixture
def probe() -> Iterator[ModuleType]:
    """A package module under ``shared`` with one ``@cached`` factory, as every wiring module has."""
    module = ModuleType("shared.bench_probe")
    built = count()
    module.service = wiring.cached(object)  # type: ignore[attr-defined]
    module.numbered = wiring.cached(lambda: next(built))  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]
    wiring._caches[:] = [c for c in wiring._caches if c not in (module.service, module.numbered)]  # type: ignore[attr-defined]


def test_each_container_builds_its_own_and_keeps_it(probe: Any) -> None:
    clock = VirtualTime(0.0)
    got: dict[str, list[object]] = {"a": [], "b": []}

    def invocation(name: str) -> None:
        got[name].append(probe.service())
        clock.sleep(1)
        got[name].append(probe.service())

    with Containers(clock):
        clock.spawn("a", lambda: invocation("a"), container="a")
        clock.spawn("b", lambda: invocation("b"), container="b")
        clock.run()
    assert got["a"][0] is got["a"][1] and got["b"][0] is got["b"][1]  # warm container: built once
    assert got["a"][0] is not got["b"][0]  # another container: its own


def test_the_shared_cache_is_restored_and_reset_still_clears_it(probe: Any) -> None:
    original = probe.numbered
    before = probe.numbered()
    with Containers(VirtualTime(0.0)):
        assert probe.numbered is not original
        assert probe.numbered() != before
    assert probe.numbered is original
    assert probe.numbered() == before
    wiring.reset(clients=False)
    assert probe.numbered() != before
