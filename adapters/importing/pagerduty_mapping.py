"""What PagerDuty answered, mapped to the catalog: people, teams, services, schedules and
escalation policies, with a note wherever the mapping lost something.

Ids are handed out by name (then PagerDuty id), so the same account gives the same catalog
whatever order its pages came in. A Firebell team has one escalation policy: when a team's
services use several, the team keeps the one most of them use and the others are noted on their
services. A service or schedule without a team gets its escalation policy's team, else one made
for it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.importing.common import Ids, Imported, one_of_each, person_id_from_email
from adapters.importing.pagerduty_layers import map_layer

V2_KEYS = ("events_api_v2_inbound_integration",)


def map_account(raw: Raw, *, now: datetime) -> Imported:
    """The catalog of one PagerDuty account; overrides from `now` on."""
    return _Mapper(raw, now).imported


_WHY = {
    "event orchestrations": "Firebell routes alerts by the services' `match` labels",
    "rulesets": "Firebell routes alerts by the services' `match` labels",
    "business services": "Firebell has no business services; the status page shows services",
}


_KIND = {"people": "person", "teams": "team", "services": "service", "schedules": "schedule",
         "escalation_policies": "escalation policy"}


class Raw:
    """What PagerDuty answered, as read."""

    def __init__(self, *, users: list[dict[str, Any]], teams: list[dict[str, Any]],
                 services: list[dict[str, Any]], policies: list[dict[str, Any]],
                 schedules: list[dict[str, Any]]) -> None:
        self.users, self.teams, self.services = users, teams, services
        self.policies, self.schedules = policies, schedules
        self.overrides: dict[str, list[dict[str, Any]]] = {}
        self.extras: dict[str, int | None] = {}


class _Mapper:
    """One pass over what PagerDuty answered; `imported` is the result."""

    def __init__(self, raw: Raw, now: datetime) -> None:
        self.raw, self.now, self.ids = raw, now, Ids()
        self.out = Imported(source="PagerDuty", catalog={})
        self.notes: dict[tuple[str, str], list[str]] = {}  # (section, catalog id) -> comments
        self.team_ids: dict[str, str] = {}
        self.policy_ids: dict[str, str] = {}
        self.made_teams: dict[str, dict[str, Any]] = {}
        zones = Counter(s.get("time_zone") for s in raw.schedules if _zone(s.get("time_zone")))
        zones = zones or Counter(u.get("time_zone") for u in raw.users
                                 if _zone(u.get("time_zone")))
        self.zone = str(zones.most_common(1)[0][0]) if zones else "UTC"
        people = self._people()
        teams = {t["id"]: self._team(t) for t in _by_name(raw.teams)}
        self.schedule_cids = {s["id"]: self.ids.make("schedule", s.get("name") or s["id"],
                                                     fallback="schedule")
                              for s in _by_name(raw.schedules)}
        schedules = [s for s in (self._schedule(s) for s in _by_name(raw.schedules)) if s]
        policies = [p for p in (self._policy(p) for p in _by_name(raw.policies)) if p]
        services = [self._service(s) for s in _by_name(raw.services)]
        self._team_policies(teams, services)
        intake = [{"name": f"pagerduty-{s['id']}", "token": key}
                  for s in services for key in s.pop("_keys")]
        for service in services:
            service.pop("_policy")
        all_teams = [*teams.values(), *self.made_teams.values()]
        catalog: dict[str, Any] = {"timezone": self.zone}
        for section, items in (("people", people), ("teams", all_teams), ("services", services),
                               ("schedules", schedules), ("escalation_policies", policies)):
            catalog[section] = self._sorted(section, items)
        if intake:
            catalog["intake"] = {"integrations": sorted(intake, key=lambda i: (i["name"], i["token"]))}
            self.out.comment("intake", "PagerDuty integration keys: point the senders at "
                             "Firebell's /v2/enqueue and keep their keys (they are secrets: "
                             "keep this file private)")
        self.out.catalog = catalog
        self.out.counts = {k: len(v) for k, v in catalog.items() if isinstance(v, list)}
        self.out.counts["overrides"] = sum(len(s.get("overrides", [])) for s in schedules)
        for what, count in raw.extras.items():
            if count:
                self.out.unmapped.append(f"{what}: {count} not imported ({_WHY[what]})")
            elif count is None:
                self.out.check_by_hand.append(
                    f"{what}: could not be read with this API key; look in PagerDuty for any")

    @property
    def imported(self) -> Imported:
        return self.out

    def _note(self, section: str, item: str, text: str, *, check: bool = False) -> None:
        self.notes.setdefault((section, item), []).append(text)
        if check:
            self.out.check_by_hand.append(f"{_KIND[section]} {item}: {text}")

    def _sorted(self, section: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items = sorted(items, key=lambda i: i["id"])
        for index, item in enumerate(items):
            for text in self.notes.get((section, item["id"]), []):
                self.out.comment(f"{section}[{index}]", text)
            for j, layer in enumerate(item.get("layers", [])):
                for text in self.notes.get((f"{section}.layer", f"{item['id']}/{layer['name']}"),
                                           []):
                    self.out.comment(f"{section}[{index}].layers[{j}]", text)
        return items

    # People and teams -----------------------------------------------------------------------
    def _people(self) -> list[dict[str, Any]]:
        people = []
        for user in _by_name(self.raw.users):
            pid = person_id_from_email(user.get("email"), user.get("name") or user["id"],
                                       self.ids)
            self.out.person_ids[user["id"]] = pid
            person: dict[str, Any] = {"id": pid, "name": user.get("name") or pid}
            if user.get("email"):
                person["email"] = user["email"]
            phone = _phone(user.get("contact_methods") or [])
            if phone:
                person["phone"] = phone
            elif any(m.get("type") in _PHONES for m in user.get("contact_methods") or []):
                self._note("people", pid, "PagerDuty's phone number is not in international "
                           "form: add `phone` by hand", check=True)
            if _zone(user.get("time_zone")):
                person["timezone"] = user["time_zone"]
            people.append(person)
        return people

    def _team(self, team: dict[str, Any]) -> dict[str, Any]:
        tid = self.ids.make("team", team.get("name") or team["id"], fallback="team")
        self.team_ids[team["id"]] = tid
        return {"id": tid, "name": team.get("name") or tid}

    def _team_for(self, section: str, item: dict[str, Any], *, policy: str | None
                  ) -> str:
        """The catalog team of a service or schedule: its own, else its policy's, else one made
        for it (every service and schedule needs a team)."""
        for ref in item.get("teams") or []:
            if ref.get("id") in self.team_ids:
                return self.team_ids[ref["id"]]
        for p in self.raw.policies:
            if p["id"] == policy:
                for ref in p.get("teams") or []:
                    if ref.get("id") in self.team_ids:
                        return self.team_ids[ref["id"]]
        name = item.get("name") or item.get("summary") or item["id"]
        tid = self.ids.make("team", name, fallback="team")
        self.made_teams[tid] = {"id": tid, "name": name}
        self._note("teams", tid, f"made for the PagerDuty {section} {name!r}, which has no team")
        return tid

    def _team_policies(self, teams: dict[str, dict[str, Any]],
                       services: list[dict[str, Any]]) -> None:
        """A Firebell team has one escalation policy: the one most of its services use."""
        for team in [*teams.values(), *self.made_teams.values()]:
            used = Counter(s["_policy"] for s in services if s["team"] == team["id"] and
                           s["_policy"])
            if not used:  # no service: the policy PagerDuty gives the team, if any
                used = Counter(self.policy_ids[p["id"]] for p in self.raw.policies
                               if p["id"] in self.policy_ids and
                               any(self.team_ids.get(r.get("id")) == team["id"]
                                   for r in p.get("teams") or []))
            if not used:
                continue
            chosen = sorted(used.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            team["escalation_policy"] = chosen
            for s in services:
                if s["team"] == team["id"] and s["_policy"] and s["_policy"] != chosen:
                    self._note("services", s["id"], f"PagerDuty pages escalation policy "
                               f"{s['_policy']!r} for this service; Firebell pages the team's "
                               f"{chosen!r}", check=True)

    # Services -------------------------------------------------------------------------------
    def _service(self, service: dict[str, Any]) -> dict[str, Any]:
        sid = self.ids.make("service", service.get("name") or service["id"], fallback="service")
        policy_ref = (service.get("escalation_policy") or {}).get("id")
        item: dict[str, Any] = {"id": sid, "name": service.get("name") or sid,
                                "team": self._team_for("service", service, policy=policy_ref)}
        keys = []
        for integration in service.get("integrations") or []:
            key, kind = integration.get("integration_key"), integration.get("type", "")
            label = integration.get("name") or integration.get("summary") or kind
            if not key:
                self.out.unmapped.append(f"service {sid}: integration {label!r} ({kind}) has "
                                         "no integration key Firebell could take")
                continue
            if len(key) < 16:
                self._note("services", sid, f"integration {label!r}: its key is too short for "
                           "an intake token (16 characters at least)", check=True)
                continue
            keys.append(key)
            if kind not in V2_KEYS:
                self._note("services", sid, f"integration {label!r} ({kind}): Firebell takes "
                           "Events API v2 at /v2/enqueue; check the sender speaks it",
                           check=True)
        if keys:
            item["match"] = {"integration": f"pagerduty-{sid}"}
        else:
            self._note("services", sid, "no integration key: alerts reach it only with the "
                       f"label service={sid} (a PagerDuty event's payload.component)")
        if service.get("status") == "disabled":
            self._note("services", sid, "disabled in PagerDuty")
        urgency = (service.get("incident_urgency_rule") or {}).get("type")
        if urgency == "use_support_hours":
            self._note("services", sid, "PagerDuty's support-hours urgency is not imported: "
                       "Firebell's priority matrix decides", check=True)
        item["_keys"] = keys
        item["_policy"] = self.policy_ids.get(policy_ref or "")
        return item

    # Schedules ------------------------------------------------------------------------------
    def _schedule(self, schedule: dict[str, Any]) -> dict[str, Any] | None:
        cid = self.schedule_cids[schedule["id"]]
        zone = str(schedule["time_zone"]) if _zone(schedule.get("time_zone")) else self.zone
        policy = next((p["id"] for p in self.raw.policies for rule in p.get("escalation_rules")
                       or [] for t in rule.get("targets") or [] if t.get("id") == schedule["id"]),
                      None)
        item: dict[str, Any] = {"id": cid, "team": self._team_for("schedule", schedule,
                                                                    policy=policy),
                                "name": schedule.get("name") or cid, "timezone": zone}
        # PagerDuty lists the layers top first (the one that wins); the catalog bottom first.
        layers: list[dict[str, Any]] = []
        for number, raw in enumerate(reversed(schedule.get("schedule_layers") or []), start=1):
            members, missing = [], []
            for entry in raw.get("users") or []:
                user = entry.get("user") or {}
                if user.get("id") in self.out.person_ids:
                    members.append(self.out.person_ids[user["id"]])
                else:
                    missing.append(user.get("summary") or user.get("id") or "?")
            mapped = map_layer(raw, name=str(raw.get("name") or f"Layer {number}"), zone=zone,
                               members=members, now=self.now)
            if missing:
                mapped.notes.append(f"members PagerDuty did not list as users left out: "
                                    f"{', '.join(missing)}")
                mapped.check = True
            if mapped.layer is None:
                self.out.unmapped.append(f"schedule {cid} layer {raw.get('name')!r}: "
                                         f"{'; '.join(mapped.notes)}")
                continue
            mapped.layer["name"] = _unique(mapped.layer["name"], [x["name"] for x in layers])
            layers.append(mapped.layer)
            for text in mapped.notes:
                self._note("schedules.layer", f"{cid}/{mapped.layer['name']}", text)
                if mapped.check:
                    self.out.check_by_hand.append(
                        f"schedule {cid} layer {mapped.layer['name']!r}: {text}")
        if not layers:
            self.out.unmapped.append(f"schedule {cid}: no layer could be imported")
            return None
        item["layers"] = layers
        overrides = self._overrides(schedule["id"], cid, ZoneInfo(zone))
        if overrides:
            item["overrides"] = overrides
        self.out.schedule_ids[schedule["id"]] = cid
        return item

    def _overrides(self, source_id: str, cid: str, tz: ZoneInfo) -> list[dict[str, Any]]:
        found = []
        for o in self.raw.overrides.get(source_id, []):
            user = o.get("user") or {}
            start, end = _time(o["start"]), _time(o["end"])
            if end <= self.now:
                continue
            if user.get("id") not in self.out.person_ids:
                self._note("schedules", cid, f"override {o['start']}..{o['end']} for "
                           f"{user.get('summary') or user.get('id')!r} left out: not a user",
                           check=True)
                continue
            found.append({"person": self.out.person_ids[user["id"]],
                          "start": start.astimezone(tz).isoformat(),
                          "end": end.astimezone(tz).isoformat()})
        return sorted(found, key=lambda o: (_time(o["start"]), o["person"]))

    # Escalation policies --------------------------------------------------------------------
    def _policy(self, policy: dict[str, Any]) -> dict[str, Any] | None:
        pid = self.ids.make("policy", policy.get("name") or policy["id"], fallback="policy")
        steps = []
        for number, rule in enumerate(policy.get("escalation_rules") or [], start=1):
            notify = []
            for target in rule.get("targets") or []:
                kind, tid = target.get("type", ""), target.get("id")
                if kind in ("user_reference", "user") and tid in self.out.person_ids:
                    notify.append(f"person:{self.out.person_ids[tid]}")
                elif kind in ("schedule_reference", "schedule") and tid in self.out.schedule_ids:
                    notify.append(f"schedule:{self.out.schedule_ids[tid]}")
                else:
                    self.out.unmapped.append(f"escalation policy {pid} rule {number}: target "
                                             f"{target.get('summary') or tid!r} ({kind}) skipped")
            if not notify:
                self._note("escalation_policies", pid, f"rule {number} has no target Firebell "
                           "can page: left out", check=True)
                continue
            steps.append({"notify": list(one_of_each(notify)),
                          "ack_timeout": f"{int(rule.get('escalation_delay_in_minutes') or 30)}m"})
            if (rule.get("escalation_rule_assignment_strategy") or {}).get("type") == "round_robin":
                self._note("escalation_policies", pid, f"rule {number} assigns round robin in "
                           "PagerDuty; Firebell pages every target", check=True)
        if not steps:
            self.out.unmapped.append(f"escalation policy {pid}: no rule with a target Firebell "
                                     "can page")
            return None
        self.policy_ids[policy["id"]] = pid
        return {"id": pid, "name": policy.get("name") or pid,
                "repeat": int(policy.get("num_loops") or 0), "steps": steps}


_PHONES = ("phone_contact_method", "sms_contact_method")


def _phone(methods: list[dict[str, Any]]) -> str | None:
    """The first voice number, else the first SMS one, as E.164 (+<country code><address>)."""
    for kind in _PHONES:
        for method in methods:
            if method.get("type") == kind and method.get("address"):
                digits = "".join(c for c in str(method["address"]) if c.isdigit())
                number = f"+{method.get('country_code') or ''}{digits}"
                if 8 <= len(number) <= 16 and number[1] != "0":
                    return number
    return None


def _by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Ids are handed out in this order: by name, then PagerDuty id, whatever order pages came in.
    return sorted(items, key=lambda i: (str(i.get("name") or i.get("summary") or ""), i["id"]))


def _unique(name: str, taken: list[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} {n}"
    return candidate


def _zone(name: Any) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
