"""Consent: the ledger port and its DynamoDB adapter, and consent recorded by clinic systems."""
