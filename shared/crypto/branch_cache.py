"""The hierarchical keyring's cache, shared by its two directions: one KMS unwrap per window, not two.

The MPL's hierarchical keyring caches branch key materials under two identifiers: the *active* branch key
for encrypting (``GetActiveBranchKey``) and each *version* for decrypting (``GetBranchKeyVersion``). Both
hold the same key (the keystore's ``branch:ACTIVE`` item is a copy of its version's item, wrapped under
another encryption context), but each is a separate KMS ``Decrypt``. A sender decrypts every
appointment's contact and encrypts every message-log body, so it paid two KMS requests per cache window
for one key.

:class:`SharedBranchKeyCache` is a custom cache (the MPL's ``ICryptographicMaterialsCache`` interface, for
custom implementations; passed as ``CacheTypeShared``) around the MPL's own multi-threaded cache. Every
call goes to that cache unchanged; in addition, when the keyring stores the *active* materials, the same
materials (same creation and expiry time) are stored under that version's decrypt identifier too. A
record written under the active version then decrypts from the cache. Nothing is derived or computed
from key material here: the identifiers are the ones the MPL's specification defines for the hierarchical
keyring (SHA-384 over resource id ``0x02``, scope id ``0x01`` encrypt / ``0x02`` decrypt, the partition id,
the logical keystore name, the branch key id and, for decrypt, the version, NUL-separated). A test
(``tests/integration/test_crypto.py``) fails if the MPL ever computes them differently, since the read
would then miss and ask KMS again. Records of an older version (after a rotation) are still fetched by
version, as before.

:meth:`holds_active` lets the cipher fetch the active materials first (with a throwaway encryption) when
a window starts with a read, so the read finds the version in the cache.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aws_cryptographic_material_providers.mpl.errors import EntryDoesNotExist
from aws_cryptographic_material_providers.mpl.models import (
    GetCacheEntryInput,
    MaterialsBranchKey,
    PutCacheEntryInput,
)
from aws_cryptographic_material_providers.mpl.references import ICryptographicMaterialsCache

_NUL = b"\x00"
_HIERARCHICAL_KEYRING = b"\x02"  # the specification's resource id
_SCOPE_ENCRYPT = b"\x01"
_SCOPE_DECRYPT = b"\x02"


def _cache_id(scope: bytes, partition_id: str, logical_key_store_name: str, suffix: list[bytes]) -> bytes:
    parts = [_HIERARCHICAL_KEYRING, scope, partition_id.encode(), logical_key_store_name.encode(), *suffix]
    return hashlib.sha384(_NUL.join(parts)).digest()


class SharedBranchKeyCache(ICryptographicMaterialsCache):
    """The MPL's cache, with the active branch key also cached as its version (see the module's text)."""

    def __init__(
        self, inner: Any, *, partition_id: str, logical_key_store_name: str, branch_key_id: str
    ) -> None:
        self._inner = inner
        self._partition_id = partition_id
        self._logical_key_store_name = logical_key_store_name
        self._branch_key_id = branch_key_id
        self._active_id = _cache_id(
            _SCOPE_ENCRYPT, partition_id, logical_key_store_name, [branch_key_id.encode()]
        )

    def version_id(self, version: str) -> bytes:
        return _cache_id(
            _SCOPE_DECRYPT,
            self._partition_id,
            self._logical_key_store_name,
            [self._branch_key_id.encode(), version.encode()],
        )

    def holds_active(self) -> bool:
        """Whether the active branch key is cached and unexpired (so its version is too)."""
        try:
            self._inner.get_cache_entry(GetCacheEntryInput(identifier=self._active_id))
        except EntryDoesNotExist:
            return False
        return True

    def put_cache_entry(self, param: PutCacheEntryInput) -> Any:
        result = self._inner.put_cache_entry(param)
        materials = param.materials
        if bytes(param.identifier) == self._active_id and isinstance(materials, MaterialsBranchKey):
            self._inner.put_cache_entry(
                PutCacheEntryInput(
                    identifier=self.version_id(materials.value.branch_key_version),
                    materials=materials,
                    creation_time=param.creation_time,
                    expiry_time=param.expiry_time,
                    messages_used=param.messages_used,
                    bytes_used=param.bytes_used,
                )
            )
        return result

    def get_cache_entry(self, param: Any) -> Any:
        return self._inner.get_cache_entry(param)

    def update_usage_metadata(self, param: Any) -> Any:
        return self._inner.update_usage_metadata(param)

    def delete_cache_entry(self, param: Any) -> Any:
        return self._inner.delete_cache_entry(param)
