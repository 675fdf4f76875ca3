"""The append-only, hash-chained audit trail of the staff inbox (HIPAA 164.312(b) and (c))."""
