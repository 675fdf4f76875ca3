"""Counting domain events is a port: services count, the runtime decides where counts go."""

from __future__ import annotations

from typing import Protocol


class Counter(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...


class NullCounter:
    def count(self, name: str, value: int = 1) -> None:
        return None
