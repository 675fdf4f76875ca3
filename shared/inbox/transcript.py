"""A conversation's export as a plain-text transcript (for the patient's medical record or a records
request): pure text over the export's JSON (:meth:`shared.inbox.service_staff.StaffInbox.export`).

The texts are shown oldest first, each with when (UTC), who (patient, the staff member who sent a reply,
or the automated text's kind) and the carrier's delivery status. A body is indented under its header on
every line, and any control character in it (ESC, bidirectional overrides, CR, NUL...) is shown as
U+FFFD, so a patient's text can neither forge a header line nor drive the reader's terminal or editor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.core.controls import is_control

REPLACEMENT = "\ufffd"
INDENT = "    "
AUTOMATED_WORDS = {
    "after_hours": "Automated after-hours reply",
    "urgent_reply": "Automated urgent reply",
    "secure_message": "Automated secure-message notice",
}


def clean(value: Any) -> str:
    """One line of text: controls (line breaks included) shown as U+FFFD."""
    return "".join(REPLACEMENT if is_control(ch) else ch for ch in str(value))


def _body_lines(body: Any) -> list[str]:
    text = str(body or "").replace("\r\n", "\n").replace("\r", "\n")
    return [INDENT + clean(line) for line in text.split("\n")] or [INDENT]


def sender_words(entry: Mapping[str, Any]) -> str:
    kind = str(entry.get("kind") or "")
    if kind == "patient":
        return "Patient"
    if kind == "staff_reply":
        sender = entry.get("sender") or {}
        name = sender.get("name") or sender.get("user_id")
        return f"Staff reply from {clean(name)}" if name else "Staff reply"
    return AUTOMATED_WORDS.get(kind, f"Automated text ({clean(kind.replace('_', ' '))})")


def delivery_words(entry: Mapping[str, Any]) -> str | None:
    delivery = entry.get("delivery")
    if not isinstance(delivery, Mapping):
        return None
    status = delivery.get("status") or entry.get("status") or "unknown"
    words = f"delivery: {clean(status)}"
    if delivery.get("at"):
        words += f" at {clean(delivery['at'])}"
    if delivery.get("detail"):
        words += f" ({clean(delivery['detail'])})"
    return words


def _lines(title: str, items: Iterable[str]) -> list[str]:
    shown = list(items)
    return [f"{title} ({len(shown)}):", *(shown or [INDENT + "none"]), ""]


def transcript(exported: Mapping[str, Any]) -> str:
    """The export as text (lines end in ``\\n``)."""
    c = exported["conversation"]
    meta = exported["export"]
    consent = c.get("consent") or {}
    assignee = c.get("assignee") or {}
    patient = " ".join(clean(p) for p in (c.get("first_name"), c.get("masked_number")) if p) or "not recorded"
    out = [
        "Conversation transcript",
        "=======================",
        f"Clinic: {clean(meta.get('clinic_name') or '')}",
        f"Conversation: {clean(c['id'])}",
        f"Department: {clean(c['department'])}",
        f"Patient: {patient}",
        f"Status: {clean(c['status'])}"
        + (f" (closed {clean(c['closed_at'])})" if c.get("closed_at") else ""),
        f"Assigned to: {clean(assignee.get('kind', ''))} {clean(assignee.get('id', ''))}".rstrip(),
        f"Consent: {clean(consent.get('state', 'not read'))}"
        + (f" ({clean(consent['reason'])})" if consent.get("reason") else ""),
        f"Labels: {', '.join(clean(label) for label in c.get('labels') or []) or 'none'}",
        f"Started: {clean(c.get('created_at') or '')}",
        f"Exported: {clean(meta['exported_at'])} by {clean(meta['exported_by']['username'])}"
        f" ({clean(meta['exported_by']['user_id'])})",
        "Times are UTC.",
        "",
    ]
    texts = []
    for entry in c.get("thread") or []:
        header = f"[{clean(entry['at'])}] {sender_words(entry)}"
        delivery = delivery_words(entry)
        texts.append(
            "\n".join([header + (f" -- {delivery}" if delivery else ""), *_body_lines(entry["body"])])
        )
    out += _lines("Messages, oldest first", texts)
    secure = [
        "\n".join(
            [
                f"[{clean(m.get('sent_at', ''))}] Secure message from {clean(m.get('sent_by', ''))}"
                f" -- {clean(m.get('state', ''))}",
                *_body_lines(m.get("body")),
            ]
        )
        for m in exported.get("secure_messages") or []
    ]
    out += _lines("Secure messages", secure)
    notes = [
        "\n".join([f"[{clean(n['at'])}] Note by {clean(n['author'])}", *_body_lines(n["body"])])
        for n in c.get("notes") or []
    ]
    out += _lines("Private notes (staff only)", notes)
    assignments = [
        f"{INDENT}[{clean(a['at'])}] {clean(a['kind'])} by {clean(a['by'])}: {clean(a.get('detail') or '')}"
        for a in c.get("assignment_history") or []
    ]
    out += _lines("Assignment history", assignments)
    return "\n".join(out).rstrip("\n") + "\n"
