"""Moving in: reading people, teams, services, schedules and escalation policies from another
on-call tool (PagerDuty, Grafana OnCall) into a Firebell catalog, and comparing who is on call."""
