"""ClinicText's Lambda code, one package per capability (core, runtime, crypto, consent, messaging,
outbound, templates, inbound, delivery, appointments); the rules are import-linter contracts in
pyproject.toml."""
