"""What the operator commands read and decide (the CLI renders it): history's filters, a known-good by hand."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args

from . import kinds
from .aws import Clients
from .kinds import Refusal
from .model import Action, Incident, parse_time, short_target, utcnow
from .store import Ledger

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
