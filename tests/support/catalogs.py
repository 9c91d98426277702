"""The catalogs the workflow tests share (YAML text, parsed by each `World`)."""

from __future__ import annotations

# The incident loop: two schedules, a two-step policy that repeats, a group, the full matrix.
PAGING = """
timezone: Europe/Berlin
business_hours: {days: Mon-Fri, hours: "09:00-17:00", holidays: DE}
people:
  - {id: alice, name: Alice, slack: UALICE, phone: "+15550100001"}
  - {id: bob, name: Bob, slack: UBOB, phone: "+15550100002"}
  - {id: carol, name: Carol, slack: UCAROL, phone: "+15550100003"}
  - {id: erin, name: Erin, slack: UERIN, phone: "+15550100004"}
  - {id: frank, name: Frank, slack: UFRANK, phone: "+15550100005"}
teams:
  - {id: payments, name: Payments, slack_channel: CPAY, escalation_policy: pay}
services:
  - {id: checkout, name: Checkout API, team: payments, runbook: "https://runbooks.example/checkout",
     dashboards: ["https://grafana.example/d/checkout"], match: {service: checkout}}
schedules:
  - id: pay-primary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice, carol]}
  - id: pay-secondary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [bob]}
escalation_policies:
  - id: pay
    repeat: 1
    steps:
      - {notify: ["schedule:pay-primary"], ack_timeout: 5m}
      - {notify: ["schedule:pay-secondary", "person:erin"], ack_timeout: 5m}
escalation_groups:
  legal: [frank]
priorities:
  matrix:
    critical: {high: P1, low: P2}
    major: {high: P2, low: P3}
    minor: {high: P3, low: P4}
  nonproduction: P3
  response:
    P1: {page: true, ack_within: 5m, channels: [voice, sms, chat], update_every: 15m, monitor_for: 1h}
    P2: {page: true, ack_within: 15m, channels: [sms, chat], update_every: 20m, monitor_for: 30m}
    P3: {page: false, ack_within: 8h business, channels: [chat]}
    P4: {page: false, ack_within: 5d business, channels: [ticket]}
"""

# PAGING plus a notification clock (issue 4: paging rules, clocks, the paging report).
CLOCKS = """
notification_clocks:
  - {id: gdpr, name: GDPR regulator notice, applies_to: [privacy], within: 72h,
     remind_before: [24h, 4h], page_group: legal, page_before: 2h}
"""


def paging_catalog(**patches: str) -> str:
    """PAGING + CLOCKS with each `old_words=new` replaced (underscores in a key are spaces)."""
    text = PAGING + CLOCKS
    for old, new in patches.items():
        text = text.replace(old.replace("_", " "), new)
    return text


# Signals in: services matched by label, grouping, flapping, the owners of unrouted alerts.
INTAKE = """
timezone: Europe/Berlin
people:
  - {id: alice, name: Alice, slack: UALICE}
  - {id: bob, name: Bob, slack: UBOB}
  - {id: erin, name: Erin, slack: UERIN}
teams:
  - {id: payments, name: Payments, slack_channel: CPAY, escalation_policy: pay}
services:
  - {id: checkout, name: Checkout API, team: payments, runbook: "https://runbooks.example/checkout",
     dashboards: ["https://grafana.example/d/checkout"], match: {service: checkout}}
  - {id: ledger, name: Ledger, team: payments, match: {service: ledger}}
schedules:
  - id: pay-primary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice]}
escalation_policies:
  - id: pay
    steps:
      - {notify: ["schedule:pay-primary"], ack_timeout: 5m}
      - {notify: ["person:bob"], ack_timeout: 5m}
priorities:
  response:
    P1: {page: true, ack_within: 5m, channels: [chat], update_every: 15m, monitor_for: 1h}
    P2: {page: true, ack_within: 15m, channels: [chat], update_every: 20m, monitor_for: 30m}
    P3: {page: false, ack_within: 8h, channels: [chat]}
    P4: {page: false, ack_within: 5d, channels: [ticket]}
intake:
  grouping_window: 10m
  owners: [erin]
  owners_channel: COWNERS
  flapping: {count: 3, within: 1h}
"""

# Follow-ups: postmortem cause tags on a one-step policy.
FOLLOWUPS = """
timezone: Europe/Berlin
business_hours: {days: Mon-Fri, hours: "09:00-17:00", holidays: DE}
people:
  - {id: alice, name: Alice Doe, slack: UALICE}
  - {id: bob, name: Bob Brandt, slack: UBOB}
  - {id: dave, name: Dave Dent, slack: UDAVE}
teams:
  - {id: payments, name: Payments, slack_channel: CPAY, escalation_policy: pay}
services:
  - {id: checkout, name: Checkout API, team: payments, runbook: "https://runbooks.example/checkout",
     dashboards: ["https://grafana.example/d/checkout"]}
schedules:
  - id: pay-primary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice]}
escalation_policies:
  - id: pay
    steps:
      - {notify: ["schedule:pay-primary"], ack_timeout: 5m}
postmortem: {cause_tags: [db-pool, bad-deploy]}
"""
