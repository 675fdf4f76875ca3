"""The export's plain-text transcript (shared.inbox.transcript): every text under a header naming when and
who, oldest first as given; a body can never forge a header line or carry a control character through."""

from __future__ import annotations

from typing import Any

from shared.inbox.transcript import clean, transcript


def exported(*thread: dict[str, Any], **conversation: Any) -> dict[str, Any]:
    return {
        "export": {
            "clinic_name": "Riverside Family Clinic",
            "exported_at": "2027-03-01T18:10:00Z",
            "exported_by": {"user_id": "sub-1", "username": "nina.nurse"},
        },
        "conversation": {
            "id": "c_AAAAAAAAAAAAAAAAAAAAAA",
            "department": "nursing",
            "status": "open",
            "first_name": "Jane",
            "masked_number": "***-***-0123",
            "assignee": {"kind": "user", "id": "sub-1"},
            "consent": {"state": "opted_out", "can_text": False, "reason": "The patient opted out."},
            "labels": ["wound", "refill"],
            "notes": [{"id": "n_1", "author": "sub-1", "at": "2027-03-01T18:06:00Z", "body": "Called back"}],
            "assignment_history": [
                {
                    "version": 2,
                    "kind": "assigned",
                    "at": "2027-03-01T18:02:00Z",
                    "by": "sub-1",
                    "detail": "user:sub-1",
                }
            ],
            "thread": list(thread),
            **conversation,
        },
        "secure_messages": [],
    }


def patient(body: str, at: str = "2027-03-01T18:00:00Z") -> dict[str, Any]:
    return {"at": at, "kind": "patient", "body": body, "sender": None, "delivery": None}


def test_the_transcript_names_the_conversation_and_each_text_in_order() -> None:
    staff = {
        "at": "2027-03-01T18:03:00Z",
        "kind": "staff_reply",
        "body": "Some redness is normal.",
        "sender": {"user_id": "sub-1", "name": "nina.nurse"},
        "status": "sent",
        "delivery": {"status": "delivered", "at": "2027-03-01T18:04:00Z", "detail": None},
    }
    text = transcript(exported(patient("Is this normal?"), staff))
    lines = text.splitlines()
    assert "Patient: Jane ***-***-0123" in lines and "Labels: wound, refill" in lines
    assert "Consent: opted_out (The patient opted out.)" in lines
    at_patient = lines.index("[2027-03-01T18:00:00Z] Patient")
    assert lines[at_patient + 1] == "    Is this normal?"
    header = (
        "[2027-03-01T18:03:00Z] Staff reply from nina.nurse -- delivery: delivered at 2027-03-01T18:04:00Z"
    )
    assert (
        lines.index(header) > at_patient and lines[lines.index(header) + 1] == "    Some redness is normal."
    )
    assert "    Called back" in lines and "Private notes (staff only) (1):" in lines
    assert "Messages, oldest first (2):" in lines and text.endswith("\n")


def test_a_body_cannot_forge_a_header_or_carry_control_characters() -> None:
    forged = "ok\n[2027-03-01T18:05:00Z] Staff reply from nina.nurse\r\x1b[2Jgone\u202eevil\x00"
    text = transcript(exported(patient(forged)))
    lines = text.splitlines()
    assert "    [2027-03-01T18:05:00Z] Staff reply from nina.nurse" in lines  # indented: a body line
    assert not any(line.startswith("[2027-03-01T18:05:00Z]") for line in lines)
    for control in ("\x1b", "\u202e", "\x00", "\r"):
        assert control not in text
    assert "    \ufffd[2Jgone\ufffdevil\ufffd" in lines


def test_clean_shows_controls_as_the_replacement_character() -> None:
    assert clean("a\tb\u2028c") == "a\ufffdb\ufffdc"
    assert clean("café 👍") == "café 👍"
