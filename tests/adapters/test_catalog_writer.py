"""An imported catalog written as YAML: valid, stable, and its lossy mappings as comments."""

from __future__ import annotations

from adapters.importing.common import Ids, Imported, person_id_from_email
from bot.catalog_writer import catalog_yaml
from workflows.catalog.load import parse_catalog


def _imported() -> Imported:
    return Imported(
        source="PagerDuty",
        catalog={
            "timezone": "Europe/Berlin",
            "people": [
                {"id": "alice", "name": "Alice Doe", "email": "alice@example.com",
                 "phone": "+15550100001", "timezone": "Europe/Berlin"},
                {"id": "bob", "name": "Bob Brandt", "email": "bob@example.com"},
            ],
            "teams": [{"id": "payments", "name": "Payments", "escalation_policy": "payments"}],
            "services": [{"id": "checkout", "name": "Checkout", "team": "payments",
                          "match": {"service": "checkout"}}],
            "schedules": [{
                "id": "primary", "team": "payments", "timezone": "Europe/Berlin",
                "layers": [{"name": "Layer 1", "every": "1w", "handoff": "Mon 09:00",
                            "start": "2027-01-04", "members": ["alice", "bob"],
                            "restrictions": {"days": "Mon-Fri", "hours": "09:00-17:00"}}],
                "overrides": [{"person": "bob", "start": "2027-03-01T09:00:00+01:00",
                               "end": "2027-03-02T09:00:00+01:00"}],
            }],
            "escalation_policies": [{"id": "payments", "name": "Payments", "repeat": 1, "steps": [
                {"notify": ["schedule:primary"], "ack_timeout": "30m"},
                {"notify": ["person:alice", "person:bob"], "ack_timeout": "15m"}]}],
        },
        comments={
            "schedules[0].layers[0]": ["lossy: a second restriction (Sat 10:00-14:00) dropped"],
            "escalation_policies[0].steps[1].notify[1]": ["lossy: was a user group"],
            "services": ["3 event rules not imported"],
        },
    )


def test_the_catalog_is_valid_and_every_note_sits_above_its_place() -> None:
    text = catalog_yaml(_imported(), command="firebell import pagerduty")
    catalog = parse_catalog(text)
    assert catalog.schedule("primary").layers[0].restrictions is not None
    lines = text.splitlines()
    assert lines[0].startswith("# Firebell catalog imported from PagerDuty")

    def above(comment: str) -> str:
        at = next(i for i, line in enumerate(lines) if line.strip() == f"# {comment}")
        return lines[at + 1].strip()

    assert above("lossy: a second restriction (Sat 10:00-14:00) dropped") == "- name: Layer 1"
    assert above("3 event rules not imported") == "services:"
    # A note about an item of a one-line list goes above the list's key.
    assert above("lossy: was a user group") == "notify: [person:alice, person:bob]"


def test_the_same_import_writes_the_same_bytes_and_short_entries_on_one_line() -> None:
    first = catalog_yaml(_imported(), command="firebell import pagerduty")
    assert first == catalog_yaml(_imported(), command="firebell import pagerduty")
    assert "  - {id: bob, name: Bob Brandt, email: bob@example.com}" in first
    assert "members: [alice, bob]" in first


def test_ids_are_slugs_unique_per_kind() -> None:
    ids = Ids()
    assert ids.make("schedule", "Payments – Primary") == "payments-primary"
    assert ids.make("schedule", "payments primary") == "payments-primary-2"
    assert ids.make("team", "Payments Primary") == "payments-primary"
    assert person_id_from_email("Jörg.Müller@example.com", "Jörg", ids) == "jorg-muller"
    assert person_id_from_email(None, "Ünal Öz", ids) == "unal-oz"
