"""Signing in to the web view over real HTTP: "Sign in with Slack" and Microsoft Entra through
a fake OpenID provider on loopback (tests/support/oidc_fake.py), the trusted proxy header,
signed session cookies, CSRF, and the routes of `serve` that keep their own authentication.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.oidc_fake import CLIENT_SECRET, FakeOpenId, entra_user, slack_user
from tests.support.slack_helpers import API_TOKEN, Harness
from workflows.clock import FakeClock

START = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday: carol's week (see ROTATION)
SECRET = "web-session-secret-for-tests"
SESSION = "firebell_session"

CATALOG = """
timezone: Europe/Berlin
people:
  - {id: alice, name: Alice Doe, email: alice@example.com, slack: U0ALICE,
     teams: 0a11ce00-0000-0000-0000-00000000a11c}
  - {id: bob, name: Bob Brandt, email: bob@example.com, slack: U0BOB}
  - {id: carol, name: Carol Cruz, email: Carol@Example.com}
teams:
  - {id: payments, name: Payments, slack_channel: C0PAYMENTS, escalation_policy: pay}
services:
  - {id: checkout, name: Checkout API, team: payments, match: {service: checkout}}
schedules:
  - id: payments-primary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice, bob, carol]}
escalation_policies:
  - id: pay
    steps:
      - {notify: ["schedule:payments-primary"], ack_timeout: 5m}
priorities:
  matrix:
    critical: {high: P1, low: P2}
    major: {high: P2, low: P3}
    minor: {high: P3, low: P4}
"""


def write_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "firebell.yaml"
    path.write_text(CATALOG)
    return path


@pytest.fixture
def slack() -> Iterator[FakeOpenId]:
    fake = FakeOpenId("slack", user=slack_user("U0ALICE", "alice@example.com", "Alice")).start()
    yield fake
    fake.stop()


@pytest.fixture
def entra() -> Iterator[FakeOpenId]:
    fake = FakeOpenId("entra", user=entra_user("0a11ce00-0000-0000-0000-00000000a11c",
                                               "alice@example.com")).start()
    yield fake
    fake.stop()


@pytest.fixture
def web(tmp_path: Path, slack: FakeOpenId, entra: FakeOpenId) -> Iterator[Harness]:
    """Firebell with both providers on (and its JSON API, Slack over HTTP)."""
    harness = Harness(tmp_path, clock=FakeClock(START), catalog=write_catalog(tmp_path),
                      firebell_session_secret=SECRET, **slack.settings(), **entra.settings())
    yield harness
    harness.close()


@pytest.fixture
def browser(web: Harness) -> Iterator[httpx.Client]:
    """A client that follows nothing by itself, so each hop can be looked at."""
    with httpx.Client(base_url=web.server.url, timeout=10) as client:
        yield client


def sign_in(client: httpx.Client, provider: str, *, next_path: str = "/") -> httpx.Response:
    """Start at Firebell, through the provider's authorize, back to Firebell's callback: the
    callback's answer."""
    start = client.get(f"/signin/{provider}", params={"next": next_path})
    assert start.status_code == 303, start.text
    authorize = client.get(start.headers["location"])  # the fake signs in at once
    assert authorize.status_code == 302, authorize.text
    return client.get(authorize.headers["location"])


def session_payload(client: httpx.Client) -> dict[str, Any]:
    body = client.cookies[SESSION].split(".")[0]
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return payload


def forge(payload: dict[str, Any], secret: str = SECRET) -> str:
    """A session cookie as Firebell signs it (HMAC-SHA256 over "session:" and the body)."""
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    mac = hmac.new(secret.encode(), b"session:" + body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def test_anonymous_visitors_are_sent_to_sign_in(browser: httpx.Client) -> None:
    for path in ("/", "/incidents?team=payments", "/reports", "/no-such-page"):
        answer = browser.get(path)
        assert answer.status_code == 303, path
        target = urlsplit(answer.headers["location"])
        assert target.path == "/signin" and parse_qs(target.query)["next"] == [path]
    page = browser.get("/signin", params={"next": "/incidents"})
    assert page.status_code == 200
    assert "Sign in with Slack" in page.text and "Sign in with Microsoft" in page.text
    assert 'href="/signin/slack?next=%2Fincidents"' in page.text
    assert browser.post("/", data={"x": "1"}).status_code == 401


def test_sign_in_with_slack(browser: httpx.Client, slack: FakeOpenId, web: Harness) -> None:
    back = sign_in(browser, "slack", next_path="/incidents?state=all")
    assert back.status_code == 303 and back.headers["location"] == "/incidents?state=all"
    asked = slack.authorizations[-1].query
    assert asked["redirect_uri"] == f"{web.server.url}/auth/slack/callback"
    assert set(asked["scope"].split()) >= {"openid", "email"} and asked["state"] and asked["nonce"]
    assert slack.token_requests[-1]["client_secret"] == CLIENT_SECRET
    cookie = next(c for c in back.headers.get_list("set-cookie") if c.startswith(SESSION))
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes and "samesite=lax" in cookie.lower()
    assert "max-age=43200" in cookie.lower()
    assert "secure" not in attributes  # PUBLIC_URL is not https here
    assert session_payload(browser)["p"] == "alice"
    page = browser.get("/")
    assert page.status_code == 200 and "Signed in as Alice Doe" in page.text
    # Back at /signin while signed in: straight on.
    assert browser.get("/signin", params={"next": "/reports"}).headers["location"] == "/reports"


def test_slack_person_found_by_email_when_the_id_is_unknown(
        browser: httpx.Client, slack: FakeOpenId) -> None:
    slack.user = slack_user("U0NEWID", "carol@example.com", "Carol")
    assert sign_in(browser, "slack").status_code == 303
    assert "Signed in as Carol Cruz" in browser.get("/").text


def test_slack_identity_from_userinfo_when_the_id_token_is_bare(
        browser: httpx.Client, slack: FakeOpenId) -> None:
    slack.user = slack_user("U0BOB", "bob@example.com")
    slack.userinfo_only = frozenset({"https://slack.com/user_id", "email"})
    assert sign_in(browser, "slack").status_code == 303
    assert "Signed in as Bob Brandt" in browser.get("/").text


def test_sign_in_with_entra_by_object_id_then_by_email(
        browser: httpx.Client, entra: FakeOpenId, web: Harness) -> None:
    back = sign_in(browser, "entra")
    assert back.status_code == 303 and session_payload(browser)["p"] == "alice"
    asked = entra.authorizations[-1].query
    assert asked["redirect_uri"] == f"{web.server.url}/auth/entra/callback"
    browser.cookies.clear()
    entra.user = entra_user("99999999-0000-0000-0000-000000000000", "carol@example.com")
    assert sign_in(browser, "entra").status_code == 303
    assert "Signed in as Carol Cruz" in browser.get("/").text


@pytest.mark.parametrize("provider", ["slack", "entra"])
def test_a_person_not_in_the_catalog_is_told_so(
        browser: httpx.Client, provider: str, slack: FakeOpenId, entra: FakeOpenId) -> None:
    slack.user = slack_user("U0STRANGER", "mallory@example.com", "Mallory")
    entra.user = entra_user("77777777-0000-0000-0000-000000000000", "mallory@example.com",
                            "Mallory")
    answer = sign_in(browser, provider)
    assert answer.status_code == 403
    assert "Not in the catalog" in answer.text and "mallory@example.com" in answer.text
    assert SESSION not in browser.cookies
    assert browser.get("/").status_code == 303


def test_a_forged_tampered_or_expired_cookie_signs_out(browser: httpx.Client) -> None:
    assert sign_in(browser, "slack").status_code == 303
    real = browser.cookies[SESSION]
    payload = session_payload(browser)
    body, mac = real.split(".")
    as_bob = base64.urlsafe_b64encode(json.dumps({**payload, "p": "bob"}).encode()).decode()
    cases = {
        "tampered": f"{as_bob.rstrip('=')}.{mac}",
        "other secret": forge({**payload, "p": "bob"}, secret="not-the-secret"),
        "expired": forge({**payload, "exp": int(time.time()) - 1}),
        "garbage": "nonsense",
    }
    for name, value in cases.items():
        browser.cookies.clear()
        browser.cookies.set(SESSION, value)
        answer = browser.get("/")
        assert answer.status_code == 303, name
        assert answer.headers["location"].startswith("/signin"), name
        cleared = " ".join(answer.headers.get_list("set-cookie"))
        assert f'{SESSION}=""' in cleared or "max-age=0" in cleared.lower(), name
    browser.cookies.clear()
    browser.cookies.set(SESSION, forge({**payload, "exp": int(time.time()) + 60}))
    assert browser.get("/").status_code == 200  # the same secret's cookie is good: forge is right


def test_wrong_state_is_refused(browser: httpx.Client) -> None:
    start = browser.get("/signin/slack")
    authorize = browser.get(start.headers["location"])
    query = parse_qs(urlsplit(authorize.headers["location"]).query)
    answer = browser.get("/auth/slack/callback", params={"code": query["code"][0],
                                                          "state": "someone-elses"})
    assert answer.status_code == 400 and "state" in answer.text
    assert SESSION not in browser.cookies
    # A callback from another browser (no sign-in cookie) is refused the same way.
    with httpx.Client(base_url=str(browser.base_url)) as other:
        answer = other.get("/auth/slack/callback", params={"code": query["code"][0],
                                                            "state": query["state"][0]})
        assert answer.status_code == 400 and SESSION not in other.cookies


@pytest.mark.parametrize("claims", [
    {"nonce": "replayed-nonce"},
    {"aud": "another-client"},
    {"iss": "https://evil.example"},
    {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
], ids=["nonce", "audience", "issuer", "expired"])
def test_a_bad_id_token_is_refused(browser: httpx.Client, slack: FakeOpenId,
                                   claims: dict[str, Any]) -> None:
    slack.claims = claims
    answer = sign_in(browser, "slack")
    assert answer.status_code == 403 and "Sign-in refused" in answer.text
    assert SESSION not in browser.cookies


def test_an_id_token_signed_by_another_key_is_refused(browser: httpx.Client,
                                                      entra: FakeOpenId) -> None:
    entra.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    answer = sign_in(browser, "entra")
    assert answer.status_code == 403 and "InvalidSignature" in answer.text
    assert SESSION not in browser.cookies


def test_a_provider_that_does_not_answer_is_said_and_not_hammered(
        browser: httpx.Client, slack: FakeOpenId) -> None:
    slack.down = True
    for _ in range(3):
        answer = browser.get("/signin/slack")
        assert answer.status_code == 502 and "unavailable" in answer.text
    assert slack.discoveries == 1  # asked again only after a pause
    assert SESSION not in browser.cookies and browser.get("/").status_code == 303


def test_sign_in_goes_back_only_to_this_site(browser: httpx.Client) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        browser.cookies.clear()
        assert sign_in(browser, "slack", next_path=target).headers["location"] == "/", target


def test_signing_out_needs_the_csrf_token(browser: httpx.Client) -> None:
    assert sign_in(browser, "slack").status_code == 303
    token = session_payload(browser)["csrf"]
    assert browser.post("/signout").status_code == 403
    assert browser.post("/signout", data={"csrf_token": "guessed"}).status_code == 403
    page = browser.get("/")
    assert page.status_code == 200  # still signed in
    # Every page carries the Sign out form with the session's token.
    assert ('<form method="post" action="/signout" class="signout"><input type="hidden" '
            f'name="csrf_token" value="{token}">') in page.text
    out = browser.post("/signout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"].startswith("/signin")
    assert SESSION not in browser.cookies
    assert browser.get("/").status_code == 303
    assert "signed out" in browser.get("/signin", params={"signed_out": "1"}).text


def test_the_other_routes_keep_their_own_authentication(web: Harness,
                                                        browser: httpx.Client) -> None:
    assert browser.get("/healthz").json()["database"] == "ok"  # (no scheduler in the harness)
    assert browser.get("/metrics").status_code == 200
    assert browser.get("/status").status_code == 200
    assert browser.get("/api/v1/oncall").status_code == 401  # the API's token, not a redirect
    api = browser.get("/api/v1/oncall", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert api.status_code == 200 and api.json()["oncall"][0]["now"][0]["id"] == "carol"
    assert browser.post("/slack/events", content=b"{}").status_code == 401
    assert browser.get("/slack/events").status_code == 405  # as before the web view
    assert browser.get("/calendars/payments-primary.ics").status_code == 404  # its own token


# --- the trusted proxy header ----------------------------------------------------------------

@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[httpx.Client]:
    harness = Harness(tmp_path, clock=FakeClock(START), catalog=write_catalog(tmp_path),
                      firebell_session_secret=SECRET, firebell_auth_header="X-Forwarded-Email")
    with httpx.Client(base_url=harness.server.url, timeout=10) as client:
        yield client
    harness.close()


def test_the_trusted_header_names_the_person(proxied: httpx.Client) -> None:
    for named, name in [("alice@example.com", "Alice Doe"), ("CAROL@example.com", "Carol Cruz"),
                        ("bob", "Bob Brandt"), ("U0ALICE", "Alice Doe")]:
        proxied.cookies.clear()
        page = proxied.get("/", headers={"X-Forwarded-Email": named})
        assert page.status_code == 200 and f"Signed in as {name}" in page.text, named
    stranger = proxied.get("/", headers={"X-Forwarded-Email": "mallory@example.com"})
    assert stranger.status_code == 403 and "Not in the catalog" in stranger.text
    proxied.cookies.clear()
    bare = proxied.get("/")
    assert bare.status_code == 401 and "X-Forwarded-Email" in bare.text
    # The session cookie only carries the CSRF token: without the header it lets nobody in.
    proxied.get("/", headers={"X-Forwarded-Email": "alice@example.com"})
    assert SESSION in proxied.cookies and proxied.get("/").status_code == 401
    # At /signin with the header: straight on.
    assert proxied.get("/signin", params={"next": "/reports"},
                       headers={"X-Forwarded-Email": "bob"}).headers["location"] == "/reports"
    # No OpenID provider is configured: its routes are not there.
    assert proxied.get("/signin/slack").status_code == 404


def test_forms_behind_the_proxy_need_the_csrf_token(proxied: httpx.Client) -> None:
    headers = {"X-Forwarded-Email": "alice@example.com"}
    assert proxied.get("/", headers=headers).status_code == 200
    token = session_payload(proxied)["csrf"]
    assert proxied.post("/signout", headers=headers).status_code == 403
    assert proxied.post("/signout", headers={**headers, "X-CSRF-Token": token}).status_code == 303
    # Another person behind the same browser gets a session (and token) of their own.
    proxied.get("/", headers={"X-Forwarded-Email": "bob@example.com"})
    assert session_payload(proxied)["p"] == "bob" and session_payload(proxied)["csrf"] != token


# --- off ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings,missing", [
    ({}, "a way to sign in"),
    ({"slack_client_id": "x", "slack_client_secret": "y"}, "FIREBELL_SESSION_SECRET"),
    ({"firebell_session_secret": SECRET, "slack_client_id": "x"}, "a way to sign in"),
])
def test_without_a_way_in_the_web_view_is_off(tmp_path: Path, settings: dict[str, str],
                                              missing: str) -> None:
    harness = Harness(tmp_path, clock=FakeClock(START), catalog=write_catalog(tmp_path),
                      **settings)
    try:
        for path in ("/", "/incidents", "/signin"):
            answer = httpx.get(f"{harness.server.url}{path}")
            assert answer.status_code == 404 and missing in answer.text, path
            assert "Signed in" not in answer.text
        assert httpx.get(f"{harness.server.url}/healthz").json()["database"] == "ok"
    finally:
        harness.close()
