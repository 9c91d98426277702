"""`firebell import pagerduty|grafana-oncall`: move in from another on-call tool.

Without `--compare`: read the source (read-only), write a complete catalog (never over an
existing file without `--force`), check it as `firebell config check` would, and print what
was imported, what could not be and why, and what to check by hand.

With `--compare`: read the catalog at `--output` (as imported, or as edited since), ask the
source who is on call from now for `--days`, and list every stretch where Firebell's own
computation names someone else. Exit status 1 when there is a difference.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.catalog_writer import catalog_yaml
from bot.settings import Settings
from workflows.catalog.imported import Imported, ImportSource
from workflows.catalog.load import load_catalog, parse_catalog
from workflows.catalog.model import Catalog, CatalogError
from workflows.errors import FirebellError
from workflows.oncall.compare import Difference, ScheduleComparison, compare_schedule
from workflows.times import parse_time

SOURCES = ("pagerduty", "grafana-oncall")


def add_import_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """`firebell import <source> ...` on the command line's subcommands."""
    move = command(sub, "import", help="read people, schedules, policies and services from "
                   "PagerDuty or Grafana OnCall into a catalog file",
                   description="Read people, teams, services, schedules (layers, restrictions, "
                   "overrides) and escalation policies from PagerDuty (PAGERDUTY_API_TOKEN) or "
                   "Grafana OnCall (GRAFANA_ONCALL_API_URL, GRAFANA_ONCALL_API_TOKEN), "
                   "read-only, into a catalog file; --compare checks who is on call against "
                   "the source, shift by shift.")
    move.add_argument("source", choices=SOURCES)
    move.add_argument("--output", default=None,
                      help="the catalog file to write (default: FIREBELL_CONFIG)")
    move.add_argument("--force", action="store_true", help="overwrite an existing file")
    move.add_argument("--compare", action="store_true",
                      help="compare who is on call, per the file and per the source; write nothing")
    move.add_argument("--days", type=int, default=14,
                      help="how far ahead --compare looks (default: 14)")
    move.add_argument("--now", default=None,
                      help="ISO time the import and comparison start at (default: now; "
                      "without a zone, UTC)")


def run_import(settings: Settings, args: argparse.Namespace,
               open_source: Callable[[Settings, str], AbstractContextManager[ImportSource]]
               ) -> int:
    """`open_source(settings, name)` gives the source to read (app.py wires the adapters)."""
    from bot.cli import UsageError

    path = Path(args.output or settings.firebell_config)
    try:
        now = parse_time(args.now, zone="UTC") if args.now else datetime.now(UTC)
    except FirebellError as error:
        raise UsageError(f"import: --now: {error}") from None
    if args.days < 1:
        raise UsageError(f"import: --days must be at least 1 (got {args.days})")
    command = f"firebell import {args.source}"
    if args.compare:
        catalog = load_catalog(path)  # a missing or broken file: its own one-line error
        with open_source(settings, args.source) as source:
            imported = source.fetch(now=now)
            end = now + timedelta(days=args.days)
            said = source.final_shifts(imported, start=now, end=end)
        return _print_comparison(catalog, imported, said, start=now, end=end, path=path)
    if path.exists() and not args.force:
        raise FirebellError(f"{path} exists: give --force to overwrite it, or --output another "
                            "file")
    with open_source(settings, args.source) as source:
        imported = source.fetch(now=now)
    text = catalog_yaml(imported, command=command)
    path.write_text(text, encoding="utf-8")
    problems: list[str] = []
    try:
        parse_catalog(text, source=str(path))
    except CatalogError as error:
        problems = error.problems
    print(_report(imported, path=path, problems=problems, command=command))
    if problems:
        raise FirebellError(f"{len(problems)} problem(s) in {path} (listed above): please report "
                            "them, they are the importer's mistakes; fix them by hand meanwhile")
    return 0


def _report(imported: Imported, *, path: Path, problems: list[str], command: str) -> str:
    counts = ", ".join(f"{n} {what.replace('_', ' ')}"
                       for what, n in imported.counts.items()) or "nothing"
    lines = [f"Imported from {imported.source}: {counts}.",
             f"Wrote {path}" + (": `firebell config check` finds no problem." if not problems
                                else f": {len(problems)} problem(s):")]
    lines += [f"  {p}" for p in problems]
    if imported.unmapped:
        lines.append(f"Not imported ({len(imported.unmapped)}):")
        lines += [f"  - {item}" for item in imported.unmapped]
    if imported.check_by_hand:
        lines.append(f"Check by hand ({len(imported.check_by_hand)}; comments in the file mark "
                     "the places):")
        lines += [f"  - {item}" for item in imported.check_by_hand]
    services = imported.catalog.get("services") or []
    lines.append("Next:")
    lines.append(f"  firebell config check {path}")
    if services:
        lines.append(f"  FIREBELL_CONFIG={path} firebell simulate --service {services[0]['id']} "
                     "--priority P1   # who would be paged, sends nothing")
    lines.append(f"  {command} --compare --output {path}   # who is on call, shift by shift "
                 f"against {imported.source}")
    return "\n".join(lines)


def _print_comparison(catalog: Catalog, imported: Imported, said: list[Any], *, start: datetime,
                      end: datetime, path: Path) -> int:
    known = {s.id for s in catalog.schedules}
    compared: list[ScheduleComparison] = []
    missing: list[str] = []
    for catalog_id in sorted(set(imported.schedule_ids.values())):
        if catalog_id not in known:
            missing.append(catalog_id)
            continue
        compared.append(compare_schedule(catalog, schedule=catalog_id, source=said,
                                         start=start, end=end))
    zone = ZoneInfo(catalog.timezone)
    print(f"Who is on call from {_at(start, zone)} to {_at(end, zone)} ({catalog.timezone}), "
          f"per {path} and per {imported.source}, shift by shift:")
    differences = 0
    for result in compared:
        differences += len(result.differences)
        head = (f"{result.schedule}: {result.shifts} shift(s) at {imported.source}, "
                f"{result.agreeing} agree")
        print(head + ("" if result.differences else ", no difference"))
        schedule_zone = ZoneInfo(catalog.schedule_zone(result.schedule))
        for difference in result.differences:
            print("  " + _difference(difference, catalog, schedule_zone, imported.source))
    for catalog_id in missing:
        print(f"{catalog_id}: not in {path} (removed or renamed since the import?): not compared")
    if differences or missing:
        raise FirebellError(f"{differences} difference(s) and {len(missing)} schedule(s) not "
                            "compared (listed above)")
    print(f"No difference: Firebell pages the same people as {imported.source}.")
    return 0


def _difference(d: Difference, catalog: Catalog, zone: ZoneInfo, source: str) -> str:
    def who(ids: tuple[str, ...]) -> str:
        if not ids:
            return "nobody"
        names = []
        for person in ids:
            try:
                name = catalog.person(person).name
                names.append(person if name == person else f"{name} ({person})")
            except LookupError:
                names.append(person)
        return ", ".join(names)

    return (f"{_at(d.start, zone)} – {_at(d.end, zone)}: {source} says {who(d.source)}; "
            f"Firebell says {who(d.firebell)}")


def _at(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
