"""The staff inbox: access, conversations, routing, hours, triage, SLA, canned responses."""
