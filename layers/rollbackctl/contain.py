"""Keep the bad revision out: block the pipeline's way into the deploy stage, naming the incident, and mark what the
bad version is made of (its artifacts) bad everywhere, so that no account ships it again unnoticed.

(The ledger already marks the version bad; restore recorded it.) Runs after traffic is back.
"""

from __future__ import annotations

import json

from . import accounts, kinds, pipelines
from .aws import AWS_ERRORS, Clients, error_code
from .config import Settings
from .custody import Custody, digest
from .model import Incident
from .store import Ledger


def contain(incident: Incident, clients: Clients, settings: Settings, execution: str | None = None) -> Incident:
    """Block what this execution's restore rolled back (the sealed incident), nothing else; reseal the outcome."""
    custody = Custody(clients.dynamodb, settings.claims_table)
    replay = custody.check(incident, "contain", execution)
    if replay is not None:  # already blocked for this input: the same outcome, not a second change
        return Incident.from_dict(replay.output)
    before = digest(incident)
    acting = accounts.for_incident(clients, settings, incident)
    _contain(incident, acting)
    if incident.action == "rolled_back":
        _mark_artifacts(incident, acting, Ledger(clients.dynamodb, settings.ledger_table))
    custody.reseal(before, "contain", incident)
    return incident


def _contain(incident: Incident, clients: Clients) -> Incident:
    if incident.action != "rolled_back":
        return incident
    if incident.pipeline is None:
        incident.record_step(
            "block pipeline",
            "skipped",
            "no pipeline is known for this target (tag rollback:pipeline on the alarm or target)",
        )
        return incident
    pipelines.block(clients, incident)
    return incident


def _mark_artifacts(incident: Incident, clients: Clients, ledger: Ledger) -> None:
    """The bad version's artifacts (the kind's words: a CodeSha256, image digests, a revision, source revisions) are
    bad in every account; Track and the pipeline gate look them up by artifact. Only what the bad version brought: an
    artifact the known-good is made of too (an image both task definitions run) is not the suspect. The first
    incident to mark one stays the one named."""
    plan = incident.plan
    target = kinds.parse(plan.target) if plan is not None else None
    if plan is None or target is None:
        return
    kind = kinds.of(plan.kind)
    versions = kind.versions(plan)
    if versions is None:
        incident.record_step("mark artifacts bad", "skipped", f"{kind.describe(plan)} changed no version")
        return
    bad, good = versions
    try:
        found = set(kind.artifacts(clients, target, bad)) - set(kind.artifacts(clients, target, good))
    except AWS_ERRORS as exc:
        why = error_code(exc) or type(exc).__name__
        incident.record_step("mark artifacts bad", "failed", f"could not read what {bad} is made of ({why})")
        found = set()
    found |= {str(a) for a in json.loads(plan.details.get("bad_artifacts") or "[]")}
    if not found:
        return
    for artifact in sorted(found):
        ledger.mark_artifact_bad(artifact, incident.incident_id, plan.target, bad)
    incident.record_step("mark artifacts bad", "done", f"bad in every account: {', '.join(sorted(found))[:600]}")
