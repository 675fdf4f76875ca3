"""What the staff console stores: department settings and canned responses (no PHI in either)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from shared.inbox.canned import CannedResponseRequest
from shared.inbox.departments import DepartmentSettings


@dataclass(frozen=True)
class CannedResponse:
    """A stored canned response: an opaque id, and what the admin wrote (body normalized to GSM-7)."""

    id: str
    request: CannedResponseRequest
    created_at: str
    created_by: str  # the admin's Cognito sub


class DepartmentDirectory(Protocol):
    """Department settings by department name (the shape of the inbox's own directory port)."""

    def all(self) -> Mapping[str, DepartmentSettings]:
        """Every department an admin has set (a department not listed has the default settings)."""
        ...

    def get(self, department: str) -> DepartmentSettings | None: ...

    def put(self, department: str, settings: DepartmentSettings) -> None: ...


class CannedResponses(Protocol):
    def add(self, canned: CannedResponse) -> None:
        """Store a new canned response; its id is new (a repeated id is a Conflict)."""
        ...

    def for_department(self, department: str) -> list[CannedResponse]:
        """The department's canned responses, by name."""
        ...
