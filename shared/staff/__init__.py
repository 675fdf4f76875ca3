"""The staff console: who a staff member is, department settings, canned responses, the audit trail."""
