"""Who may act (`workflows.access.may`): only people in the catalog, unless the catalog's
`access:` opens a verb to the workspace; every command has a verb. The same rule seen through
Slack is tests/e2e/test_access_slack.py."""

from __future__ import annotations

import pytest

from bot.command_table import TABLE
from workflows import access
from workflows.catalog.load import parse_catalog
from workflows.catalog.model import Access, CatalogError

PEOPLE = "people:\n  - {id: alice, name: Alice, slack: U0ALICE}\n"


def test_by_default_only_people_in_the_catalog_act_and_everyone_may_ask() -> None:
    catalog = parse_catalog(PEOPLE)
    alice = catalog.person("alice")
    assert access.may(catalog, None, access.ASK) is None
    for verb in access.VERBS:
        assert access.may(catalog, alice, verb) is None, verb
        assert access.may(catalog, None, verb) == "you are not in Firebell's catalog", verb


def test_the_catalog_widens_one_verb_or_all_of_them() -> None:
    catalog = parse_catalog(PEOPLE + "access: {declare: workspace, report: workspace}\n")
    assert access.may(catalog, None, "declare") is None
    assert access.may(catalog, None, "report") is None
    assert access.may(catalog, None, "acknowledge") is not None
    assert access.may(catalog, None, "resolve") is not None

    everyone = parse_catalog(PEOPLE + "access: {act: workspace, resolve: catalog}\n")
    assert access.may(everyone, None, "acknowledge") is None
    assert access.may(everyone, None, "schedule") is None
    assert access.may(everyone, None, "resolve") == "you are not in Firebell's catalog"


def test_an_unknown_verb_is_a_mistake_not_a_yes() -> None:
    with pytest.raises(ValueError, match="unknown verb 'dance'"):
        access.may(parse_catalog(PEOPLE), None, "dance")


def test_every_access_key_has_words_and_every_command_a_verb() -> None:
    assert set(access.VERBS) == set(Access.model_fields) - {"act"}
    from bot.command_table import incident_verb as _incident_verb

    subcommands = [" ".join(c.words[1:]) for c in TABLE if c.words[0] == "incident"]
    assert {"ack", "declare", "resolve", "page", "help"} <= set(subcommands)
    for sub in subcommands:
        verb = _incident_verb(sub, "")
        assert verb == access.ASK or verb in access.VERBS, sub
    assert _incident_verb("status", "INC-3") == access.ASK
    assert _incident_verb("status", "INC-3 identified bad deploy") == "status"
    assert _incident_verb("postmortem", "status") == access.ASK
    assert _incident_verb("postmortem", "7 publish") == "postmortem"
    assert _incident_verb("ack", "") == "acknowledge"


# the catalog section ------------------------------------------------------------------------


def test_a_bad_access_value_or_verb_is_named_with_its_line() -> None:
    text = PEOPLE + "access:\n  act: everyone\n  declare: workspace\n  acknowlege: workspace\n"
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, source="firebell.yaml")
    assert caught.value.problems == [
        "firebell.yaml:4: access.act: 'everyone' is not an audience: use 'catalog' (only people "
        "in the catalog) or 'workspace' (anyone who can reach Firebell in Slack or Teams)",
        "firebell.yaml:6: access.acknowlege: unknown verb 'acknowlege' (did you mean "
        "'acknowledge'?) (verbs: act, " + ", ".join(access.VERBS) + ")",
    ]
    with pytest.raises(CatalogError, match=r"access\.resolve: True is not an audience"):
        parse_catalog(PEOPLE + "access: {resolve: yes}\n")
