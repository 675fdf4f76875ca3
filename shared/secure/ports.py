"""Where secure messages' links live (ConversationsTable, beside their conversation)."""

from __future__ import annotations

from typing import Protocol

from shared.secure.domain import AnswerClaim, SecureLink


class AnswerRepeated(Exception):
    """This answer (same link, session and text) was taken already; nothing was written."""


class SecureLinkStore(Protocol):
    def create(self, link: SecureLink, body: str, source_id: str) -> None:
        """Store the link, its body (encrypted) and the appointment whose date of birth checks it; the
        token's hash is unique (a second link with the same hash is refused)."""
        ...

    def discard(self, link: SecureLink) -> None:
        """Remove a link whose text was never sent (the patient has no way to it)."""
        ...

    def by_token_hash(self, token_hash: str) -> SecureLink | None: ...

    def get(self, conversation_id: str, link_id: str) -> SecureLink | None: ...

    def for_conversation(self, conversation_id: str) -> list[SecureLink]:
        """The conversation's secure messages, oldest first."""
        ...

    def save(self, link: SecureLink, *, expected_version: int) -> None:
        """Write the counters and times; ConcurrentChange when it changed since ``expected_version``."""
        ...

    def take_answer(self, answered: SecureLink, claim: AnswerClaim, *, expected_version: int) -> None:
        """Count one more answer on the link and keep its claim, all or nothing: AnswerRepeated when the
        claim's key is kept already, ConcurrentChange when the link changed since ``expected_version``."""
        ...

    def answer_claim(self, conversation_id: str, answer_key: str) -> AnswerClaim | None: ...

    def body(self, link: SecureLink) -> str:
        """The message, decrypted (only for a patient who passed the check, or the department's staff)."""
        ...

    def source_id(self, link: SecureLink) -> str:
        """The appointment whose date of birth checks this link (decrypted)."""
        ...
