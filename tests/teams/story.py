"""Firebell with Teams as its only chat, Graph on: the world of the Teams stories.

`app.build` with Slack off, Teams on (TEAMS_TEAM_ID set, so incident channels are made through
Graph), Twilio on its fake, serving real HTTP. Microsoft is three loopback servers: the Bot
Connector with the OpenID metadata and JWKS (`FakeMicrosoft`), Graph (`FakeGraph`), and one Entra
token endpoint in front of both (`TEAMS_LOGIN_URL` serves both scopes, as
login.microsoftonline.com does), which hands each scope's request to the fake that checks it.
The team's general channel has the app installed (a signed `conversationUpdate` from it), so
the bot can reach people who never wrote to it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.paths import DEMO_CATALOG
from tests.support.slack_helpers import API_TOKEN, ThreadedServer
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from tests.teams import graph_fake
from tests.teams.fakes import APP_ID, APP_PASSWORD, TENANT, FakeMicrosoft, Sent, bot_token, message
from tests.teams.graph_fake import FakeGraph

# Entra object ids of the demo catalog's people
AAD = {person: f"aad-{person}-0000-0000-0000-0000000000{n:02d}"
       for n, person in enumerate(("alice", "bob", "erin"), start=1)}
GENERAL = "19:payments-general@thread.tacv2"  # the payments team's channel, app installed
TEAM_THREAD = "19:team-payments@thread.tacv2"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
CARD = "application/vnd.microsoft.card.adaptive"


def catalog(tmp_path: Path, *, extra: str = "") -> Path:
    """The demo catalog (Alice primary, Bob secondary, Erin third; 30 s per step) with everyone's
    Teams id and the payments team's Teams channel; `extra`: top-level keys to add."""
    text = DEMO_CATALOG.read_text()
    for person, aad in AAD.items():
        text = text.replace(f"slack: U0{person.upper()},", f"slack: U0{person.upper()}, teams: {aad},")
    text = text.replace("slack_channel: C0PAYMENTS,",
                        f"slack_channel: C0PAYMENTS, teams_channel: '{GENERAL}',")
    path = tmp_path / "teams-story.yaml"
    path.write_text(text + (f"\n{extra}\n" if extra else ""))
    return path


class Entra:
    """One token endpoint for both scopes: Graph's requests go to the Graph fake's Entra, the
    Bot Framework's to the connector fake's, each checking the credentials itself."""

    def __init__(self, microsoft: FakeMicrosoft, graph: FakeGraph) -> None:
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))  # the body stays readable
            handler = graph._token if form.get("scope") == GRAPH_SCOPE else microsoft._token
            return await handler(request)

        self.server = ThreadedServer(Starlette(routes=[
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"])])).start()

    @property
    def url(self) -> str:
        return self.server.url


class TeamsWorld:
    """Firebell serving `POST /api/messages` with Teams as the chat port, Graph on."""

    def __init__(self, tmp_path: Path, *, clock: Any, database_url: str | None = None,
                 catalog_extra: str = "") -> None:
        from app import Settings, build
        from bot.server import build_http_app

        self.clock = clock
        self.microsoft = FakeMicrosoft().start()
        self.graph = FakeGraph().start()
        self.entra = Entra(self.microsoft, self.graph)
        self.twilio = FakeTwilio().start()
        self.settings = Settings(
            firebell_config=str(catalog(tmp_path, extra=catalog_extra)),
            database_url=database_url or f"sqlite:///{tmp_path / 'firebell.db'}",
            slack_bot_token=None, slack_signing_secret=None, slack_app_token=None,
            teams_app_id=APP_ID, teams_app_password=APP_PASSWORD, teams_tenant_id=TENANT,
            teams_team_id=graph_fake.TEAM, teams_login_url=self.entra.url,
            teams_openid_url=self.microsoft.openid_url, teams_graph_url=self.graph.graph_url,
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
            twilio_from_number=FROM_NUMBER, twilio_api_url=self.twilio.api_url,
            public_url="http://firebell.test", firebell_api_token=API_TOKEN,
        )
        self.firebell = build(self.settings, clock=clock)
        self.firebell.dispatcher.start()  # effects are performed as in `serve`
        self.server = ThreadedServer(build_http_app(self.firebell)).start()
        self.http = httpx.Client(timeout=10)
        self._install_in_team()

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.firebell.dispatcher.stop(grace=2)
        for fake in (self.entra.server, self.graph, self.microsoft):
            fake.stop()
        self.twilio.stop()
        self.firebell.store.dispose()

    @property
    def service_url(self) -> str:
        return self.microsoft.service_url

    # what Teams sends ----------------------------------------------------------------------
    def post(self, activity: dict[str, Any]) -> httpx.Response:
        """The activity, signed for its serviceUrl, to /api/messages."""
        headers = {"Authorization": f"Bearer {bot_token(activity['serviceUrl'])}"}
        return self.http.post(f"{self.server.url}/api/messages", json=activity, headers=headers)

    def _install_in_team(self) -> None:
        installed = message(self.service_url, "", user=AAD["alice"], conversation=GENERAL,
                            kind="channel", type="conversationUpdate",
                            membersAdded=[{"id": f"28:{APP_ID}"}],
                            channelData={"tenant": {"id": TENANT}, "team": {"id": TEAM_THREAD},
                                         "channel": {"id": GENERAL},
                                         "eventType": "teamMemberAdded"})
        installed.pop("text")
        assert self.post(installed).status_code == 200

    def say(self, person: str, text: str) -> str:
        """`person` (a catalog id, else an Entra id) writes `text` in their 1:1 chat with the
        bot; the bot's answer's words."""
        conversation = personal(person)
        before = len(self.to(conversation))
        response = self.post(message(self.service_url, text, user=AAD.get(person, person),
                                     conversation=conversation))
        assert response.status_code == 200, response.text
        # A page to the same person may reach their chat first: the answer is what is not one.
        answer = self.wait(lambda: [s for s in self.to(conversation)[before:]
                                    if s.method == "POST" and not _is_page(s.body)])[0]
        return words(answer.body)

    def invoke(self, person: str, verb: str, data: dict[str, Any], *,
               conversation: str | None = None) -> dict[str, Any]:
        """`person` presses a card's Action.Execute button (or submits a form); the card the
        bot answers with."""
        activity = message(self.service_url, "", user=AAD[person],
                           conversation=conversation or personal(person), type="invoke",
                           name="adaptiveCard/action",
                           value={"action": {"type": "Action.Execute", "verb": verb,
                                             "data": data}, "trigger": "manual"})
        activity.pop("text")
        response = self.post(activity)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["statusCode"] == 200 and answer["type"] == CARD, answer
        card: dict[str, Any] = answer["value"]
        return card

    def channel_activity(self, kind: str, channel: str, activity_id: str, text: str, *,
                         person: str, **channel_data: Any) -> None:
        """A channel message (or its edit or deletion) as Teams delivers it to a bot with
        ChannelMessage.Read.Group: no mention needed."""
        activity = message(self.service_url, text, user=AAD[person],
                           conversation=f"{channel};messageid={activity_id}", kind="channel",
                           type=kind, id=activity_id, textFormat="xml",
                           channelData={"tenant": {"id": TENANT}, "team": {"id": TEAM_THREAD},
                                        "channel": {"id": channel}, **channel_data})
        assert self.post(activity).status_code == 200

    # what the bot did ------------------------------------------------------------------------
    def to(self, conversation: str) -> list[Sent]:
        """What the bot sent (or updated, PUT) into a conversation."""
        prefix = f"conversations/{conversation}/activities"
        return [s for s in list(self.microsoft.sent) if s.path.startswith(prefix)]

    def pages(self, person: str) -> list[Sent]:
        """The page cards (with Acknowledge) the bot sent `person` 1:1, once they have a chat."""
        return [s for s in list(self.microsoft.sent)
                if s.method == "POST" and _is_page(s.body)
                and AAD[person] in json.dumps(s.body.get("attachments"))]

    def incidents(self) -> list[Any]:
        with self.firebell.store.transaction() as tx:
            return list(tx.list_incidents(open_only=False))

    def events(self, incident_id: int, kind: str | None = None) -> list[Any]:
        with self.firebell.store.transaction() as tx:
            return [e for e in tx.events(incident_id) if kind is None or e.kind == kind]

    @staticmethod
    def wait(found: Callable[[], Any], *, timeout: float = 10.0) -> Any:
        """`found()` once it is truthy."""
        deadline = time.monotonic() + timeout
        while not (value := found()):
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            time.sleep(0.02)
        return value


def personal(person: str) -> str:
    return f"a:personal-{person}"


def _is_page(body: dict[str, Any]) -> bool:
    return any(a.get("verb") == "ack" for att in body.get("attachments") or []
               for a in (att.get("content") or {}).get("actions") or [])


def words(body: dict[str, Any]) -> str:
    """The words of a sent activity: its text, or its card's TextBlocks, one per line."""
    if body.get("text"):
        return str(body["text"])
    return "\n".join(card_words(att.get("content") or {}) for att in body.get("attachments") or [])


def card_words(card: dict[str, Any]) -> str:
    return "\n".join(str(b.get("text")) for b in card.get("body") or []
                     if b.get("type") == "TextBlock")
