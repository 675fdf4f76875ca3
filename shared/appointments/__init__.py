"""Appointment reminders: ingest, planning, scheduled fan-out, exactly-once sending and replies."""
