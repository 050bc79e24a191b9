"""Keep the bad revision out: block the pipeline's way into the deploy stage, naming the incident.

(The ledger already marks the version bad; restore recorded it.) Runs after traffic is back.
"""

from __future__ import annotations

from . import pipelines
from .aws import Clients
from .model import Incident


def contain(incident: Incident, clients: Clients) -> Incident:
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
