"""Reading a time someone wrote: one rule for every command, API, report and webhook.

ISO 8601: `2026-12-24T18:00`, with `Z` or an offset, or a date (`2026-12-24`, its midnight). A
time written without an offset is the wall clock in `zone` — the catalog's zone for the API, the
reports and the command line, a person's own zone for what they type in chat — never silently
UTC. Times outside 1970–3000 are refused: no one means them, and some break date arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from workflows.errors import InvalidRequest

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
EXAMPLE = "2026-12-24T18:00 (in the catalog's zone), 2026-12-24T18:00Z or 2026-12-24T18:00+01:00"


def parse_time(text: str, *, zone: ZoneInfo | str, what: str = "a time") -> datetime:
    """`text` as an aware UTC datetime; InvalidRequest naming `what` when it cannot be read."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"cannot read {what} {text[:40]!r}: write e.g. {EXAMPLE}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    return in_range(when, what=what)


def in_range(when: datetime, *, what: str = "a time") -> datetime:
    """`when` (aware) in UTC, if it lies between 1970 and 3000; else InvalidRequest."""
    wrong = InvalidRequest(f"{what} must lie between {EARLIEST.year} and {LATEST.year}")
    try:
        utc = when.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved across a time zone
        raise wrong from None
    if not EARLIEST <= utc < LATEST:
        raise wrong
    return utc
