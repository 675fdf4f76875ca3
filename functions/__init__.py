"""Lambda entry points: each handler wires Powertools and calls one domain service."""
