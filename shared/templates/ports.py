"""The stored-template port and the stored version it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.templates.domain import Template


@dataclass(frozen=True)
class StoredTemplate:
    name: str
    version: int
    body: str
    placeholders: tuple[str, ...]
    saved_at: str
    saved_by: str
    segments: int
    encoding: str
    multi_segment: bool

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version}"

    def template(self) -> Template:
        return Template(self.body, self.placeholders)


class TemplateStore(Protocol):
    def current(self, name: str) -> StoredTemplate | None: ...
