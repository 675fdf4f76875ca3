"""Delivery status: what the carrier said about each text, back onto its record."""
