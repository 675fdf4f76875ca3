"""The staff inbox's pure domain: department settings and hours, routing, urgent triage, response times
(SLA), canned responses and the automated replies. No AWS here; adapters and wiring build on it."""
