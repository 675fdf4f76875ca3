"""PHI ports: a cipher bound to each record, a blind index for phone numbers, a keyed fingerprint."""

from __future__ import annotations

from typing import Any, Protocol


class PhiCipher(Protocol):
    """Encrypts and decrypts the PHI payload of one record, bound to that record's reference."""

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str: ...

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]: ...


class BlindIndex(Protocol):
    """Deterministic keyed hash of a phone number, used wherever a table needs to find a number."""

    def phone(self, e164: str) -> str: ...


class Fingerprint(Protocol):
    """Keyed hash of an intake, so equal intakes are recognised without storing a guessable digest."""

    def of(self, data: bytes) -> str: ...

    def matches(self, stored: str | None, data: bytes) -> bool:
        """Whether ``stored`` (a value :meth:`of` wrote, in this or an earlier format) is ``data``'s."""
        ...


class DerivedKey(Protocol):
    """A secret derived by KMS once per container, for one use (a keyed hash, an HS256 signature)."""

    def key(self) -> bytes: ...
