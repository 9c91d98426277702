"""Slack text round-trips, and nothing Firebell sends pings `@channel`.

Slack sends what a person typed with `&`, `<`, `>` escaped and its own markup in angle brackets
(`<url|label>`, `<@U123>`, `<!channel>`); Firebell stores the words as the person saw them and
escapes them once on the way back. The payloads below copy the shapes Slack documents (slash
commands, message events, `message_changed`, a tombstone, `message_deleted`, Enterprise Grid
fields); they go as signed requests to the real Bolt app over HTTP, with Slack's Web API a fake
on loopback. What Slack would show is worked out here by Slack's rules (`slack_shows`), not by
Firebell's code.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.slack.text import decode, to_slack
from tests.support.slack_fake import TEAM
from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday; alice is primary
DECLARE = "declare service=checkout severity=critical urgency=high"
WEBHOOK_TOKEN = "test-webhook-token"
# The demo catalog's people with a Slack id, as Slack would name them in a mention.
NAMES = {"U0ALICE": "Alice Doe", "U0BOB": "Bob Brandt", "U0ERIN": "Erin Engel"}
LIVE_MENTION = re.compile(r"<!(?:channel|here|everyone|subteam\^)[^>]*>")


# Slack's rules, written from its documentation ("Formatting text for app surfaces") -------
def slack_escapes(typed: str) -> str:
    """What Slack sends for text a person typed: `&`, `<`, `>` escaped, URLs linked `<url>`."""
    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    parts, end = [], 0
    for match in re.finditer(r"https?://[^\s<>|]+", typed):
        parts += [esc(typed[end:match.start()]), f"<{esc(match.group())}>"]
        end = match.end()
    return "".join([*parts, esc(typed[end:])])


def slack_shows(mrkdwn: str) -> str:
    """The characters Slack shows for mrkdwn it was sent. A live special mention fails."""
    def entities(text: str) -> str:
        return re.sub(r"&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m[1]], text)

    shown, end = [], 0
    for match in re.finditer(r"<([^<>]*)>", mrkdwn):
        target, _, label = match.group(1).partition("|")
        assert not target.startswith("!"), f"a live special mention reached Slack: {match[0]}"
        if target.startswith("@"):
            token = "@" + NAMES.get(target[1:], target[1:])
        elif target.startswith("#"):
            token = "#" + (label or target[1:])
        else:
            token = entities(label or target)
        shown += [entities(mrkdwn[end:match.start()]), token]
        end = match.end()
    return "".join([*shown, entities(mrkdwn[end:])])


def links_of(mrkdwn: str) -> list[tuple[str, str]]:
    """(url, label) of every link Slack would show in `mrkdwn`."""
    return [(url, label) for url, label in re.findall(r"<([a-z]+:[^|<>]*)\|([^<>]*)>", mrkdwn)]


# The harness --------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def h(tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=clock, firebell_webhook_token=WEBHOOK_TOKEN)
    yield harness
    harness.close()


_ts = count(1)


def _message(channel: str, text: str, *, user: str = "U0ALICE") -> dict[str, Any]:
    """A message event as Slack sends it (Events API, `message` in a public channel)."""
    ts = f"{1764000000 + next(_ts)}.000100"
    return {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
            "event_ts": ts, "channel_type": "channel", "team": TEAM,
            "client_msg_id": f"6e1a0b7c-0000-4000-8000-{next(_ts):012d}",
            "blocks": [{"type": "rich_text", "block_id": "x1", "elements": []}]}


def _event_id() -> str:
    return f"Ev{next(_ts):08d}"


def _command(h: Harness, text: str, *, channel: str = "C0GENERAL", user: str = "U0BOB") -> str:
    response, key = h.slack.command("/incident", text, user=user, channel=channel)
    assert response.status_code == 200
    return h.fake.wait_for_response(key, timeout=10)[0]


def _declare(h: Harness, escaped_title: str) -> tuple[int, str]:
    answer = _command(h, f"{DECLARE} {escaped_title}")
    assert answer.startswith("Declared INC-"), answer
    incident_id = int(answer.split()[1].removeprefix("INC-"))
    channel = h.fake.wait_for(
        lambda: [i.channel for i in h.incidents() if i.id == incident_id and i.channel])[0]
    return incident_id, channel


def _stored(h: Harness, incident_id: int, kind: str, source_id: str | None = None) -> Any:
    events = h.fake.wait_for(lambda: [e for e in h.events(incident_id, kind)
                                      if source_id is None or e.source_id == source_id])
    return events[-1]


def _posts(h: Harness, channel: str) -> list[dict[str, Any]]:
    return [c.params for c in h.fake.calls_to("chat.postMessage", channel=channel)]


def _block_text(params: dict[str, Any]) -> str:
    """The words of a message's blocks: headers, section texts and fields."""
    words = []
    for block in params.get("blocks") or []:
        if block["type"] in ("section", "header") and "text" in block:
            words.append(block["text"]["text"])
        words += [field["text"] for field in block.get("fields") or []]
    return "".join(words)


# (a) real-shape payloads -------------------------------------------------------------------

@pytest.mark.slow
def test_escaped_command_text_is_decoded_for_the_form_the_channel_and_every_message(
    h: Harness,
) -> None:
    typed = "p99 > 5s & errors"
    # Slack sends the command's text escaped; the form shows it as typed.
    response, _ = h.slack.command("/incident", "declare p99 &gt; 5s &amp; errors", user="U0BOB")
    assert response.status_code == 200
    [opened] = h.fake.wait_for(lambda: h.fake.calls_to("views.open"))
    title_block = next(b for b in opened.params["view"]["blocks"] if b["block_id"] == "title")
    assert title_block["element"]["initial_value"] == typed

    incident_id, channel = _declare(h, "p99 &gt; 5s &amp; errors")
    [incident] = [i for i in h.incidents() if i.id == incident_id]
    assert incident.title == typed
    [created] = h.fake.calls_to("conversations.create")
    assert created.params["name"] == f"inc-20261124-{incident_id}-p99-5s-errors"
    welcome = h.fake.wait_for(lambda: _posts(h, channel))[0]
    for sent in (welcome["text"], _block_text(welcome)):  # escaped once, shown as typed
        assert "p99 &gt; 5s &amp; errors" in sent and "&amp;gt;" not in sent
        assert typed in slack_shows(sent)


@pytest.mark.slow
def test_a_status_link_stays_a_link_in_slack_and_in_the_postmortem(h: Harness) -> None:
    incident_id, channel = _declare(h, "Checkout slow")
    answer = _command(h, "status identified cache &lt;miss&gt; storm, see "
                         "<https://grafana.example/d/abc|dashboard> and "
                         "<https://grafana.example/d/xyz?from=now-1h&amp;to=now>",
                      channel=channel)
    assert answer == "Status update posted."
    stored = _stored(h, incident_id, "status_update")
    assert stored.text == ("cache <miss> storm, see [dashboard](https://grafana.example/d/abc) "
                           "and https://grafana.example/d/xyz?from=now-1h&to=now")
    posted = h.fake.wait_for(lambda: [p for p in _posts(h, channel)
                                      if p["text"].startswith("*Status update")])[0]
    for sent in (posted["text"], _block_text(posted)):
        assert ("https://grafana.example/d/abc", "dashboard") in links_of(sent)
        assert "cache <miss> storm, see dashboard and https://grafana.example/d/xyz?" \
               "from=now-1h&to=now" in slack_shows(sent)

    assert _command(h, "resolve", channel=channel) == f"INC-{incident_id} resolved."
    assert _command(h, "postmortem", channel=channel).startswith("Postmortem draft")
    [upload] = h.fake.wait_for(lambda: [u for u in h.fake.uploads.values() if u.get("channel")])
    draft = upload["content"]
    assert "[dashboard](https://grafana.example/d/abc)" in draft
    assert "/d/abc/dashboard" not in draft and "&amp;" not in draft and "&gt;" not in draft


@pytest.mark.slow
def test_messages_keep_links_and_mentions_and_deletions_leave_no_words(h: Harness) -> None:
    incident_id, channel = _declare(h, "Chatty")
    said = _message(channel, "errors &gt; 5% since deploy, <@U0BOB> see "
                             "<https://grafana.example/d/abc|dashboard> &amp; <!here>")
    assert h.slack.event(said, event_id=_event_id()).status_code == 200
    message_id = f"{channel}:{said['ts']}"
    stored = _stored(h, incident_id, "message", message_id)
    assert stored.text == ("errors > 5% since deploy, @bob see "
                           "[dashboard](https://grafana.example/d/abc) & @here")
    assert stored.data["links"] == ["https://grafana.example/d/abc"]
    assert stored.actor == "alice"

    # An edit, as Slack sends it: the new text decoded, the earlier one kept in its history.
    edited = {**said, "text": "errors &gt; 9% &lt;b&gt;", "edited": {"user": "U0ALICE",
                                                                   "ts": "1764009999.000000"}}
    change = {"type": "message", "subtype": "message_changed", "hidden": True,
              "channel": channel, "channel_type": "channel", "ts": "1764009999.000100",
              "event_ts": "1764009999.000100", "message": edited, "previous_message": said}
    h.slack.event(change, event_id=_event_id())
    h.fake.wait_for(lambda: _stored(h, incident_id, "message", message_id).text
                    == "errors > 9% <b>")
    assert _stored(h, incident_id, "message", message_id).data["history"][0]["text"] \
        == stored.text

    # Shown back: the timeline keeps the link and the mention, and @here pings nobody.
    timeline = _command(h, "timeline", channel=channel)
    assert "errors &gt; 9% &lt;b&gt;" in timeline
    second = _message(channel, "ping <@U0BOB> <https://grafana.example/d/abc|dashboard> "
                               "<!channel>")
    h.slack.event(second, event_id=_event_id())
    _stored(h, incident_id, "message", f"{channel}:{second['ts']}")
    timeline = _command(h, "timeline", channel=channel)
    assert "ping <@U0BOB> <https://grafana.example/d/abc|dashboard> @channel" in timeline
    assert slack_shows(timeline)  # and no live special mention


@pytest.mark.slow
def test_a_deleted_message_leaves_no_words_tombstone_or_message_deleted(h: Harness) -> None:
    incident_id, channel = _declare(h, "Secrets")
    # The root of a thread is deleted: Slack sends a tombstone as message_changed.
    secret = _message(channel, "db password is hunter2 <https://vault.example/s/1|vault>")
    h.slack.event(secret, event_id=_event_id())
    secret_id = f"{channel}:{secret['ts']}"
    _stored(h, incident_id, "message", secret_id)
    h.slack.event({"type": "pin_added", "user": "U0BOB", "channel_id": channel,
                   "item": {"type": "message", "channel": channel, "created_by": "U0BOB",
                            "message": {**secret, "pinned_to": [channel]}},
                   "event_ts": "1764009999.000300"}, event_id=_event_id())
    _stored(h, incident_id, "pinned")
    tombstone = {
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
        "channel_type": "channel", "ts": "1764009999.000400", "event_ts": "1764009999.000400",
        "message": {"type": "message", "subtype": "tombstone", "text": "This message was deleted.",
                    "user": "USLACKBOT", "hidden": True, "ts": secret["ts"],
                    "thread_ts": secret["ts"], "reply_count": 1, "reply_users_count": 1,
                    "latest_reply": "1764009999.000200", "reply_users": ["U0BOB"],
                    "is_locked": False},
        "previous_message": {**secret, "thread_ts": secret["ts"], "reply_count": 1},
    }
    h.slack.event(tombstone, event_id=_event_id())
    h.fake.wait_for(lambda: _stored(h, incident_id, "message", secret_id).data.get("deleted"))
    # Slack edits the tombstone again when its thread changes; it stays deleted.
    h.slack.event({**tombstone, "ts": "1764009999.000500", "event_ts": "1764009999.000500"},
                  event_id=_event_id())

    # A message without replies is deleted: message_deleted.
    other = _message(channel, "customer jane@example.com card 4111 1111 1111 1111")
    h.slack.event(other, event_id=_event_id())
    other_id = f"{channel}:{other['ts']}"
    _stored(h, incident_id, "message", other_id)
    h.slack.event({"type": "message", "subtype": "message_deleted", "hidden": True,
                   "channel": channel, "channel_type": "channel", "ts": "1764009999.000600",
                   "event_ts": "1764009999.000600", "deleted_ts": other["ts"],
                   "previous_message": other}, event_id=_event_id())
    h.fake.wait_for(lambda: _stored(h, incident_id, "message", other_id).data.get("deleted"))
    time.sleep(0.3)  # the second tombstone edit has had time to (not) bring words back

    everything = json.dumps([(e.text, e.data) for e in h.events(incident_id)])
    for word in ("hunter2", "vault", "This message was deleted", "jane@example.com", "4111"):
        assert word not in everything
    assert "hunter2" not in _command(h, "timeline", channel=channel)


@pytest.mark.slow
def test_enterprise_grid_payloads_are_understood(h: Harness) -> None:
    """An org-wide install: the team's requests carry `enterprise_id` and
    `is_enterprise_install` (the workspace app, not the org app, answers them)."""
    key, response_url = h.fake.response_url()
    body = urlencode({
        "token": "legacy", "team_id": TEAM, "team_domain": "firebell-test",
        "enterprise_id": "E0FIREBELL", "enterprise_name": "Firebell Org",
        "channel_id": "C0GENERAL", "channel_name": "general", "user_id": "U0BOB",
        "user_name": "bob", "command": "/incident",
        "text": f"{DECLARE} Grid &amp; org &lt;test&gt;", "api_app_id": "A0FIREBELL",
        "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    })
    assert h.slack.post(body, "application/x-www-form-urlencoded").status_code == 200
    [answer] = h.fake.wait_for_response(key, timeout=10)
    assert answer.startswith("Declared INC-"), answer
    incident_id = int(answer.split()[1].removeprefix("INC-"))
    [incident] = [i for i in h.incidents() if i.id == incident_id]
    assert incident.title == "Grid & org <test>"
    channel = h.fake.wait_for(
        lambda: [i.channel for i in h.incidents() if i.id == incident_id and i.channel])[0]

    said = {**_message(channel, "grid says &lt;hi&gt;"), "user_team": TEAM,
            "source_team": TEAM}
    envelope = json.dumps({
        "token": "legacy", "team_id": TEAM, "enterprise_id": "E0FIREBELL",
        "context_team_id": TEAM, "context_enterprise_id": "E0FIREBELL",
        "api_app_id": "A0FIREBELL", "type": "event_callback", "event_id": _event_id(),
        "event_time": int(time.time()), "event": said, "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
        "authorizations": [{"enterprise_id": "E0FIREBELL", "team_id": TEAM,
                            "user_id": "U0FIREBELL", "is_bot": True,
                            "is_enterprise_install": False}],
    })
    assert h.slack.post(envelope, "application/json").status_code == 200
    stored = _stored(h, incident_id, "message", f"{channel}:{said['ts']}")
    assert (stored.text, stored.actor) == ("grid says <hi>", "alice")


# (c) special mentions never ping ------------------------------------------------------------
@pytest.mark.slow
def test_special_mentions_from_alerts_titles_and_commands_never_reach_slack_live(
    h: Harness,
) -> None:
    pings = "<!channel> <!here> <!everyone> <!subteam^S0ONCALL|@oncall> <!here|here>"
    alert = {
        "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "firebell",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "service": "checkout",
                         "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": "checkout",
                       "severity": "critical"},
            "annotations": {"summary": f"{pings} checkout 5xx > 5%",
                            "description": f"wake up {pings} & look",
                            "runbook_url": "https://runbooks.example/x?a=1&b=<!channel>|y"},
            "startsAt": "2026-11-24T09:29:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": "f1",
        }],
    }
    answer = httpx.post(f"{h.server.url}/webhooks/alertmanager", json=alert, timeout=10,
                        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert answer.status_code < 300, answer.text
    [incident] = h.fake.wait_for(lambda: [i for i in h.incidents() if i.channel])
    page = h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))[0]
    assert "checkout 5xx > 5%" in slack_shows(page.params["text"])

    # A title typed with the words and one where Slack sent the markup (`@here` in a command).
    _declare(h, "&lt;!channel&gt; typed &lt;!subteam^S0ONCALL&gt; <!here> <!channel>")
    _command(h, "list")
    _command(h, "dance <!everyone>")  # an unknown command quotes what was typed
    channel = incident.channel
    _command(h, "status investigating <!channel> <!subteam^S0ONCALL|@oncall> look", channel=channel)
    _command(h, "note <!here> noted", channel=channel)
    _command(h, "timeline", channel=channel)
    h.fake.wait_for(lambda: len(_posts(h, channel)) >= 2)

    sent = [json.dumps(c.params) for c in h.fake.calls]
    sent += [json.dumps(bodies) for bodies in h.fake.responses.values()]
    assert any("channel" in s and "oncall" in s for s in sent)  # the words did go out
    live = [s for s in sent if LIVE_MENTION.search(s.replace("\\u003c", "<"))]
    assert live == []
    for params in [c.params for c in h.fake.calls_to("chat.postMessage")]:
        slack_shows(params["text"])  # fails on a live special mention
        slack_shows(_block_text(params))


# (b) what a person types is shown as typed --------------------------------------------------
typed_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("&<>|\n"), max_size=60,
) | st.lists(
    st.sampled_from(["&", "&amp;", "&lt;", "<", ">", "|", "<!channel>", "<@U0BOB>", "<#C0X>",
                     "https://grafana.example/d/abc", "<https://x.example|x>", "](", "[a]",
                     "(https://y.example)", "mailto:a@b.c", " ", "\n", "é", "🔥", "a", "@"]),
    max_size=12,
).map("".join)


def _shown_back_differently(typed: str) -> bool:
    """Firebell's own plain forms, which it shows back as Slack markup on purpose: a markdown
    link, `@` + a catalog person or a Slack user id, `#` + a channel id."""
    return bool(re.search(r"\[[^\[\]\n]+\]\([A-Za-z][A-Za-z0-9+.-]*:[^\s()<>|]+\)", typed)
                or re.search(r"(?<![\w@.+-])@(?:alice|bob|carol|dave|erin|frank|grace|"
                             r"[UW][A-Z0-9]{6,})\b", typed)
                or re.search(r"(?<![\w#&])#[CGD][A-Z0-9]{6,}\b", typed))


@given(typed=typed_text)
@settings(max_examples=400)
def test_decode_undoes_slacks_escaping(typed: str) -> None:
    assert decode(slack_escapes(typed)) == typed


@given(typed=typed_text)
@settings(max_examples=400)
def test_what_firebell_posts_is_shown_as_typed(typed: str) -> None:
    assume(not _shown_back_differently(typed))
    assert slack_shows(to_slack(typed)) == typed


@given(label=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30),
       path=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                                  blacklist_characters="%|<>"), max_size=30))
@settings(max_examples=300)
def test_a_link_comes_back_as_the_same_link(label: str, path: str) -> None:
    assume(label.strip() and not set(label) & set("[]"))
    url = "https://grafana.example/d/" + path
    esc = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
    sent = f"<{''.join(esc.get(c, c) for c in url)}|{''.join(esc.get(c, c) for c in label)}>"
    stored = decode(sent)
    assert url in stored.replace("%28", "(").replace("%29", ")")
    [(shown_url, shown_label)] = links_of(to_slack(stored))
    assert slack_shows(shown_label) == label
    assert slack_shows(shown_url).replace("%28", "(").replace("%29", ")") == url


@pytest.mark.slow
def test_typed_text_round_trips_through_the_real_app(h: Harness) -> None:
    """Typed in the incident channel, stored, shown back by `/incident timeline`; typed into
    `/incident status`, stored, posted to the channel: each time shown as typed."""
    incident_id, channel = _declare(h, "Round trip")
    serial = count(1)

    @given(typed=typed_text)
    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    def round_trip(typed: str) -> None:
        assume(not _shown_back_differently(typed) and typed.strip())
        n = next(serial)
        marked = f"⟦{n}⟧ {typed} ⟦/{n}⟧"  # to find this example's words among the others'
        said = _message(channel, slack_escapes(marked))
        h.slack.event(said, event_id=_event_id())
        assert _stored(h, incident_id, "message", f"{channel}:{said['ts']}").text == marked
        assert marked in slack_shows(_command(h, "timeline", channel=channel))

        assert _command(h, f"status monitoring {slack_escapes(marked)}",
                        channel=channel) == "Status update posted."
        [update] = [e for e in h.events(incident_id, "status_update") if f"⟦{n}⟧" in e.text]
        assert update.text == marked
        posted = h.fake.wait_for(lambda: [p for p in _posts(h, channel)
                                          if f"⟦{n}⟧" in p["text"]])[0]
        assert marked in slack_shows(posted["text"])
        assert marked in slack_shows(_block_text(posted))

    round_trip()
