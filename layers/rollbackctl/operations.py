"""What the operator commands read and decide (the CLI and the Slack buttons render it): history's filters, a
known-good by hand, the kill switch, a rollback asked for by hand, the status of everything rollbackctl guards, and
what will not work when it matters (lint). Read-only except ``mark_good`` and ``set_kill_switch``; from the CLI every
call is the operator's own (their IAM identity), never the controller's."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, get_args

from . import kinds, pipelines, targets
from .aws import AWS_ERRORS, Clients, error_code
from .kinds import Refusal
from .locks import rate_keys
from .model import Action, Incident, iso, parse_time, short_target, utcnow
from .store import Ledger
from .tags import MANAGED_TAG, MODE_TAG, PIPELINE_TAG, TAG_MODES, TARGET_TAG, effective_mode

AGE = re.compile(r"([0-9]{1,6})([mhd])")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}
ACTIONS = get_args(Action)


def since_time(value: str, now: datetime | None = None) -> datetime:
    """``30m``, ``12h``, ``7d`` ago, or an ISO 8601 time (a date alone is its midnight, UTC)."""
    age = AGE.fullmatch(value.strip())
    if age:
        return (now or utcnow()) - timedelta(**{UNITS[age.group(2)]: int(age.group(1))})
    try:
        return parse_time(value.strip() + ("T00:00:00Z" if re.fullmatch(r"\d{4}-\d\d-\d\d", value.strip()) else ""))
    except ValueError:
        raise ValueError(
            f"--since must be an ISO 8601 time or an age such as 30m, 12h, 7d; got {value[:60]!r}"
        ) from None


@dataclass(frozen=True)
class HistoryFilter:
    account: str | None = None
    region: str | None = None
    target: str | None = None
    since: datetime | None = None
    action: str | None = None

    @classmethod
    def of(
        cls,
        account: str | None,
        region: str | None,
        target: str | None,
        since: str | None,
        action: str | None,
    ) -> HistoryFilter:
        if action is not None and action not in ACTIONS:
            raise ValueError(f"--action must be one of {', '.join(ACTIONS)}; got {action[:60]!r}")
        return cls(account, region, target, since_time(since) if since is not None else None, action)

    @property
    def everything(self) -> bool:
        return self == HistoryFilter()

    def keeps(self, incident: Incident) -> bool:
        t = incident.trigger
        return (
            (self.account is None or t.account == self.account)
            and (self.region is None or t.region == self.region)
            and (self.target is None or self.target in (incident.target, short_target(incident.target)))
            and (self.since is None or parse_time(incident.started_at) >= self.since)
            and (self.action is None or (incident.action or "failed") == self.action)
        )


def mark_good(clients: Clients, ledger: Ledger, arn: str, version: str, by: str, reason: str) -> str:
    """Record ``version`` of the target ``arn`` as known-good by hand (day one, before any deployment was watched),
    with who and why; the same rules then use it. Refusal (nothing written) when the ARN is no kind's, the version
    is not one the target can go back to, it is not restorable, or an incident marked it bad. Returns the note."""
    target = kinds.parse(arn)
    if target is None:
        raise Refusal(f"{arn[:300]} is not {kinds.labels()}")
    kind = kinds.of(target)
    plan = kind.plan_to(clients, target, version)  # its own versions only, in its own words
    checked = kind.restorable(clients, plan)
    note = f"marked good by {by}: {' '.join(reason.split())[:500]}"
    if not ledger.record(target.arn, plan.to_version, "good", note):
        raise Refusal(
            f"{plan.to_version} of {target.name} is marked bad in the ledger (an incident rolled it back); a known-bad "
            "version is not made good by hand; nothing was changed"
        )
    return "; ".join((note, *checked.notes))


def set_kill_switch(ssm: Any, name: str, value: str, by: str, reason: str, now: datetime | None = None) -> str:
    """Set the kill switch ``name`` to ``value`` (``on`` or ``off``). The parameter's history keeps every value with
    its description, which is the record of who and why. Returns that description."""
    description = f"{value} by {by} at {iso(now or utcnow())}: {' '.join(reason.split())}"[:1024]
    ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Description=description)
    return description


@dataclass(frozen=True)
class ManualRollback:
    """What starts the workflow for a rollback asked for by hand: the execution's name and its input event (the
    ``rollbackctl`` / ``Manual Rollback`` event that triage reads, see events.ManualRollback)."""

    name: str
    event: dict[str, Any]

    @property
    def input(self) -> str:
        return json.dumps(self.event)


def manual_rollback(
    target: kinds.Target, to: str, force: bool, by: str, reason: str, name: str = "", now: datetime | None = None
) -> ManualRollback:
    """The workflow's input for a rollback of ``target`` asked for by ``by``, for ``reason`` (same rules as an
    alarm: known-good, restorable, the rate cap). ``name`` by default is new for each request."""
    at = iso(now or utcnow())
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Manual Rollback",
        "source": "rollbackctl",
        "account": target.account,
        "time": at,
        "region": target.region,
        "resources": [target.arn],
        "detail": {"target": target.arn, "to": to, "force": force, "by": by, "reason": reason.strip()},
    }
    return ManualRollback(name or "manual-" + hashlib.sha256(f"{target.arn}|{at}".encode()).hexdigest()[:24], event)


# --- status ---------------------------------------------------------------------------------------------------------


@dataclass
class Guarded:
    target: str
    kind: str
    name: str
    account: str
    region: str
    alarms: list[str] = field(default_factory=list)
    serving: str | None = None  # None: mid-change (a canary, a deployment), or not read
    known_good: str | None = None  # what a rollback now goes back to (the kind's own plan), else the ledger's
    rollback_now: str = ""  # what a rollback now would do: "to VERSION", or why it is refused
    mode: str = ""
    note: str = ""


@dataclass
class Status:
    where: str
    targets: list[Guarded]
    blocked: list[dict[str, Any]]  # pipeline, stage, incident_id, reason
    kill_switch: dict[str, str]  # value, set (who, when and why, as the parameter's description says)
    rate_cap: dict[str, dict[str, int]]  # account / global: used, cap, window_seconds
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _why(exc: Exception) -> str:
    return error_code(exc) or type(exc).__name__


def _alarms(clients: Clients) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in clients.cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    ):
        found += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
    return found


def _kill_switch(clients: Clients, name: str) -> dict[str, str]:
    try:
        value = str(clients.ssm.get_parameter(Name=name)["Parameter"]["Value"])
        history = clients.ssm.get_parameter_history(Name=name).get("Parameters", [])
    except AWS_ERRORS as exc:
        return {"value": f"unreadable ({_why(exc)}): counts as on", "set": ""}
    said = str((history[-1] if history else {}).get("Description", ""))
    # rollbackctl pause / resume describe each value as "VALUE by WHO at WHEN: WHY"; anything else is the stack's
    return {"value": value, "set": said if said.startswith(f"{value} by ") else "as deployed (never paused)"}


def _used(clients: Clients, table: str, key: str) -> int:
    item = clients.dynamodb.get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True).get("Item", {})
    return int(item.get("count", {}).get("N", "0"))


def _rate_cap(clients: Clients, settings: dict[str, str], table: str, account: str) -> dict[str, dict[str, int]]:
    window = int(settings.get("RATE_CAP_WINDOW_SECONDS") or 3600)
    account_key, global_key = rate_keys(window, account, utcnow())  # the ids Triage counts in (locks.rate_slots)
    caps = {"account": (account_key, int(settings.get("RATE_CAP_COUNT") or 0))}
    if settings.get("RATE_CAP_GLOBAL_COUNT"):
        caps["global"] = (global_key, int(settings["RATE_CAP_GLOBAL_COUNT"]))
    return {
        name: {"used": _used(clients, table, key), "cap": cap, "window_seconds": window}
        for name, (key, cap) in caps.items()
    }


def status(
    hub: Clients,
    clients: Clients,
    outputs: dict[str, str],
    settings: dict[str, str],
    account: str,
    region: str,
    live: bool = True,
) -> Status:
    """What rollbackctl guards in ``account`` and ``region``: every target an alarm guards or the ledger knows, with
    the alarms, the version serving, the known-good and the mode; the pipeline stages it blocked, the kill switch,
    the rate cap's use in the current window. ``hub`` reads the controller's own tables and kill switch (its region);
    ``clients`` read ``account`` and ``region``. ``live`` False (the caller's credentials are another account's): only
    what the hub itself records (the ledger, the rate cap, the hub's kill switch); the rest says it was not read."""
    notes: list[str] = []
    if not live:
        notes.append(
            f"alarms, serving versions and pipelines of account {account} in {region} were not read: your credentials "
            "are another account's (run status with credentials for that account to read them)"
        )
    ledger = Ledger(hub.dynamodb, outputs["LedgerTableName"])
    guarded: dict[str, Guarded] = {}
    alarm_tags: dict[str, list[dict[str, str]]] = {}

    def entry(arn: str) -> Guarded | None:
        target = kinds.parse(arn)
        if target is None or (target.account, target.region) != (account, region):
            return None
        return guarded.setdefault(arn, Guarded(arn, target.kind, target.name, target.account, target.region))

    for alarm in _alarms(clients) if live else []:
        try:
            arns, tags = targets.of_described_alarm(clients.cloudwatch, alarm, clients)
        except (targets.InvalidTarget, *AWS_ERRORS) as exc:
            notes.append(f"alarm {alarm['AlarmName']}: {str(exc)[:200] or _why(exc)} (rollbackctl lint explains it)")
            continue
        for arn in arns:
            found = entry(arn)
            if found is not None:
                found.alarms.append(str(alarm["AlarmName"]))
                alarm_tags.setdefault(arn, []).append(tags)
    for arn in ledger.targets():
        entry(arn)
    pipeline_refs: set[str] = set()
    for arn, found in sorted(guarded.items()):
        target = kinds.parse(arn)
        assert target is not None
        kind = kinds.of(target)
        own: dict[str, str] = {}
        try:
            if live:
                own = kind.tags(clients, target)
                found.serving = kind.serving(clients, target)
            else:
                found.note = "not read (another account)"
        except AWS_ERRORS as exc:
            found.note = f"not read ({_why(exc)})"
        if live:  # what a rollback now would do, by the same rules (read-only: a plan changes nothing)
            try:
                plan = kind.plan(clients, target, ledger)
                found.known_good, found.rollback_now = plan.to_version, f"to {plan.to_version}"
            except Refusal as refusal:
                found.rollback_now = f"refused: {str(refusal)[:300]}"
            except AWS_ERRORS as exc:
                found.rollback_now = f"not read ({_why(exc)})"
        if found.known_good is None:
            good = ledger.known_good(arn, found.serving or "")
            found.known_good = good.version if good else None
        found.mode, _ = effective_mode(settings.get("MODE", "enforce"), *alarm_tags.get(arn, []), own)
        ref = pipelines.from_tags(*(("alarm", t) for t in alarm_tags.get(arn, [])), ("target", own))
        if ref is not None:
            pipeline_refs.add(ref.name)
    blocked: list[dict[str, Any]] = []
    for name in sorted(pipeline_refs | set(_pipelines(clients, notes) if live else [])):
        try:
            stages = pipelines.blocked_stages(clients, name)
        except AWS_ERRORS as exc:
            notes.append(f"pipeline {name}: not read ({_why(exc)})")
            continue
        blocked += [{"pipeline": name, **stage} for stage in stages if stage.get("incident_id")]
    return Status(
        where=f"account {account}, {region}",
        targets=sorted(guarded.values(), key=lambda g: (g.kind, g.name)),
        blocked=blocked,
        kill_switch=_kill_switch(hub, settings.get("KILL_SWITCH_PARAMETER") or outputs["KillSwitchParameterName"]),
        rate_cap=_rate_cap(hub, settings, outputs["ClaimsTableName"], account),
        notes=notes,
    )


def _pipelines(clients: Clients, notes: list[str]) -> list[str]:
    try:
        pages = clients.codepipeline.get_paginator("list_pipelines").paginate()
        return [str(p["name"]) for page in pages for p in page.get("pipelines", [])]
    except AWS_ERRORS as exc:
        notes.append(f"pipelines: not listed ({_why(exc)})")
        return []


# --- lint -----------------------------------------------------------------------------------------------------------

TAGS = (TARGET_TAG, PIPELINE_TAG, MODE_TAG, MANAGED_TAG)


@dataclass(frozen=True)
class Finding:
    where: str  # "alarm NAME" or "target NAME"
    problem: str
    fix: str


def _pipeline_finding(clients: Clients, where: str, value: str, stages: dict[str, list[str] | None]) -> list[Finding]:
    name, _, stage = value.strip().partition("/")
    if name not in stages:
        try:
            found = clients.codepipeline.get_pipeline(name=name)["pipeline"]
            stages[name] = [str(s["name"]) for s in found.get("stages", [])]
        except AWS_ERRORS as exc:
            if error_code(exc) != "PipelineNotFoundException":
                raise
            stages[name] = None
    known = stages[name]
    if known is None:
        return [
            Finding(where, f"{PIPELINE_TAG}={value!r} names pipeline {name!r}, which does not exist", "fix the tag")
        ]
    if stage and stage not in known:
        return [
            Finding(
                where,
                f"{PIPELINE_TAG}={value!r}: pipeline {name} has no stage {stage!r} (its stages: {', '.join(known)})",
                "fix the tag's stage",
            )
        ]
    return []


def _tag_findings(
    clients: Clients, where: str, tags: dict[str, str], stages: dict[str, list[str] | None]
) -> list[Finding]:
    found: list[Finding] = []
    for key in sorted(tags):
        if key.lower().startswith("rollback:") and key not in TAGS:
            found.append(
                Finding(where, f"tag {key!r} is not a rollbackctl tag, so it does nothing", f"one of {', '.join(TAGS)}")
            )
    mode = tags.get(MODE_TAG)
    if mode is not None and mode not in TAG_MODES:
        found.append(
            Finding(
                where,
                f"{MODE_TAG}={mode!r} is not {', '.join(TAG_MODES)}: it is read as dry-run, so nothing is rolled back",
                "fix the tag's value",
            )
        )
    managed = tags.get(MANAGED_TAG)
    if managed is not None and managed.strip().lower() not in ("true", "false"):
        found.append(Finding(where, f"{MANAGED_TAG}={managed!r} is not true or false", "fix the tag's value"))
    if tags.get(PIPELINE_TAG, "").strip():
        found += _pipeline_finding(clients, where, tags[PIPELINE_TAG], stages)
    return found


def lint(clients: Clients, ledger: Ledger) -> list[Finding]:
    """What will not work when it matters, in the caller's account and region: an alarm whose rollback:target tag
    or dimensions point at a target that does not exist; a rollback:* tag (on an alarm or a target) that is no
    rollbackctl tag or whose value is not valid; a rollback:pipeline naming a pipeline or stage that does not exist;
    a guarded target whose known-good version is not restorable. Read-only."""
    findings: list[Finding] = []
    stages: dict[str, list[str] | None] = {}
    seen: set[str] = set()
    for alarm in _alarms(clients):
        where = f"alarm {alarm['AlarmName']}"
        try:
            arns, tags = targets.of_described_alarm(clients.cloudwatch, alarm, clients)
        except targets.InvalidTarget as exc:
            findings.append(Finding(where, str(exc)[:300], f"set {TARGET_TAG} to {kinds.labels()}"))
            continue
        findings += _tag_findings(clients, where, tags, stages)
        for arn in arns:
            target = kinds.parse(arn)
            assert target is not None
            kind = kinds.of(target)
            try:
                own = kind.tags(clients, target)
            except AWS_ERRORS as exc:
                if error_code(exc) not in kind.gone:
                    raise
                how = f"its {TARGET_TAG} tag" if TARGET_TAG in tags else "its metric's dimensions"
                findings.append(
                    Finding(
                        where,
                        f"{how} point at {target.name} ({arn}), which does not exist ({error_code(exc)}): it guards "
                        "nothing",
                        f"fix the alarm's dimensions or its {TARGET_TAG} tag",
                    )
                )
                continue
            if arn in seen:
                continue
            seen.add(arn)
            findings += _tag_findings(clients, f"target {target.name}", own, stages)
            findings += _unrestorable(clients, ledger, target, kind)
    return findings


def _unrestorable(clients: Clients, ledger: Ledger, target: kinds.Target, kind: kinds.TargetKind) -> list[Finding]:
    good = ledger.known_good(target.arn, kind.serving(clients, target) or "")
    if good is None:
        return []
    try:
        kind.restorable(clients, kind.plan_to(clients, target, good.version))
    except Refusal as refusal:
        return [
            Finding(
                f"target {target.name}",
                f"its known-good {good.version} is not restorable: {str(refusal)[:300]}",
                "mark a restorable version good (rollbackctl good), or bring the artifact back",
            )
        ]
    return []
