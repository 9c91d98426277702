"""Reaching people: escalation steps, page delivery, notification rules and clocks, the paging report and the dry run."""
