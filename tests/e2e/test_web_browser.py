"""The web view in real headless Chromium (Debian's `chromium`, driven by Playwright for Python;
never `playwright install`): sign in with Slack through the fake OpenID provider, the on-call
page names who is on call at the fixed clock, a report's chart draws one bar per value.
Screenshots go to tests/artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.e2e.test_web_signin import SECRET, START, write_catalog
from tests.support.browser import chromium
from tests.support.oidc_fake import FakeOpenId, slack_user
from tests.support.paths import ROOT
from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock
from workflows.incident.declare import DeclareRequest, declare

ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def firebell(tmp_path: Path) -> Iterator[tuple[Harness, FakeOpenId]]:
    slack = FakeOpenId("slack", user=slack_user("U0ALICE", "alice@example.com", "Alice")).start()
    clock = FakeClock(START)
    harness = Harness(tmp_path, clock=clock, catalog=write_catalog(tmp_path),
                      firebell_session_secret=SECRET, **slack.settings())
    # A scripted history: a P1 in week 7 of 2026, a P2 in week 9, none in week 8.
    for at, severity in [(datetime(2026, 2, 10, 10, 0, tzinfo=UTC), "critical"),
                         (datetime(2026, 2, 24, 10, 0, tzinfo=UTC), "major")]:
        clock.set(at)
        declare(harness.firebell.ctx, DeclareRequest(
            title=f"checkout {severity}", service="checkout", severity=severity, urgency="high",
            reporter="alice"))
    clock.set(START)
    yield harness, slack
    harness.close()
    slack.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    binary = chromium()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        yield tab
        context.close()
        browser.close()


def test_sign_in_then_on_call_and_a_chart(firebell: tuple[Harness, FakeOpenId],
                                          page: Page) -> None:
    harness, slack = firebell
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{harness.server.url}/")
    assert page.url.startswith(f"{harness.server.url}/signin?next=")
    page.screenshot(path=str(ARTIFACTS / "web-signin.png"))
    page.get_by_role("link", name="Sign in with Slack").click()
    page.wait_for_url(f"{harness.server.url}/")  # through the provider and back
    assert slack.authorizations and slack.token_requests
    cookie = next(c for c in page.context.cookies() if c["name"] == "firebell_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # not readable by the page's scripts

    # 4 March 2026: week 9 of the rotation that started 5 January (alice, bob, carol): carol.
    card = page.locator('article.oncall[data-schedule="payments-primary"]')
    assert card.locator(".now").inner_text() == "Carol Cruz"
    assert "Alice Doe" in card.locator(".next").inner_text()
    assert "Signed in as Alice Doe" in page.locator("header").inner_text()
    page.screenshot(path=str(ARTIFACTS / "web-oncall.png"), full_page=True)

    page.goto(f"{harness.server.url}/reports/frequency?from=2026-02-09&to=2026-03-01&by=week")
    chart = page.locator("svg.chart").first
    chart.wait_for()
    bars = chart.locator("rect.bar")
    assert bars.count() == 6  # 3 weeks x 2 priorities
    box = chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100  # laid out, not empty
    titles = [bars.nth(i).locator("title").text_content() for i in range(bars.count())]
    assert "2026-W07, P1: 1" in titles and "2026-W09, P2: 1" in titles
    assert "2026-W08, P1: 0" in titles
    tall = [bars.nth(i).bounding_box() for i in range(bars.count())]
    assert sum(1 for b in tall if b and b["height"] > 5) == 2  # the two incidents' bars
    page.screenshot(path=str(ARTIFACTS / "web-report-frequency.png"), full_page=True)
    assert (ARTIFACTS / "web-report-frequency.png").stat().st_size > 1000
