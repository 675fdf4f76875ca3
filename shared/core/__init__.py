"""Core: models, errors, clock, phone numbers, SMS segments, metrics and control characters. Pure:
imports nothing else from shared, and no AWS library."""
