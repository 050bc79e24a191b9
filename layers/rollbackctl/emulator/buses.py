"""Rules whose target is an event bus: the event goes to that bus as it is, in another account or Region too.

moto re-puts such an event as a new one of the receiving account (a new ``id``, its own ``account``, ``region`` and
``time``, no ``resources``), and ignores the receiving bus's policy. AWS delivers the event itself, unchanged: a
member's alarm arrives on the hub's bus with the member's account and region ("Sending and receiving events between
AWS accounts in Amazon EventBridge"; "Sending and receiving events between AWS Regions in Amazon EventBridge"), and
only when the receiving bus lets the sender in:

- another account: the bus's resource-based policy must allow ``events:PutEvents`` to the sender account (its id,
  its root ARN, or "*" with conditions such as ``aws:PrincipalOrgID`` of the sender's organization in moto's
  organizations backend) ("Permissions for event buses in Amazon EventBridge");
- the same account (any Region): the rule's role is enough, no bus policy ("Sending and receiving events between
  event buses in the same account and Region");
- a role on the target (``RoleArn``): EventBridge assumes it, so its trust policy must name events.amazonaws.com
  (with the rule's ``aws:SourceAccount`` / ``aws:SourceArn``), and its policies must allow events:PutEvents on the
  bus.

An event that cannot be delivered goes to the target's dead-letter queue when it has one ("Using dead-letter queues
to process undelivered events in EventBridge": missing permissions and missing targets are not retried), and is
dropped otherwise. An event that itself came from another bus goes no further bus ("EventBridge can't route events
received from a sender event bus to a third event bus"; across accounts "these events are not sent to the third
account").
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

from moto.events.models import events_backends
from moto.utilities.arns import parse_arn

from . import policy, sts
from .identity import Principal

DeadLetter = Callable[[Any, dict[str, Any], dict[str, Any], str, str], None]

_hop = threading.local()


def is_bus(arn: str) -> bool:
    parsed = parse_arn(arn)
    return parsed.service == "events" and parsed.resource_type == "event-bus"


@contextlib.contextmanager
def _received_from_a_bus() -> Iterator[None]:
    saved = getattr(_hop, "forwarded", False)
    _hop.forwarded = True
    try:
        yield
    finally:
        _hop.forwarded = saved


def _role_allows(rule: Any, role_arn: str, bus_arn: str) -> str:
    """Why EventBridge cannot use the target's role to put on the bus ('' when it can)."""
    context = {"aws:SourceAccount": rule.account_id, "aws:SourceArn": rule.arn}
    if sts.assume_as_service("events.amazonaws.com", role_arn, "eventbridge", rule.region_name, context) is None:
        return f"EventBridge cannot assume {role_arn} for rule {rule.arn}"
    role = sts.role_of(role_arn)
    if role is None:  # assume_as_service found it a moment ago: deleted since
        return f"{role_arn} does not exist"
    account = role_arn.split(":")[4]
    documents = list(role.policies.values())
    documents += [v.document for m in role.managed_policies.values() for v in m.versions if v.is_default]
    session = Principal("AssumedRole", account, role_arn, session="eventbridge")
    statements = [s for d in documents for s in policy.document(d)]
    # identity-based statements name no Principal: they apply to the role's own sessions
    statements = [{**s, "Principal": {"AWS": role_arn}} for s in statements if "Principal" not in s]
    if not policy.allows(statements, session, "events:PutEvents", bus_arn, policy.principal_context(session)):
        return f"{role_arn} is not allowed events:PutEvents on {bus_arn}"
    return ""


def _bus_allows(bus: Any, sender: str, role_arn: str | None) -> bool:
    """The receiving bus's policy lets the sender account put events on it."""
    partition = bus.arn.split(":")[1]
    caller = (
        Principal("AssumedRole", sender, role_arn, session="eventbridge")
        if role_arn
        else Principal("Root", sender, f"arn:{partition}:iam::{sender}:root")
    )
    statements = policy.document(bus.policy)
    return policy.allows(statements, caller, "events:PutEvents", bus.arn, policy.principal_context(caller))


def deliver(rule: Any, target: dict[str, Any], event: dict[str, Any], dead_letter: DeadLetter) -> None:
    """The rule matched: send the event, unchanged, to the bus the target names, then to that bus's rules."""
    if getattr(_hop, "forwarded", False):
        return  # a third bus: not sent
    arn = parse_arn(target["Arn"])
    bus = events_backends[arn.account][arn.region].event_buses.get(arn.resource_id)
    if bus is None:
        dead_letter(rule, target, event, "NO_RESOURCE", f"Event bus {arn.resource_id} does not exist.")
        return
    role_arn = target.get("RoleArn")
    if role_arn:
        refused = _role_allows(rule, str(role_arn), bus.arn)
        if refused:
            dead_letter(rule, target, event, "NO_PERMISSIONS", refused)
            return
    if arn.account != rule.account_id and not _bus_allows(bus, rule.account_id, role_arn):
        message = f"account {rule.account_id} is not allowed to put events on {bus.arn} (its resource-based policy)"
        dead_letter(rule, target, event, "NO_PERMISSIONS", message)
        return
    with _received_from_a_bus():
        for receiving in list(bus.rules.values()):
            if receiving.state == "ENABLED":
                receiving.send_to_targets(copy.deepcopy(event))
