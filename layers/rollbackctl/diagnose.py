"""The diagnose step: gather evidence and classify it into the incident's diagnosis. Read-only, off the
critical path (it runs after traffic is restored)."""

from __future__ import annotations

from . import accounts
from .aws import Clients
from .config import Settings
from .diagnosis import classify
from .evidence import gather
from .model import Incident


def diagnose(incident: Incident, clients: Clients, settings: Settings) -> Incident:
    if incident.trigger.kind == "unknown" or (incident.trigger.kind == "alarm" and incident.target is None):
        return incident  # a malformed event, or an alarm that guards no deployment: nothing to diagnose
    incident.diagnosis = classify(gather(incident, accounts.for_incident(clients, settings, incident)))
    return incident
