"""Slack's text format, both ways.

Slack sends what a person typed with `&`, `<` and `>` escaped (`&amp;` `&lt;` `&gt;`) and with
its own markup between angle brackets: links `<url|label>`, mentions `<@U123>`, channels
`<#C123|name>`, special mentions `<!channel>`. Firebell stores plain words, so `decode` turns
that into what the person saw: a link becomes `[label](url)` (markdown, which the postmortem
draft keeps as a link), a mention becomes `@person` (the catalog id where the Slack user is in
the catalog), a special mention only the words `@channel`. `to_slack` goes back: it escapes
every `&`, `<` and `>` once, so no text from a title, an alert or a command can become Slack
markup (nothing it says can ping `@channel`, `@here`, `@everyone` or a user group), and turns
only Firebell's own plain forms back into markup: `[label](url)` into `<url|label>`, `@person`
of a catalog person or Slack user id into `<@U123>`, `#C123` into a channel link.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from workflows.catalog.model import Catalog

PersonOf = Callable[[str], str | None]  # Slack user id -> catalog person id
SlackUserOf = Callable[[str], str | None]  # catalog person id (or Slack id) -> Slack user id

_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}
_SPECIAL = ("channel", "here", "everyone")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{6,}")
# Firebell's plain forms that go back to Slack as markup (see the module's docstring).
_PLAIN_FORMS = re.compile(
    r"\[(?P<label>[^\[\]\n]+)\]\((?P<url>[A-Za-z][A-Za-z0-9+.-]*:[^\s()<>|]+)\)"
    r"|(?<![\w@.+-])@(?P<person>\w(?:[\w.-]*\w)?)"
    r"|(?<![\w#&])#(?P<channel>[CGD][A-Z0-9]{6,})\b"
)
# A URL in a markdown link: these would end it early or break Slack's `<url|label>`.
_URL_UNSAFE = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", "|": "%7C"}


def unescape(text: str) -> str:
    """`&amp;` `&lt;` `&gt;` back to `&` `<` `>`, in one pass (`&amp;lt;` is `&lt;`)."""
    return _ENTITY.sub(lambda m: _UNESCAPED[m.group(1)], text)


def escape(text: str) -> str:
    """Slack's escaping: the only three characters Slack's text format gives a meaning."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise(text: str) -> str:
    """For the few fields that are not escaped (a channel topic): no `<!channel>`, `<!here>`,
    `<!subteam^…>` or `<@U…>` in them can ping anyone; a zero-width space keeps their look."""
    return re.sub(r"<(?=[!@])", "<\u200b", text)


def markdown_link(label: str, url: str) -> str:
    """A link as stored: `[label](url)`, or `label (url)` if the label would break that."""
    for unsafe, code in _URL_UNSAFE.items():
        url = url.replace(unsafe, code)
    if not label.strip() or any(c in label for c in "[]\n"):
        return f"{label} ({url})" if label.strip() else url
    return f"[{label}]({url})"


def decode(text: str, *, person: PersonOf = lambda user: None) -> str:
    """Text from Slack (slash command text, a message's text) as the person saw it.

    Not for modal inputs: Slack sends a `plain_text_input` value as it was typed.
    """
    parts: list[str] = []
    end = 0
    for match in _MARKUP.finditer(text):
        parts += [unescape(text[end : match.start()]), _decode_markup(match.group(1), person)]
        end = match.end()
    parts.append(unescape(text[end:]))
    return "".join(parts)


def _decode_markup(inner: str, person: PersonOf) -> str:
    target, _, label = inner.partition("|")
    label = unescape(label)
    if target.startswith("@"):  # <@U123> or <@U123|name>
        user = target[1:]
        return "@" + (person(user) or user)
    if target.startswith("#"):  # <#C123|general> or <#C123>
        return "#" + (label or target[1:])
    if target.startswith("!"):  # <!channel>, <!subteam^S123|@team>, <!date^…|fallback>
        name = target[1:]
        if name in _SPECIAL:
            return "@" + name
        if name.startswith("subteam^"):
            return label or "@" + name.removeprefix("subteam^")
        return label or name
    url = unescape(target)
    if not label or label == url or url == f"mailto:{label}" or url == f"tel:{label}":
        return label or url  # a URL Slack linked by itself shows as it was typed
    return markdown_link(label, url)


def to_slack(text: str, *, slack_user: SlackUserOf = lambda person: None) -> str:
    """Plain text (a template's words, a stored message) as Slack mrkdwn: escaped once, with
    Firebell's own links, mentions and channel references as Slack markup."""
    parts: list[str] = []
    end = 0
    for match in _PLAIN_FORMS.finditer(text):
        parts.append(escape(text[end : match.start()]))
        parts.append(_markup(match, slack_user))
        end = match.end()
    parts.append(escape(text[end:]))
    return "".join(parts)


def _markup(match: re.Match[str], slack_user: SlackUserOf) -> str:
    if match.group("url"):
        return link(match.group("url"), match.group("label"))
    if match.group("channel"):
        return f"<#{match.group('channel')}>"
    user = slack_user(match.group("person"))
    return f"<@{user}>" if user else escape(match.group(0))


def link(url: str, label: str) -> str:
    """`<url|label>`, safe whatever the URL and label hold."""
    for unsafe, code in _URL_UNSAFE.items():
        url = url.replace(unsafe, code)
    return f"<{escape(url)}|{escape(label)}>"


def person_of(catalog: Catalog) -> PersonOf:
    """Slack user id -> the catalog person's id, for `decode`."""

    def find(user: str) -> str | None:
        found = catalog.person_by_chat_id(user)
        return found.id if found else None

    return find


def slack_user_of(catalog: Catalog) -> SlackUserOf:
    """`@name` -> a Slack user id, for `to_slack`: a catalog person's, or a Slack id itself."""

    def find(name: str) -> str | None:
        try:
            found = catalog.person(name)
        except LookupError:
            return name if _SLACK_USER.fullmatch(name) else None
        return found.slack or None

    return find
