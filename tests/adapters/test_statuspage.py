"""The Statuspage adapter against a local fake of Statuspage's REST API v1: create, update,
resolve, a rate limit waited out, and a lost answer that never makes a second incident."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.http import RetryPolicy
from adapters.statuspage import StatuspageIncidents
from tests.support.statuspage_fake import API_KEY, PAGE_ID, FakeStatuspage
from workflows.ports import ExternalServiceError

FAST = RetryPolicy(attempts=4, backoff=0.01, max_wait=0.05, budget=5)


@pytest.fixture
def fake() -> Iterator[FakeStatuspage]:
    server = FakeStatuspage({"cmp-checkout": "Checkout API", "cmp-ledger": "Ledger"}).start()
    yield server
    server.stop()


def _port(fake: FakeStatuspage, *, key: str = API_KEY, retry: RetryPolicy = FAST) -> StatuspageIncidents:
    return StatuspageIncidents(api_key=key, page_id=PAGE_ID, api_url=fake.api_url, retry=retry)


def _open(port: StatuspageIncidents, tag: str = "INC-7", **changes: object) -> str:
    values: dict[str, object] = dict(
        ref=None, tag=tag, name=f"Checkout API: major outage ({tag})", status="investigating",
        body="Payments fail for some customers.", components={"cmp-checkout": "major_outage"})
    return port.sync_incident(**{**values, **changes})  # type: ignore[arg-type]


def test_create_update_and_resolve_speak_statuspages_json(fake: FakeStatuspage) -> None:
    port = _port(fake)
    ref = _open(port)
    method, path, body = fake.writes()[0]
    assert (method, path) == ("POST", f"/v1/pages/{PAGE_ID}/incidents")
    assert body == {"incident": {
        "name": "Checkout API: major outage (INC-7)", "status": "investigating",
        "body": "Payments fail for some customers.", "component_ids": ["cmp-checkout"],
        "components": {"cmp-checkout": "major_outage"}}}
    assert fake.components["cmp-checkout"]["status"] == "major_outage"

    assert port.sync_incident(ref=ref, tag="INC-7", name="ignored on update", status="identified",
                              body="A bad deploy; rolling back.",
                              components={"cmp-checkout": "major_outage"}) == ref
    assert fake.writes()[1][:2] == ("PATCH", f"/v1/pages/{PAGE_ID}/incidents/{ref}")
    port.sync_incident(ref=ref, tag="INC-7", name="", status="resolved",
                       body="This incident has been resolved.",
                       components={"cmp-checkout": "operational"})
    incident = fake.incidents[ref]
    assert incident["status"] == "resolved" and incident["resolved_at"]
    assert incident["name"] == "Checkout API: major outage (INC-7)"  # an update keeps the name
    assert [u["status"] for u in incident["incident_updates"]] == [
        "resolved", "identified", "investigating"]
    assert fake.components["cmp-checkout"]["status"] == "operational"
    assert len(fake.incidents) == 1


def test_a_rate_limit_is_waited_out_and_the_incident_made_once(fake: FakeStatuspage) -> None:
    fake.rate_limit(2)
    ref = _open(_port(fake))
    # Refused, then (the next attempt looks first, refused again, looks again) made once.
    assert [r[0] for r in fake.requests] == ["POST", "GET", "GET", "POST"]
    assert list(fake.incidents) == [ref]


def test_a_rate_limit_past_the_budget_goes_back_retryable(fake: FakeStatuspage) -> None:
    fake.rate_limit(5)
    with pytest.raises(ExternalServiceError) as raised:
        _open(_port(fake, retry=RetryPolicy(attempts=1)))
    assert raised.value.retryable
    assert fake.incidents == {}


def test_a_lost_answer_to_a_create_is_found_not_made_twice(fake: FakeStatuspage) -> None:
    _open(_port(fake), tag="INC-70")  # another incident whose reference starts alike
    fake.lose_answers(1)
    ref = _open(_port(fake))  # the retry in place looks among the unresolved first
    assert fake.incidents[ref]["name"].endswith("(INC-7)")
    assert len(fake.incidents) == 2


def test_a_create_lost_across_attempts_of_the_outbox_is_found(fake: FakeStatuspage) -> None:
    once = _port(fake, retry=RetryPolicy(attempts=1))
    fake.lose_answers(1)
    with pytest.raises(ExternalServiceError) as raised:
        _open(once)
    assert raised.value.retryable
    ref = _open(once, retried=True)  # the effect's next attempt
    assert list(fake.incidents) == [ref]
    assert len(fake.incidents[ref]["incident_updates"]) == 1


def test_a_lost_answer_to_an_update_does_not_post_it_twice(fake: FakeStatuspage) -> None:
    port = _port(fake)
    ref = _open(port)
    fake.lose_answers(1)
    port.sync_incident(ref=ref, tag="INC-7", name="", status="monitoring", body="Fix deployed.",
                       components={"cmp-checkout": "degraded_performance"})
    bodies = [u["body"] for u in fake.incidents[ref]["incident_updates"]]
    assert bodies == ["Fix deployed.", "Payments fail for some customers."]


def test_a_refused_key_is_not_retried(fake: FakeStatuspage) -> None:
    with pytest.raises(ExternalServiceError) as raised:
        _open(_port(fake, key="wrong"))
    assert not raised.value.retryable
    assert len(fake.requests) == 1
