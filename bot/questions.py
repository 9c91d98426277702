"""Questions people ask the bot in their own words (a mention in Slack, a message in Teams).

"Who is on call" is asked many ways: "who's on call for payments?", "who is on-call right now",
"who do I page about checkout", "oncall for the payments team", "who has the pager for api?".
Each becomes the query of `/oncall` (empty: everyone); the command answers it, and a name that
fits several teams or services is answered with the choices (`workflows.incident.queries`).
"""

from __future__ import annotations

import re

_ASKS = re.compile(
    r"^\W*(?:hey\s+|hi\s+)?(?:"
    r"who(?:'s|’s|\s+is|\s+are)\s+(?:the\s+)?(?:on[\s-]?call|primary|secondary)"
    r"|who\s+(?:do|should|can)\s+(?:i|we)\s+(?:page|call|ping|contact|reach|escalate\s+to)"
    r"|who\s+(?:has|holds|carries)\s+(?:the\s+)?pager"
    r"|on[\s-]?call"
    r")\b(?P<query>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_LEADING = re.compile(r"^(?:\s*(?:for|on|in|at|about|with|of|over|from|the)\b)+",
                      re.IGNORECASE)
_TRAILING = re.compile(
    r"(?:(?:^|\s+)(?:right\s+now|now|today|currently|at\s+the\s+moment|please|pls|team|service|"
    r"schedule|rotation|on[\s-]?call))+\s*$", re.IGNORECASE)


def oncall_query(text: str) -> str | None:
    """The team, service or schedule a who-is-on-call question asks about ("" for everyone), or
    None when `text` is not such a question."""
    asked = _ASKS.match(text.strip())
    if asked is None:
        return None
    query = asked.group("query").strip().rstrip("?!. ").strip()
    query = _LEADING.sub("", query).strip()
    query = _TRAILING.sub("", query).strip().rstrip("?!.,").strip()
    return query.lstrip("#@")
