"""Core: models, errors, clock, phone numbers and SMS segments. Pure; imports nothing else from shared."""
