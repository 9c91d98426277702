"""`firebell test-page @person [channel] [--wait SECONDS]`: a harmless test notification through
each of a person's channels (workflows/paging/test_page.py), one line per channel: sent, failed
(with the reason) or not configured (why); with --wait, which the person acknowledged.

The acknowledgements come back to `firebell serve` (an SMS reply, a key pressed, a chat or
Telegram button) and are read here from the database both share.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, TextIO

from workflows.context import Context
from workflows.paging.test_page import (
    HOW_TO_ACK,
    Outcome,
    acknowledged_channels,
    end_test_page,
    personal_channels,
    send_test_page,
)

POLL_SECONDS = 0.5


def add_test_page_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """`firebell test-page ...` on the command line's subcommands."""
    test = command(sub, "test-page", help="send a person a test page through each of their "
                   "channels (not an incident) and report what arrived",
                   description="Send a harmless test notification, marked TEST, through each of "
                   "the person's channels (or the one named), through the real pagers: nobody "
                   "else is paged, nothing escalates, it is not counted in reports. One line per "
                   "channel: sent, failed (why) or not configured (why). With --wait, the "
                   "person acknowledges (SMS: reply 1; voice: press 1; chat and Telegram: the "
                   "Acknowledge button) and `firebell serve` must be running to receive it.")
    test.add_argument("person", help="the person's catalog id, e.g. @alice")
    test.add_argument("channel", nargs="?", choices=personal_channels(),
                      help="only this channel (default: every channel the person has)")
    test.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                      help="wait this long for the acknowledgements (default 0: do not wait)")


def run_test_page(ctx: Context, args: argparse.Namespace, *, out: TextIO) -> int:
    """Exit status 0 when every channel tried was sent, 1 when one failed or none was sent."""
    from bot.cli import UsageError

    if args.wait < 0:
        raise UsageError(f"test-page: --wait must be 0 or more (got {args.wait:g})")
    test = send_test_page(ctx, person=args.person.lstrip("@"), channel=args.channel)
    assert test.incident.id is not None
    print(f"Test page {test.incident.ref} for {test.person.name} ({test.person.id}): marked "
          "TEST, not an incident; nobody else is paged and nothing escalates.", file=out)
    width = max(len(c.channel) for c in test.channels)
    for result in test.channels:
        detail = f": {result.detail}" if result.detail else ""
        print(f"  {result.channel:<{width}}  {result.outcome.value}{detail}", file=out)
    sent = [c.channel for c in test.channels if c.outcome == Outcome.SENT]
    waited_for = [c for c in sent if c in HOW_TO_ACK]
    try:
        if args.wait and waited_for:
            print(f"Waiting up to {args.wait:g} s for {test.person.name} to acknowledge "
                  f"({', '.join(waited_for)}) ...", file=out, flush=True)
            acked = _wait(ctx, test.incident.id, set(waited_for), seconds=args.wait)
            for channel in sent:
                if channel not in HOW_TO_ACK:
                    state = f"cannot be acknowledged by {channel}"
                else:
                    state = ("acknowledged" if channel in acked
                             else f"not acknowledged within {args.wait:g} s")
                print(f"  {channel:<{width}}  {state}", file=out)
        elif sent:
            print("Not waiting for acknowledgements (give --wait 120 to check them too; "
                  "`firebell serve` receives them).", file=out)
    finally:
        end_test_page(ctx, incident_id=test.incident.id)
    failed = [c for c in test.channels if c.outcome == Outcome.FAILED]
    return 1 if failed or not sent else 0


def _wait(ctx: Context, incident_id: int, channels: set[str], *, seconds: float) -> set[str]:
    deadline = time.monotonic() + seconds
    acked = acknowledged_channels(ctx, incident_id=incident_id)
    while not channels <= acked and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        acked = acknowledged_channels(ctx, incident_id=incident_id)
    return acked
