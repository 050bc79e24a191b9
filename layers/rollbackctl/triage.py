"""Where the decision is made: act, ignore, dry-run or refuse, always with a reason.

Triage reads AWS but never changes it. Its output (an Incident with a Plan when the decision is "act")
is what the restore step executes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import accounts, events, kinds, pipelines, targets
from .aws import AWS_ERRORS, Clients, error_code
from .claims import Claim, Claims, trigger_claim
from .config import Settings
from .controls import read_kill_switch_safely
from .custody import Custody, ForgedInput
from .kinds import AlreadyGoingBack, Refusal, Target, TargetKind
from .locks import Holder, Locks, write_together
from .model import Incident, PipelineRef, Plan, Trigger, incident_id_for, iso, parse_time, short_version, utcnow
from .store import IncidentStore, Ledger
from .tags import MANAGED_TAG, effective_mode, enrolled


def describe_plan(plan: Plan) -> str:
    return kinds.of(plan.kind).describe(plan)


def _ignore(incident: Incident, reason: str) -> Incident:
    incident.decision = "ignore"
    incident.conclude("ignored", reason)
    return incident


def _refuse(incident: Incident, reason: str) -> Incident:
    incident.decision = "refuse"
    incident.conclude("refused", reason)
    return incident


def _duplicate(incident: Incident, holder: Holder, what: str, joins: IncidentStore | None = None) -> Incident:
    """Already handled. A different trigger for the same deployment (``joins``) joins the holder's incident."""
    incident.decision = "duplicate"
    incident.reason = f"duplicate: {what} is already handled by incident {holder.incident_id} ({holder.owner})"
    if joins is not None and holder.incident_id.startswith("inc-"):
        joins.join(holder.incident_id, incident.trigger)
    return incident


def _judge_by_history(
    signal: events.Signal,
    incident: Incident,
    named: Target,
    clients: Clients,
    ledger: Ledger,
    settings: Settings,
    now: Callable[[], datetime],
    incidents: IncidentStore,
) -> Incident | None:
    """What the target's history says: part of an incident already handled, a restored version alarming
    again (no loops), an alarm older than the deployment, or a deployment past the watch window."""
    trigger, target = incident.trigger, named.arn
    last = ledger.last_restore(target)
    if last is not None and parse_time(trigger.time) <= parse_time(last.restored_at):
        # Fired before rollbackctl put the target back: part of the incident already handled.
        return _duplicate(
            incident,
            Holder("an earlier execution", last.incident_id),
            f"{trigger.kind} {trigger.name} (it fired before {target} was restored at {last.restored_at})",
            incidents,
        )
    if last is not None and kinds.of(named).serving(clients, named) == last.version:
        return _refuse(
            incident,
            f"{target} still serves version {short_version(last.version)}, which incident "
            f"{last.incident_id} restored at {last.restored_at}, and it alarms again: the "
            "deployment is not the suspect, so rollbackctl pages a human instead of rolling "
            "back again (no loops)",
        )
    deployment = ledger.latest_deployment(target)
    if isinstance(signal, events.AlarmChange) and deployment is not None:
        began = f"the deployment of {short_version(deployment.version)} began at {deployment.started_at}"
        if parse_time(trigger.time) < parse_time(deployment.started_at):
            return _ignore(
                incident,
                f"alarm {signal.name} went to ALARM at {trigger.time}, before {began}: an alarm "
                "that was already red neither blocks the deployment nor reverts it",
            )
        age = (now() - parse_time(deployment.started_at)).total_seconds()
        if age > settings.watch_window_seconds:
            return _refuse(
                incident,
                f"{began} on {target}, {int(age)} s ago, past the {settings.watch_window_seconds}"
                " s watch window: the deployment is not the suspect any more, so rollbackctl "
                "pages a human instead of rolling back",
            )
    return None


def triage(
    event: Any,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    claims: Claims,
    owner: str,
    now: Callable[[], datetime] = utcnow,
) -> Incident:
    """Decide, then seal the decision for this execution (custody): the later steps act only on what is sealed.
    The seal, the claims on the trigger and the deployment, and for a decision to act the rate cap's slots and the
    target's lock are one DynamoDB transaction (``_commit``); a duplicate is not sealed (it ends there)."""
    pending = _Pending(claims)
    incident = _decide(event, clients, settings, read_kill_switch, pending, owner, now)
    if incident.decision not in ("act", "duplicate"):
        incident = _commit(incident, pending, clients, settings)
    return incident


@dataclass
class _Pending:
    """What triage will write with its decision: the claims it makes on the way (the deployment's; the trigger's
    was written first, alone)."""

    store: Claims
    claims: list[Claim] = field(default_factory=list)


def _commit(
    incident: Incident,
    pending: _Pending,
    clients: Clients,
    settings: Settings,
    acting: Sequence[dict[str, Any]] = (),
) -> Incident:
    """Write the decision: the claims, ``acting`` (the rate cap's slots and the target's lock, for a decision to
    act), then the seal, in one transaction. A claim someone else holds makes the incident a duplicate (nothing
    written). Returns the incident (or the duplicate); the caller maps a failed ``acting`` item itself."""
    custody = Custody(clients.dynamodb, settings.claims_table)
    claims = [pending.store.put(c, incident.owner, incident.incident_id) for c in pending.claims]
    codes = write_together(clients.dynamodb, [*claims, *acting, custody.seal_put(incident)])
    if codes is None:
        return incident
    failed = next((i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"), None)
    if failed is None:
        raise RuntimeError(f"the decision could not be written (DynamoDB cancelled it: {', '.join(codes)})")
    if failed < len(claims):
        claim = pending.claims[failed]
        incidents = IncidentStore(clients.dynamodb, settings.incident_table) if claim.joins else None
        return _duplicate(incident, pending.store.holder(claim), claim.what, incidents)
    if failed == len(codes) - 1:
        raise ForgedInput(f"incident {incident.incident_id} is sealed by another execution")
    raise _ActingRefused(failed - len(claims))


class _ActingRefused(Exception):
    """Which of the acting items of the transaction failed its condition (a full rate cap, a held lock)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _decide(
    event: Any,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    pending: _Pending,
    owner: str,
    now: Callable[[], datetime],
) -> Incident:
    started = now()
    try:
        signal = events.parse(event)
    except events.InvalidEvent as exc:
        raw_id = event.get("id") if isinstance(event, dict) else None
        event_id = raw_id[:128] if isinstance(raw_id, str) else ""
        trigger = Trigger(
            kind="unknown",
            name=events.describe(event)[:300],
            id=event_id,
            state="",
            time=iso(started),
            event_id=event_id,
        )
        incident = Incident(incident_id_for(trigger, started), trigger, iso(started), owner=owner)
        return _ignore(incident, f"malformed or unsupported event, nothing changed: {exc}")

    trigger = signal.trigger()
    incident = Incident(incident_id_for(trigger, started), trigger, iso(started), owner=owner)
    account, region = accounts.where(trigger.account, trigger.region, settings)
    outsider = accounts.not_member(account, settings)
    if outsider:
        return _ignore(incident, outsider)
    fired = trigger_claim(trigger)
    # First, in one conditional write: a redelivery, or the same transition under a new event id, stops here.
    holder = pending.store.claim(fired, owner, incident.incident_id)
    if holder is not None:
        return _duplicate(incident, holder, fired.what)
    try:
        clients = accounts.acting_in(clients, settings, account, region, incident.incident_id)
    except AWS_ERRORS as exc:
        return _refuse(
            incident,
            f"rollbackctl cannot act in {accounts.describe(account, region)}: assuming its {accounts.TARGET_ROLE_NAME} "
            f"role failed ({error_code(exc) or type(exc).__name__}); is member/template.yaml deployed there? "
            "Nothing was changed",
        )
    found = targets.resolve_signal(signal, clients)
    if isinstance(found, targets.Concluded):
        if isinstance(signal, events.PipelineFailure):
            incident.pipeline = PipelineRef(signal.pipeline, signal.stage or None, "the event")
        return (_ignore if found.action == "ignore" else _refuse)(incident, found.reason)
    target, kind = found.target, kinds.of(found.target)
    away = accounts.elsewhere(target.account, target.region, account, region)
    if away:
        return _ignore(incident, f"{trigger.kind} {trigger.name} names {target.arn}: {away}")
    incident.target = target.arn
    if not isinstance(signal, events.ManualRollback):  # (a rollback asked for by hand is refused by the lock)
        holder = Locks(clients.dynamodb, settings.claims_table).lock_holder(target.arn, owner)
        if holder is not None:  # an incident is in progress on this target: this alarm is part of it
            incidents = IncidentStore(clients.dynamodb, settings.incident_table)
            return _duplicate(incident, holder, f"{trigger.kind} {trigger.name} on {target.arn}", incidents)
    try:
        tags = kind.tags(clients, target)
    except AWS_ERRORS as exc:
        if error_code(exc) in kind.gone:
            return _refuse(incident, f"{trigger.kind} {trigger.name} points at {target.arn}, which does not exist")
        raise
    if settings.target_opt_in == "tag" and not enrolled(tags):
        # Only the target's own tag enrols it: whoever may tag an alarm must not move traffic they could not.
        return _ignore(
            incident,
            f"{target.arn} is not enrolled: the stack runs with TargetOptIn=tag and the target itself does not "
            f"carry the tag {MANAGED_TAG}=true (an alarm's tags cannot enrol a target); nothing was changed",
        )
    mode, mode_source = effective_mode(settings.mode, found.alarm_tags, tags)
    incident.mode = mode
    if mode == "off":
        return _ignore(incident, f"rollback is off for {target.arn} ({mode_source})")
    incident.pipeline = pipelines.from_tags(("alarm", found.alarm_tags), ("target", tags))

    ledger = Ledger(clients.dynamodb, settings.ledger_table, snapshot=True)  # one read of the target's rows
    if isinstance(signal, events.ManualRollback):
        try:
            plan = _plan_manual(signal, target, incident.pipeline, clients, ledger)
            incident.plan, incident.from_version, incident.to_version = plan, plan.from_version, plan.to_version
            unenrolled = _goes_back_through(incident, plan, clients, settings)
            if unenrolled:
                return _ignore(incident, unenrolled)
            _restorable(incident, plan, clients)
        except Refusal as exc:
            return _refuse(incident, str(exc))
        forced = " (--force: the known-good rule was overridden)" if signal.force and signal.to_version else ""
        asked = f"rollback asked for by {signal.by} ({signal.why}){forced}"
        return _guard_and_act(incident, plan, asked, mode, mode_source, read_kill_switch, settings, clients, pending)
    asked = f"{trigger.kind} {trigger.name} fired"
    if isinstance(signal, events.BadArtifactDeployed):
        concluded, asked = _bad_artifact(signal, incident, target, kind, clients, ledger, settings)
        if concluded is not None:
            return concluded
    incidents = IncidentStore(clients.dynamodb, settings.incident_table)
    judged = _judge_by_history(signal, incident, target, clients, ledger, settings, now, incidents)
    if judged is not None:
        return judged
    try:
        plan = _plan(kind, target, incident, clients, ledger)
    except AlreadyGoingBack as exc:  # recorded, never fought
        return _ignore(incident, str(exc))
    except Refusal as exc:
        return _refuse(incident, str(exc))
    incident.plan, incident.from_version, incident.to_version = plan, plan.from_version, plan.to_version
    unenrolled = _goes_back_through(incident, plan, clients, settings)
    if unenrolled:
        return _ignore(incident, unenrolled)
    pending.claims.append(
        Claim(
            f"deployment#{plan.target}#{plan.from_version}",
            f"the deployment of {plan.from_version} on {target.arn}",
            joins=True,
        )
    )
    try:
        _restorable(incident, plan, clients)
    except Refusal as exc:
        return _refuse(incident, str(exc))
    return _guard_and_act(incident, plan, asked, mode, mode_source, read_kill_switch, settings, clients, pending)


def _bad_artifact(
    signal: events.BadArtifactDeployed,
    incident: Incident,
    target: Target,
    kind: TargetKind,
    clients: Clients,
    ledger: Ledger,
    settings: Settings,
) -> tuple[Incident | None, str]:
    """A deployment of an artifact an incident marked bad (Track's claim, checked again here: the ledger's mark, and
    what the version is made of). BadArtifactPolicy: page (refused, so on-call is told), roll-back (the same rules
    as an alarm: returns what asked for it), off."""
    marked = ledger.bad_artifact(signal.artifact)
    if marked is None:
        return _ignore(incident, f"{signal.artifact} is not marked bad in the ledger; nothing was changed"), ""
    try:
        made_of = kind.artifacts(clients, target, signal.version)
    except AWS_ERRORS as exc:
        why = error_code(exc) or type(exc).__name__
        return _refuse(incident, f"what {signal.version} of {target.arn} is made of could not be read ({why})"), ""
    if signal.artifact not in made_of:
        return _ignore(
            incident, f"{signal.version} of {target.arn} is not made of {signal.artifact} (read again); nothing changed"
        ), ""
    said = (
        f"{target.arn} started a deployment of {short_version(signal.version)}, made of {signal.artifact}, which "
        f"incident {marked.incident_id} marked bad when it rolled {marked.target} back from "
        f"{short_version(marked.version)} ({marked.recorded_at})"
    )
    if settings.bad_artifact_policy == "off":
        return _ignore(incident, f"{said}; BadArtifactPolicy=off"), ""
    if settings.bad_artifact_policy == "page":
        return _refuse(incident, f"{said}: BadArtifactPolicy=page, so on-call is told and nothing was changed"), ""
    return None, f"{said} (BadArtifactPolicy=roll-back)"


def _plan(kind: TargetKind, target: Target, incident: Incident, clients: Clients, ledger: Ledger) -> Plan:
    """The kind's own way back; for a kind that has none, the pipeline stage that ships the target (the registry's
    rule, which also rolls a pipeline target back through the stage its rollback:pipeline names)."""
    return kinds.plan(clients, target, ledger, incident.pipeline)


def _goes_back_through(incident: Incident, plan: Plan, clients: Clients, settings: Settings) -> str:
    """A plan that changes something other than the target (the stage of the pipeline that ships it): Contain
    blocks that stage, and with TargetOptIn=tag that pipeline must be enrolled by its own tag as well. Returns why
    not, or ''."""
    shipped = kinds.pipeline_of(plan)
    if shipped is not None:
        if incident.pipeline is None:
            incident.pipeline = shipped
        elif incident.pipeline.name == shipped.name and not incident.pipeline.stage:
            incident.pipeline.stage = shipped.stage
    if plan.target == incident.target:
        return ""
    changed, named = kinds.parse(plan.target), kinds.parse(incident.target or "")
    if changed is None or named is None:
        return f"{plan.target}, which would go back for {incident.target}, is not a target rollbackctl knows"
    away = accounts.elsewhere(changed.account, changed.region, named.account, named.region)
    if away:
        return f"{plan.target} would go back for {incident.target}: {away}"
    if settings.target_opt_in != "tag":
        return ""
    if changed is not None and enrolled(kinds.of(changed).tags(clients, changed)):
        return ""
    return (
        f"{plan.target}, which would go back for {incident.target}, is not enrolled: the stack runs with "
        f"TargetOptIn=tag and it does not carry the tag {MANAGED_TAG}=true itself; nothing was changed"
    )


def _restorable(incident: Incident, plan: Plan, clients: Clients) -> None:
    """Restorable first: the known-good can still be deployed, checked before anything changes (Refusal if not);
    what the kind could not check is written down."""
    checked = kinds.of(plan.kind).restorable(clients, plan)
    for note in checked.notes:
        incident.record_step("check restorable", "skipped", note)


def _guard_and_act(
    incident: Incident,
    plan: Plan,
    asked: str,
    mode: str,
    mode_source: str,
    read_kill_switch: Callable[[], str],
    settings: Settings,
    clients: Clients,
    pending: _Pending,
) -> Incident:
    """The last guards, the same for an alarm, a deployment event and a rollback asked for by hand: the kill
    switch, dry run, then the rate cap and the target's lock, taken in the one transaction that seals the
    decision with its claims and writes the record of what is about to change."""
    kill_on, kill_why = read_kill_switch_safely(read_kill_switch, accounts.member_kill_switch(clients))
    if kill_on:
        return _refuse(incident, f"{kill_why}: no change made; would have had to {describe_plan(plan)}")
    if mode == "dry-run":
        incident.decision = "dry_run"
        incident.conclude("dry_run", f"dry run ({mode_source}): {asked}: would {describe_plan(plan)}")
        return incident
    assert incident.target is not None
    locks = Locks(clients.dynamodb, settings.claims_table)
    account = incident.trigger.account or settings.hub_account
    slots = locks.rate_slots(
        settings.rate_cap_count,
        settings.rate_cap_window_seconds,
        incident.incident_id,
        account=account,
        global_cap=settings.rate_cap_global_count,
    )
    incident.decision = "act"
    incident.reason = f"{asked}: {describe_plan(plan)}"
    # Audit first: the record says what is about to change, written with the decision, before Restore changes it.
    record = IncidentStore(clients.dynamodb, settings.incident_table).update(incident)
    acting = [item for _, item in slots] + [locks.lock_put(incident.target, incident.owner, incident.incident_id)]
    acting.append(record)
    try:
        return _commit(incident, pending, clients, settings, acting)
    except _ActingRefused as refused:
        if refused.index < len(slots):
            full = slots[refused.index][0]
            count, scope = (
                (settings.rate_cap_count, f"in account {account}")
                if full == "account"
                else (settings.rate_cap_global_count, "across every account of the organization")
            )
            _refuse(
                incident,
                f"rate cap reached: {count} rollbacks already in this {settings.rate_cap_window_seconds // 60}-minute "
                f"window {scope}; paging instead of acting; would have had to {describe_plan(plan)}",
            )
        else:
            holder = locks.lock_holder(incident.target, incident.owner) or Holder("?", "?")
            _refuse(
                incident,
                f"incident {holder.incident_id} is acting on {incident.target} right now (it holds "
                "the target's lock); rollbackctl acts on one deployment of a target at a time",
            )
    return incident  # refused: triage seals it with its claims


def _plan_manual(
    signal: events.ManualRollback, target: Target, pipeline: PipelineRef | None, clients: Clients, ledger: Ledger
) -> Plan:
    """An operator's rollback: the known-good rules of an alarm, or an explicit version of the target's own
    versions (the kind says what those are; never $LATEST), known-good unless --force."""
    kind = kinds.of(target)
    if not signal.to_version:
        plan = kinds.plan(clients, target, ledger, pipeline)
    else:
        plan = kind.plan_to(clients, target, signal.to_version)
        good = any(e.version == plan.to_version and e.status == "good" for e in ledger.entries(target.arn))
        if not signal.force and (not good or ledger.is_bad(target.arn, plan.to_version)):
            raise Refusal(
                f"{short_version(plan.to_version)} is not known-good for {target.arn}; "
                "rollbackctl rollback --to VERSION --force overrides the known-good rule"
            )
    return plan
