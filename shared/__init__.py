"""ClinicText domain package: models, consent, crypto, stores and senders shared by every function."""
