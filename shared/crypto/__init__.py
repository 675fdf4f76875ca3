"""PHI protection: the cipher, blind-index and fingerprint ports and their KMS adapters."""
