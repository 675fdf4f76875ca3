"""The staff console's decisions: every call takes the :class:`StaffIdentity` the function re-checked
from the JWT claims (shared.inbox.access) and applies the inbox's rules.

* Admin-only calls (setting a department, creating a canned response, reading the audit trail) refuse
  anyone else with :class:`AdminsOnly` (403).
* Department-scoped reads answer a department the caller is not in, and one the clinic has not
  configured, with the same :class:`~shared.core.errors.NotFound` (404), so nothing is told apart.
* A look at the audit trail is an ``audit_read`` record written before the records are read
  (:class:`shared.audit.service.AuditReader`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from shared.audit.domain import AuditAction, AuditEvent
from shared.audit.ports import MAX_PAGE, AuditPage
from shared.audit.service import AuditReader
from shared.core.clock import Clock, iso
from shared.core.errors import InvalidInput, NotFound, Unauthorized
from shared.inbox.access import RequestOrigin, StaffIdentity
from shared.inbox.canned import CannedResponseRequest
from shared.inbox.conversation import is_conversation_id
from shared.inbox.departments import DepartmentSettings, check_department, default_settings
from shared.staff.ports import CannedResponse, CannedResponses, DepartmentDirectory

_NO_DEPARTMENT = "department not found"


class AdminsOnly(Unauthorized):
    """The call is for admins (the ``admin`` group) only: HTTP 403."""


def new_canned_id() -> str:
    return "cr_" + secrets.token_urlsafe(12)


@dataclass(frozen=True)
class StaffConsole:
    directory: DepartmentDirectory
    canned: CannedResponses
    audit: AuditReader
    departments: frozenset[str]
    default_time_zone: str
    clock: Clock
    new_id: Callable[[], str] = new_canned_id

    # -- who am I ------------------------------------------------------------------------------------
    def visible_departments(self, identity: StaffIdentity) -> list[str]:
        return sorted(self.departments if identity.admin else identity.departments & self.departments)

    # -- department settings -------------------------------------------------------------------------
    def _department(self, identity: StaffIdentity, name: str) -> str:
        try:
            check_department(name)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="department") from exc
        if name not in self.departments or not identity.may_act_on(name):
            raise NotFound(_NO_DEPARTMENT)
        return name

    def department_settings(self, identity: StaffIdentity, name: str) -> tuple[DepartmentSettings, bool]:
        """The department's settings and whether an admin has set them (False: the defaults)."""
        department = self._department(identity, name)
        stored = self.directory.get(department)
        return (stored, True) if stored is not None else (default_settings(self.default_time_zone), False)

    def set_department(self, identity: StaffIdentity, name: str, settings: DepartmentSettings) -> None:
        require_admin(identity)
        self.directory.put(self._department(identity, name), settings)

    # -- canned responses ----------------------------------------------------------------------------
    def create_canned(self, identity: StaffIdentity, request: CannedResponseRequest) -> CannedResponse:
        require_admin(identity)
        if request.department not in self.departments:
            raise NotFound(_NO_DEPARTMENT)
        canned = CannedResponse(self.new_id(), request, iso(self.clock.now()), identity.user_id)
        self.canned.add(canned)
        return canned

    def list_canned(self, identity: StaffIdentity, department: str | None = None) -> list[CannedResponse]:
        """One department's (that the caller may see), or every department the caller may see."""
        names = [self._department(identity, department)] if department else self.visible_departments(identity)
        return [canned for name in names for canned in self.canned.for_department(name)]

    # -- the audit trail -----------------------------------------------------------------------------
    def read_audit(
        self,
        identity: StaffIdentity,
        origin: RequestOrigin,
        *,
        conversation_id: str | None = None,
        user: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage:
        require_admin(identity)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
        if start is not None and end is not None and end <= start:
            raise InvalidInput("to must be after from", field="to")
        if conversation_id is not None and not is_conversation_id(conversation_id):
            # Only ids this API issues: "CHAIN" or a key-shaped text is no conversation to ask about.
            raise InvalidInput("conversation_id must be a conversation id (c_...)", field="conversation_id")
        try:
            viewer = AuditEvent(
                user_id=identity.user_id,
                username=identity.username,
                action=AuditAction.AUDIT_READ,
                source_ip=origin.source_ip,
                user_agent=origin.user_agent,
                client_id=identity.client_id,
                conversation_id=conversation_id,
                detail={"user": user} if user is not None else {},
            )
        except (ValueError, ValidationError) as exc:
            field = "conversation_id" if "conversation_id" in str(exc) else "user"
            raise InvalidInput(f"{field} must be an id", field=field) from exc
        return self.audit.query(
            viewer,
            conversation_id=conversation_id,
            user_id=user,
            start=start,
            end=end,
            limit=limit,
            cursor=cursor,
        )


def require_admin(identity: StaffIdentity) -> None:
    """Refuse anyone outside the ``admin`` group (403)."""
    if not identity.admin:
        raise AdminsOnly("only admins may do this; ask an admin")
