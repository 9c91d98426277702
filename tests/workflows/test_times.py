"""One rule for reading a time, wherever it is typed (workflows/times.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from workflows.errors import InvalidRequest
from workflows.times import parse_time


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-24T18:00", datetime(2026, 12, 24, 17, 0, tzinfo=UTC)),  # Berlin wall clock
    ("2026-12-24T18:00Z", datetime(2026, 12, 24, 18, 0, tzinfo=UTC)),
    ("2026-12-24T18:00+01:00", datetime(2026, 12, 24, 17, 0, tzinfo=UTC)),
    ("2026-12-24", datetime(2026, 12, 23, 23, 0, tzinfo=UTC)),  # the day's local midnight
    ("2026-07-01T09:00", datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),  # summer time
])
def test_a_time_without_an_offset_is_the_zones_wall_clock(text: str, expected: datetime) -> None:
    assert parse_time(text, zone="Europe/Berlin") == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "²³", "", "9999-12-31T23:59:59Z",
                                  "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"])
def test_what_cannot_be_read_or_is_out_of_range_is_a_clear_refusal(text: str) -> None:
    with pytest.raises(InvalidRequest, match="the start|between 1970 and 3000"):
        parse_time(text, zone="UTC", what="the start")


def test_the_api_and_the_csv_report_read_the_same_text_the_same_way() -> None:
    """They used to disagree: one refused a time without a zone, the other took it as UTC."""
    from bot import alert_payloads, calendars, oncall_commands, server, webhooks
    from workflows.incident import metrics

    for module in (alert_payloads, calendars, oncall_commands, server, webhooks, metrics):
        source = module.__file__ or ""
        assert "fromisoformat" not in Path(source).read_text(), source
