"""ALB weights: a target whose target group takes a weighted share of a load balancer listener (or rule) goes
back by giving its group weight 0; the other groups keep the traffic. A mechanism a kind calls (ECS services
today); it knows no kind.

The plan's versions are target groups (what the traffic moves between), not versions of the target: the kind
keeps them out of the ledger.
"""

from __future__ import annotations

import json
from typing import Any

from ..aws import Clients
from ..model import Plan, short_version
from ..outcomes import Refusal, RestoreIncomplete
from ..store import Ledger

STRATEGY = "alb-weights"
READ_ACTIONS = frozenset(
    {
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
    }
)
WRITE_ACTIONS = frozenset({"elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"})
GONE = frozenset({"ListenerNotFound", "RuleNotFound"})


def weighted_forwards(clients: Clients, target_group: str) -> list[dict[str, Any]]:
    """ALB listeners and rules whose forward action splits traffic between this target group and others."""
    elb = clients.elbv2
    found = []
    groups = elb.describe_target_groups(TargetGroupArns=[target_group])["TargetGroups"]
    for balancer in groups[0].get("LoadBalancerArns", []) if groups else []:
        for listener in elb.describe_listeners(LoadBalancerArn=balancer)["Listeners"]:
            places = [("listener", listener["ListenerArn"], listener.get("DefaultActions", []))]
            for rule in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
                if not rule.get("IsDefault"):
                    places.append(("rule", rule["RuleArn"], rule.get("Actions", [])))
            for kind, arn, actions in places:
                for action in actions:
                    weights = {
                        g["TargetGroupArn"]: int(g.get("Weight", 0))
                        for g in (action.get("ForwardConfig") or {}).get("TargetGroups", [])
                    }
                    others = [g for g, w in weights.items() if g != target_group and w > 0]
                    if weights.get(target_group, 0) > 0 and others:
                        found.append({"kind": kind, "arn": arn, "weights": weights, "stable": others})
    return found


def plan(
    clients: Clients, kind: str, target: str, groups: list[str], ledger: Ledger, details: dict[str, str]
) -> Plan | None:
    """The first of ``groups`` (the target's) that takes a weighted share of a listener: shift it to the others."""
    for group in groups:
        forwards = weighted_forwards(clients, group)
        if not forwards:
            continue
        stable = forwards[0]["stable"][0]
        if ledger.is_bad(target, stable):
            raise Refusal(
                f"the other target group {short_version(stable)} of {target} is marked bad in the ledger; "
                "rollbackctl never shifts traffic onto a known-bad version"
            )
        return Plan(kind, STRATEGY, target, group, stable, {**details, "forwards": json.dumps(forwards)})
    return None


def _forward_actions(weights: dict[str, int], bad: str) -> list[dict[str, Any]]:
    groups = [{"TargetGroupArn": g, "Weight": 0 if g == bad else w} for g, w in weights.items()]
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]


def shift(clients: Clients, plan: Plan) -> None:
    for forward in json.loads(plan.details["forwards"]):
        actions = _forward_actions(forward["weights"], plan.from_version)
        if forward["kind"] == "listener":
            clients.elbv2.modify_listener(ListenerArn=forward["arn"], DefaultActions=actions)
        else:
            clients.elbv2.modify_rule(RuleArn=forward["arn"], Actions=actions)


def read_back(clients: Clients, plan: Plan) -> None:
    still = weighted_forwards(clients, plan.from_version)
    if still:
        raise RestoreIncomplete(f"{short_version(plan.from_version)} still takes ALB traffic: {still}")


def describe(plan: Plan, what: str) -> str:
    return (
        f"send the ALB traffic of {what} (target group {short_version(plan.from_version)}) back to target group "
        f"{short_version(plan.to_version)}"
    )
