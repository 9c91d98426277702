"""The blameless check: phrases that pin an outcome on a person, each with a systemic rewording.

"Dave deployed bad code" is not actionable; "the pipeline let a faulty release reach all traffic"
is. The check flags, it never rewrites: the authors decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_PERSONAL = (
    r"forgot|messed up|screwed up|should have|shouldn't have|should not have|didn't|did not|"
    r"failed to|neglected|ignored|made (?:a|an) (?:mistake|typo|error)|fat[- ]fingered|"
    r"(?:deployed|pushed|shipped|merged) (?:a )?(?:bad|broken|faulty|buggy)"
)
_ANY_FAULT = _PERSONAL + r"|broke|caused|deployed|pushed|deleted|dropped|misconfigured"
_FAULT_NOUNS = r"mistake|fault|error|typo|screw[- ]?up|bad (?:deploy|change|config)"
_STOP = {
    "The", "This", "That", "These", "Those", "It", "We", "Our", "They", "Someone", "Nobody",
    "Everyone", "A", "An", "Then", "When", "After", "Before", "Because", "And", "But", "So",
    "If", "Which", "What", "Who", "I", "Their", "Its", "There", "Here", "Deploy", "Release",
}
_MENTION = r"<@[A-Z0-9]+(?:\|[^>]*)?>|@[\w.-]+"
_CAPITALISED = r"[A-Z][a-z]*"

HINTS = {
    "did": "Describe what in the system allowed it, e.g. \"the deploy pipeline had no canary "
           "stage, so the faulty release reached all traffic at once\".",
    "fault": "Name the missing safeguard instead of a person's fault, e.g. \"the config change "
             "had no validation or review step\".",
    "because": "Say which condition or gap led to it, e.g. \"because the runbook did not cover "
               "failover\", not who.",
    "human": "\"Human error\" is where the inquiry starts: what made the error easy to make and "
             "hard to notice?",
}


@dataclass(frozen=True)
class BlameFlag:
    phrase: str
    person: str
    hint: str


def check(text: str, *, people: Iterable[str] = (), systems: Iterable[str] = ()) -> list[BlameFlag]:
    """Phrases in `text` that blame a person. `people` are known names (flagged with any fault
    verb); other capitalised words count only with clearly personal verbs; `systems` (service
    and team names) never count as people."""
    known = sorted({p for p in people if p}, key=len, reverse=True)
    system_names = {s.lower() for s in systems}
    names = "|".join([_MENTION, *(re.escape(p) for p in known)])
    patterns = [
        (rf"(?<!\w)(?P<who>{names})\s+(?:(?:has|had|just|accidentally|then)\s+)?(?:{_ANY_FAULT})\b", "did"),
        (rf"\b(?P<who>{_CAPITALISED})\s+(?:(?:has|had|just|accidentally|then)\s+)?(?:{_PERSONAL})\b",
         "did"),
        (rf"(?<!\w)(?P<who>{names}|{_CAPITALISED})(?:'s|’s)\s+(?:{_FAULT_NOUNS})\b", "fault"),
        (rf"\b(?:because of|thanks to|blame|blamed|fault of|caused by)\s+(?P<who>{names}|{_CAPITALISED})(?!\w)",
         "because"),
        (r"\b(?P<who>human error)\b", "human"),
    ]
    flags: dict[str, BlameFlag] = {}
    for pattern, kind in patterns:
        for match in re.finditer(pattern, text):
            who = match.group("who")
            if kind != "human" and (who in _STOP or who.lower() in system_names):
                continue
            phrase = _sentence_part(text, match.start(), match.end())
            flags.setdefault(phrase, BlameFlag(phrase=phrase, person=who, hint=HINTS[kind]))
    return list(flags.values())


def _sentence_part(text: str, start: int, end: int) -> str:
    """The matched words plus a little context, on one line."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    begin = max(0, start - line_start - 20)
    snippet = line[begin : end - line_start + 30].strip(" |")
    return re.sub(r"\s+", " ", snippet)
