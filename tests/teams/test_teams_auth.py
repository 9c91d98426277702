"""`POST /api/messages` refuses (401) every activity whose Bot Framework token does not validate,
before anything is stored, run or sent; and Firebell's token only goes to a stored service URL."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from tests.teams.fakes import KEY_ID, FakeMicrosoft, TeamsHarness, bot_token, message, rsa_key

DECLARE = "/incident declare service=checkout severity=critical urgency=high Checkout down"
OTHER_KEY = rsa_key()


def _tokens(service_url: str) -> dict[str, str | None]:
    return {
        "forged signature": bot_token(service_url, key=OTHER_KEY),
        "unknown key": bot_token(service_url, key=OTHER_KEY, kid="not-a-microsoft-key"),
        "expired": bot_token(service_url, exp=int(time.time()) - 3600,
                             iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200),
        "wrong audience": bot_token(service_url, aud="some-other-bot"),
        "wrong issuer": bot_token(service_url, iss="https://sts.windows.net/attacker/"),
        "serviceurl mismatch": bot_token("https://smba.trafficmanager.net/emea/"),
        "no serviceurl claim": bot_token(service_url, serviceurl=None),
        "not a JWT": "not.a.jwt",
        "missing header": None,
    }


CASES = list(_tokens("x"))


@pytest.mark.parametrize("case", CASES)
def test_a_bad_token_is_refused_with_no_effect(teams: TeamsHarness, case: str) -> None:
    activity = message(teams.microsoft.service_url, DECLARE)
    response = teams.post(activity, token=_tokens(activity["serviceUrl"])[case])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    # A valid request after it is answered; the refused one left nothing behind.
    teams.say("/oncall payments", conversation="a:personal-other")
    assert teams.incidents() == []
    assert [s.path for s in teams.microsoft.sent] == ["conversations/a:personal-other/activities"]
    assert _stored(teams) == ["a:personal-other"]


def test_a_token_for_another_service_url_cannot_redirect_the_reply(teams: TeamsHarness) -> None:
    """A genuine token, replayed with a body naming another serviceUrl, is refused: the bot's
    own token never reaches an address the sender wrote."""
    elsewhere = teams.microsoft.url + "/elsewhere/"
    activity = message(elsewhere, DECLARE)
    response = teams.post(activity, token=bot_token(teams.microsoft.service_url))
    assert response.status_code == 401
    time.sleep(0.3)
    assert teams.microsoft.sent == [] and teams.microsoft.token_requests == []
    assert teams.incidents() == [] and _stored(teams) == []


def test_keys_are_cached_and_refetched_for_a_new_key(teams: TeamsHarness) -> None:
    teams.say("/oncall payments")
    teams.say("/oncall payments")
    assert teams.microsoft.key_fetches == 1
    rotated = rsa_key()
    teams.microsoft.keys.append(FakeMicrosoft.jwk(rotated, "rotated-key"))
    teams.firebell.teams.auth.refetch_seconds = 0  # the rate limit of refetches, not under test
    activity = message(teams.microsoft.service_url, "/oncall payments")
    response = teams.post(activity, token=bot_token(activity["serviceUrl"], key=rotated,
                                                     kid="rotated-key"))
    assert response.status_code == 200
    assert teams.microsoft.key_fetches == 2
    assert KEY_ID in {k["kid"] for k in teams.microsoft.keys}


def _stored(teams: TeamsHarness) -> list[Any]:
    with teams.firebell.store.engine.connect() as connection:
        return [row[0] for row in connection.execute(
            text("SELECT conversation_id FROM teams_conversations ORDER BY conversation_id"))]
