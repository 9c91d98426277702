"""An incident's life: declare, triage, acknowledge, roles and status, involve others, resolve and close; what it measures."""
