"""Keep the bad revision out: block the pipeline's way into the deploy stage, naming the incident.

(The ledger already marks the version bad; restore recorded it.) Runs after traffic is back.
"""

from __future__ import annotations

from . import accounts, pipelines
from .aws import Clients
from .config import Settings
from .custody import Custody, digest
from .model import Incident


def contain(incident: Incident, clients: Clients, settings: Settings, execution: str | None = None) -> Incident:
    """Block what this execution's restore rolled back (the sealed incident), nothing else; reseal the outcome."""
    custody = Custody(clients.dynamodb, settings.claims_table)
    replay = custody.check(incident, "contain", execution)
    if replay is not None:  # already blocked for this input: the same outcome, not a second change
        return Incident.from_dict(replay.output)
    before = digest(incident)
    _contain(incident, accounts.for_incident(clients, settings, incident))
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
