"""Issue 12 review: the LIST audit record names the conversations a list page showed. A full page
(MAX_LIST ids, with the department filter) must fit the audit's detail limits, and the ids read back in
order."""

from __future__ import annotations

from shared.audit.domain import MAX_DETAIL_VALUE, AuditAction, AuditEvent
from shared.inbox.conversation import new_conversation_id
from shared.inbox.service_staff import MAX_LIST, listed_detail


def _ids(detail: dict[str, str]) -> list[str]:
    joined = ",".join(detail[k] for k in sorted(detail) if k.startswith("ids_"))
    return joined.split(",") if joined else []


def test_a_full_page_of_ids_fits_an_audit_event_and_reads_back_in_order() -> None:
    ids = [new_conversation_id() for _ in range(MAX_LIST)]
    detail = {"department": "front-desk", **listed_detail(ids)}
    event = AuditEvent(
        user_id="0b8e0c3e-1111-4c8e-9a51-7d2e6b0f1a01",
        username="nina.nurse",
        action=AuditAction.LIST,
        source_ip="198.51.100.7",
        user_agent="pytest",
        detail=detail,
    )
    assert _ids(dict(event.detail)) == ids and event.detail["listed"] == str(MAX_LIST)
    assert all(len(v) <= MAX_DETAIL_VALUE for v in detail.values())


def test_none_or_one_id() -> None:
    assert listed_detail([]) == {"listed": "0"}
    only = new_conversation_id()
    assert listed_detail([only]) == {"listed": "1", "ids_00": only}
