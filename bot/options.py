"""Command-line words as people type them: `key=value` options among plain words, quotes kept."""

from __future__ import annotations

import shlex

TRUE = ("1", "yes", "true")


def tokens(text: str) -> list[str]:
    """The words of `text`, a quoted phrase being one word; an unbalanced quote splits on spaces."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def split_options(text: str, *, keys: tuple[str, ...] | None = None) -> tuple[dict[str, str], list[str]]:
    """`key=value` options (only `keys`, when given; keys lower-cased) and the remaining words."""
    options: dict[str, str] = {}
    words = []
    for token in tokens(text):
        key, sep, value = token.partition("=")
        known = key.lower() in keys if keys is not None else key.isidentifier()
        if sep and known:
            options[key.lower()] = value.strip()
        else:
            words.append(token)
    return options, words


def truthy(value: str | None) -> bool:
    """`yes`, `true` or `1`, in any case."""
    return (value or "").lower() in TRUE
