"""The web view's pages over real HTTP, as `firebell serve` answers them (signed in by the
trusted proxy header, FIREBELL_AUTH_HEADER): who is on call at a fixed clock, a schedule's timeline with
its overrides marked and its calendar feed, the incident list and its filters and pages, an
incident's page (timeline, pages, alerts, action items, postmortem), the reports' charts with one
bar per value and their CSV equal to their tables, hostile titles escaped, unknown ids 404."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import yaml

from app import Firebell, Settings, build
from bot.calendars import calendar_token
from bot.server import build_http_app
from tests.support.paths import ROOT
from tests.support.slack_helpers import ThreadedServer
from workflows.clock import FakeClock
from workflows.dispatch import drain
from workflows.followup.actions import add_action
from workflows.followup.postmortem import tag_cause
from workflows.incident.declare import DeclareRequest, declare
from workflows.incident.lifecycle import resolve
from workflows.incident.respond import acknowledge
from workflows.intake.intake import intake
from workflows.intake.signals import Action, Signal
from workflows.oncall.changes import add_override

SECRET = "calendar-secret"
PUBLIC = "https://firebell.example"
PROXY_HEADER = "X-Forwarded-Email"
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@dataclass
class Web:
    url: str
    firebell: Firebell
    clock: FakeClock
    http: httpx.Client

    def get(self, path: str, *, who: str = "alice", **params: str) -> httpx.Response:
        """GET as `who`, signed in by the trusted proxy header. No `params` at all when none
        are given: an empty one would drop the path's own query."""
        return self.http.get(f"{self.url}{path}", params=params or None,
                             headers={PROXY_HEADER: f"{who}@example.com"})

    def page(self, path: str, **params: str) -> str:
        answer = self.get(path, **params)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        return answer.text

    def declare(self, title: str, service: str, *, severity: str = "critical",
                urgency: str = "high") -> int:
        incident = declare(self.firebell.ctx, DeclareRequest(
            title=title, service=service, severity=severity, urgency=urgency, reporter="alice"))
        assert incident.id is not None
        return incident.id

    def settle(self) -> None:
        drain(self.firebell.ctx, owner="test")


def _web(tmp_path: Path, at: datetime) -> Iterator[Web]:
    config = yaml.safe_load((ROOT / "examples" / "firebell.yaml").read_text())
    (tmp_path / "firebell.yaml").write_text(yaml.safe_dump(config))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        firebell_config=str(tmp_path / "firebell.yaml"),
        database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
        firebell_calendar_secret=SECRET, public_url=PUBLIC,
        firebell_session_secret="session-secret-for-tests", firebell_auth_header=PROXY_HEADER,
    )
    clock = FakeClock(at)
    firebell = build(settings, clock=clock)
    server = ThreadedServer(build_http_app(firebell)).start()  # as `firebell serve` answers
    with httpx.Client(timeout=30) as http:
        yield Web(server.url, firebell, clock, http)
    server.stop()
    firebell.store.dispose()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from _web(tmp_path, datetime(2026, 11, 24, 9, 0, tzinfo=UTC))  # a Tuesday


class _Text(HTMLParser):
    """The text of the elements whose class includes `wanted`, one string per element."""

    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted, self.depth = wanted, 0
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1 if tag not in ("br", "input", "img") else 0
        elif self.wanted in (dict(attrs).get("class") or "").split():
            self.depth = 1
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in ("br", "input", "img"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.found[-1] += f" {data}"


def texts(html: str, wanted: str) -> list[str]:
    parser = _Text(wanted)
    parser.feed(html)
    return [" ".join(t.split()) for t in parser.found]


def section(html: str, ident: str) -> str:
    """The markup of `<section ... id="ident">` (sections do not nest in these pages)."""
    start = html.index(f'id="{ident}"')
    return html[html.rindex("<section", 0, start):html.index("</section>", start)]


# on call ------------------------------------------------------------------------------------
def test_the_front_page_says_who_is_on_call_now_and_next(web: Web) -> None:
    html = web.page("/")
    cards = {re.search(r'<a href="/schedules/([^"]+)"', c).group(1): c  # type: ignore[union-attr]
             for c in html.split('<article class="card oncall"')[1:]}
    assert set(cards) == {"payments-primary", "payments-secondary", "platform-oncall",
                          "security-oncall"}
    primary = " ".join(re.sub(r"<[^>]+>", " ", cards["payments-primary"]).split())
    # 46 weeks after the first Monday 09:00 Berlin (alice): bob; carol from next Monday 09:00.
    assert "Now: Bob Brandt" in primary
    assert "Next: Carol Chen from Mon 30 Nov 2026 09:00" in primary  # alice's zone: Berlin
    assert "Payments" in html and "Platform" in html and "Security" in html
    # Times in the signed-in person's zone: Carol is in New York.
    carol = web.get("/", who="carol").text
    assert "Next: Carol Chen from Mon 30 Nov 2026 03:00" in " ".join(
        re.sub(r"<[^>]+>", " ", carol).split())
    assert "/calendars/people/alice.ics?token=" + calendar_token(SECRET, "person:alice") in html


def test_a_schedule_shows_four_weeks_with_its_overrides_marked(tmp_path: Path) -> None:
    for web in _web(tmp_path, datetime(2026, 12, 15, 12, 0, tzinfo=UTC)):
        # An override made in chat (a new schedule version) beside the catalog's for Christmas.
        add_override(web.firebell.ctx, schedule_id="payments-primary", person="erin",
                     start=datetime(2026, 12, 30, 8, 0, tzinfo=UTC),
                     end=datetime(2026, 12, 31, 8, 0, tzinfo=UTC), author="alice",
                     reason="swap")
        html = web.page("/schedules/payments-primary")
        weeks = re.findall(r"<h2>Week of ([^<]+)</h2>", html)
        assert weeks == ["14 Dec 2026", "21 Dec 2026", "28 Dec 2026", "04 Jan 2027"]
        lanes = re.findall(r'<div class="lane (\w+)">\s*<div class="name">([^<]+)</div>', html)
        assert lanes[:3] == [("layer", "rotation"), ("overrides", "overrides"),
                             ("final", "on call")]
        overrides = [t for t in texts(html, "override") if t.startswith(("Dave", "Erin"))]
        assert "Dave Diaz (override)" in overrides and "Erin Engel (override)" in overrides
        # The table: the final shifts, Christmas Eve 18:00 to the 27th 09:00 is Dave's override.
        rows = [" ".join(re.sub(r"<[^>]+>", " ", r).split())
                for r in re.findall(r"<tr class=\"override\">(.*?)</tr>", html, re.S)]
        assert rows == ["Thu 24 Dec 2026 18:00 Sun 27 Dec 2026 09:00 Dave Diaz override",
                        "Wed 30 Dec 2026 09:00 Thu 31 Dec 2026 09:00 Erin Engel override"]
        # The rotation row has no override: the layer alone.
        rotation = html.split('<div class="lane layer">')[2].split('<div class="lane')[0]
        assert "override" not in rotation and "Carol Chen" in rotation
        # The calendar feed link works as it is.
        feed = re.search(r'<a class="feed" href="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        assert feed.startswith(f"{PUBLIC}/calendars/payments-primary.ics?token=")
        ics = web.get(feed.removeprefix(PUBLIC).replace("&amp;", "&"))
        assert ics.status_code == 200 and b"BEGIN:VCALENDAR" in ics.content
        later = web.page("/schedules/payments-primary", **{"from": "2027-01-11"})
        assert "Week of 11 Jan 2027" in later and "Dave Diaz" not in later


# incidents ----------------------------------------------------------------------------------
def _list(web: Web, **params: str) -> list[str]:
    return re.findall(r'<tr class="incident"><td><a href="/incidents/\d+">(INC-\d+)</a>',
                      web.page("/incidents", **params))


def test_the_incident_list_filters_and_pages(web: Web) -> None:
    checkout = web.declare("Checkout down", "checkout")
    web.clock.advance(timedelta(days=2))
    gateway = web.declare("Gateway 502s", "api-gateway", severity="major")
    web.clock.advance(timedelta(days=2))
    ledger = web.declare("Ledger drift", "ledger", severity="minor")
    resolve(web.firebell.ctx, incident_id=checkout, actor="alice")
    web.settle()
    ref = "INC-{}".format
    assert _list(web) == [ref(ledger), ref(gateway)]  # open ones, newest first
    assert _list(web, state="all") == [ref(ledger), ref(gateway), ref(checkout)]
    assert _list(web, state="all", team="platform") == [ref(gateway)]
    assert _list(web, state="all", service="checkout") == [ref(checkout)]
    assert _list(web, state="all", priority="P2") == [ref(gateway)]
    assert _list(web, state="all", priority="P1", team="platform") == []
    # Dates are the reader's (alice: Berlin) days, both ends included.
    assert _list(web, state="all", **{"from": "2026-11-26", "to": "2026-11-26"}) == [ref(gateway)]
    assert _list(web, state="all", to="2026-11-26") == [ref(gateway), ref(checkout)]
    assert web.get("/incidents", **{"from": "yesterday"}).status_code == 400
    html = web.page("/incidents", state="all", team="platform")
    assert '<option value="platform" selected>' in html  # the form keeps the filter

    for n in range(30):
        web.declare(f"Flaky test {n}", "ledger", severity="minor", urgency="low")
    first = web.page("/incidents", service="ledger")
    assert len(re.findall(r'<tr class="incident">', first)) == 25
    older = re.search(r'<a rel="next" href="([^"]+)"', first).group(1)  # type: ignore[union-attr]
    assert "service=ledger" in older
    second = web.page(older.replace("&amp;", "&"))
    rows = re.findall(r'<tr class="incident"><td><a href="/incidents/\d+">(INC-\d+)</a>', second)
    assert len(rows) == 6 and rows[-1] == ref(ledger) and 'rel="next"' not in second


def test_an_incident_page_shows_its_timeline_pages_alerts_and_follow_ups(web: Web) -> None:
    ctx = web.firebell.ctx
    [outcome] = intake(ctx, [Signal(
        source="alertmanager", integration="prometheus", action=Action.TRIGGER,
        dedup_key="checkout-5xx", labels={"alertname": "CheckoutErrorRate", "service": "checkout",
                                          "severity": "critical", "urgency": "high"},
        summary="5xx above 5%", starts_at=web.clock.now() - timedelta(minutes=4))])
    number = outcome.incident_id
    assert number is not None
    web.settle()
    web.clock.advance(timedelta(minutes=3))
    acknowledge(ctx, incident_id=number, person="bob")
    add_action(ctx, incident_id=number, title="Alert on PSP latency", owner="carol",
               due_on=date(2026, 12, 4), actor="alice", open_ticket=False)
    tag_cause(ctx, incident_id=number, tag=_cause_tag(web), actor="alice")
    web.settle()

    html = web.page(f"/incidents/{number}")
    assert f"INC-{number}" in html
    pages = texts(html, "page")
    assert pages and all(p.startswith("Bob Brandt") for p in pages)  # bob was on call
    # Without Slack the chat page fails, and the page says why (no Twilio: no voice or SMS).
    [page] = pages
    assert page.startswith("Bob Brandt chat failed not delivered: no chat: SLACK_BOT_TOKEN")
    [alert] = texts(html, "alert")
    assert alert.startswith("CheckoutErrorRate 5xx above 5% alertmanager checkout-5xx firing")
    [action] = texts(html, "action")
    assert action == "AI-1 Alert on PSP latency Carol Chen 2026-12-04 open"
    assert "TTD" in html and "4m" in section(html, "summary")
    events = texts(html, "event")
    kinds = [e.split()[3] for e in events]
    assert kinds[0] in ("alert", "declared") and "acknowledged" in kinds
    assert "action_added" in kinds and "cause_tagged" in kinds
    postmortem = section(html, "postmortem")
    assert f'href="/api/v1/incidents/{number}/postmortem"' in postmortem
    assert "State: <strong>" in postmortem
    assert "Incident commander" in section(html, "roles") or "Nobody" in section(html, "roles")


def _cause_tag(web: Web) -> str:
    allowed = web.firebell.ctx.catalog.postmortem.cause_tags
    return allowed[0] if allowed else "db-pool"


def test_hostile_titles_are_escaped_everywhere(web: Web) -> None:
    number = web.declare(HOSTILE, "checkout")
    intake(web.firebell.ctx, [Signal(
        source="alertmanager", integration="prometheus", action=Action.TRIGGER,
        dedup_key="x", labels={"alertname": HOSTILE, "service": "ledger", "severity": "minor",
                               "urgency": "low"}, summary=HOSTILE)])
    web.settle()
    for path in ("/incidents", f"/incidents/{number}", "/reports", "/reports/noise",
                 "/schedules/payments-primary", "/"):
        html = web.page(path, state="all")
        assert "<script>alert" not in html and "<b>bold</b>" not in html, path
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in \
        web.page(f"/incidents/{number}")
    noise = web.page("/reports/noise")
    assert "&lt;script&gt;" in noise and "<script>" not in noise


def test_nobody_sees_a_page_without_signing_in(web: Web) -> None:
    web.declare("Checkout down", "checkout")
    for path in ("/", "/incidents", "/incidents/1", "/reports/frequency.csv", "/nope"):
        answer = web.http.get(f"{web.url}{path}")
        assert answer.status_code == 401, path
        assert "Checkout down" not in answer.text and "Bob" not in answer.text


@pytest.mark.parametrize("path", [
    "/incidents/99999", "/incidents/INC-424242", "/incidents/nope", "/incidents/99999999999999999",
    "/schedules/nope", "/reports/nope", "/reports/nope.csv",
])
def test_unknown_ids_are_404(web: Web, path: str) -> None:
    answer = web.get(path)
    assert answer.status_code == 404
    assert "Not found" in answer.text or answer.headers["content-type"].startswith("text/plain")


# reports ------------------------------------------------------------------------------------
def _table(html: str, report: str) -> list[list[str]]:
    part = section(html, report)
    table = part[part.index('<table class="numbers">'):part.index("</table>")]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)]
            for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def test_reports_chart_each_value_and_their_csv_is_their_table(web: Web) -> None:
    # A scripted history (Berlin weeks W46..W48 of 2026): W46 one P1, W47 none, W48 a P1, a P2.
    ctx = web.firebell.ctx
    history = [(datetime(2026, 11, 10, 10, 0, tzinfo=UTC), "checkout", "critical"),
               (datetime(2026, 11, 23, 10, 0, tzinfo=UTC), "checkout", "critical"),
               (datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "api-gateway", "major")]
    for at, service, severity in history:
        web.clock.set(at)
        number = web.declare(f"{service} trouble", service, severity=severity)
        web.clock.advance(timedelta(minutes=10))
        acknowledge(ctx, incident_id=number, person="bob")
    web.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    period = {"from": "2026-11-09", "to": "2026-11-29", "by": "week"}

    html = web.page("/reports/frequency", **period)
    svg = section(html, "frequency")
    assert svg.count('<svg') == 1 and 'role="img"' in svg
    assert svg.count('<rect class="bar"') == 6  # 3 weeks x 2 priorities
    assert "<title>2026-W46, P1: 1</title>" in svg and "<title>2026-W47, P2: 0</title>" in svg
    table = _table(html, "frequency")
    assert table[0] == ["period", "priority", "incidents"]
    assert table[1:] == [["2026-W46", "P1", "1"], ["2026-W46", "P2", "0"],
                         ["2026-W47", "P1", "0"], ["2026-W47", "P2", "0"],
                         ["2026-W48", "P1", "1"], ["2026-W48", "P2", "1"]]
    link = re.search(r'<a class="csv" href="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    answer = web.get(link.replace("&amp;", "&"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [[r[c] for c in table[0]] for r in rows] == table[1:]

    mttr = web.page("/reports/mttr", **period, metric="tta", group="priority")
    chart = section(mttr, "mttr")
    assert chart.count('<rect class="bar"') == 6  # 3 weeks x P1, P2; W47 has none: no data
    assert "<title>2026-W48, P2: 10 minutes</title>" in chart
    assert "<title>2026-W47, P1: no data</title>" in chart
    table = _table(mttr, "mttr")
    assert table[0][:4] == ["period", "group", "incidents", "tta_count"]
    csv_rows = list(csv.DictReader(io.StringIO(web.get("/reports/mttr.csv", **period,
                                                       metric="tta").text)))
    assert [[r[c] for c in table[0]] for r in csv_rows] == table[1:]
    assert ["2026-W48", "P2", "1", "1", "600.0", "600.0", "600.0"] in table

    everything = web.page("/reports", **period)
    for name in ("mttr", "frequency", "repeats", "paging", "noise", "hours"):
        assert f'id="{name}"' in everything and f'href="/reports/{name}.csv?' in everything
    assert everything.count('role="img"') >= 6
    assert web.get("/reports/frequency", by="year").status_code == 400
    assert web.get("/reports/frequency", **{"from": "2026-11-20", "to": "2026-11-01"}
                   ).status_code == 400
