"""The resource-based policies the emulator enforces, evaluated as IAM documents them: a role's trust policy when
someone assumes it (sts:AssumeRole), and an event bus's policy when another account's rule sends it events.

IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements": a request is allowed when an Allow
statement matches it (its Principal, Action, Resource and every Condition) and no Deny statement does. Only what
these policies use is understood; a condition operator or key it does not know never matches an Allow (and always
matches a Deny), so an unknown condition fails closed instead of granting.

Identity-based policies are still not enforced (the deployer stores them), except the one a role EventBridge
assumes for an event bus target carries (``buses.py``).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from typing import Any

from moto.organizations.models import organizations_backends
from moto.utilities.utils import PARTITION_NAMES

from .identity import Principal

_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_ROOT = re.compile(r"^arn:[a-z-]+:iam::([0-9]{12}):root$")


def organization_of(account: str) -> str | None:
    """The AWS Organizations organization ``account`` belongs to in moto's organizations backend, if any."""
    owner = organizations_backends.master_accounts.get(account)
    if owner is not None:
        management, partition = owner
        org = organizations_backends[management][partition].org
        return org.id if org is not None else None
    for partition in PARTITION_NAMES:
        backend = organizations_backends[account][partition] if account in organizations_backends else None
        if backend is not None and backend.org is not None:
            return str(backend.org.id)
    return None


def document(policy: str | Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A policy's statements, however it was stored (a JSON string, a dict, one statement or a list)."""
    if not policy:
        return []
    parsed = json.loads(policy) if isinstance(policy, str) else dict(policy)
    statements = parsed.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def principal_matches(principal: Any, caller: Principal) -> bool:
    """The Principal element names the caller: "*", an account (its id or root ARN: every principal of that
    account), a role (its sessions), a user, a session ARN, or a service."""
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    for kind, values in principal.items():
        for value in _as_list(values):
            value = str(value)
            if kind == "Service":
                if caller.kind == "Service" and caller.service == value:
                    return True
                continue
            if kind != "AWS" or caller.kind == "Service":
                continue  # Federated / CanonicalUser: nobody in the emulator
            if value == "*":
                return True
            root = _ROOT.match(value)
            account = value if _ACCOUNT_ID.match(value) else (root.group(1) if root else None)
            if account is not None:
                if caller.account == account:
                    return True
            elif value in (caller.arn, caller.caller_arn):
                return True
    return False


def action_matches(patterns: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in _as_list(patterns))


def resource_matches(patterns: Any, resource: str) -> bool:
    return any(fnmatch.fnmatchcase(resource, str(p)) for p in _as_list(patterns))


def _string_like(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


_OPERATORS = {
    "StringEquals": lambda value, expected: value == expected,
    "StringLike": _string_like,
    "ArnEquals": lambda value, expected: value == expected,
    "ArnLike": _string_like,
}


def condition_holds(condition: Mapping[str, Any] | None, context: Mapping[str, str | None]) -> bool:
    """Every operator and key of the Condition element holds for the request context. Supported: StringEquals,
    StringLike, ArnEquals, ArnLike, their Not and IfExists forms, and Null. A key absent from the context makes a
    positive operator false, a negated one true, an ...IfExists one true (IAM User Guide, "IAM JSON policy
    elements: Condition operators")."""
    for operator, entries in (condition or {}).items():
        name = str(operator)
        if_exists = name.endswith("IfExists")
        base = name.removesuffix("IfExists")
        negated = "Not" in base
        positive = base.replace("Not", "")
        for key, expected in dict(entries).items():
            value = context.get(str(key))
            if base == "Null":
                if (value is None) != (str(_as_list(expected)[0]).lower() == "true"):
                    return False
                continue
            compare = _OPERATORS.get(positive)
            if compare is None:
                return False
            if value is None:
                if not (negated or if_exists):
                    return False
                continue
            matched = any(compare(str(value), str(e)) for e in _as_list(expected))
            if matched == negated:
                return False
    return True


def allows(
    statements: list[dict[str, Any]],
    caller: Principal,
    action: str,
    resource: str | None,
    context: Mapping[str, str | None],
) -> bool:
    """Whether the policy allows ``caller`` to make ``action`` (on ``resource``, when the policy names one): an
    Allow matches and no Deny does."""

    def matches(statement: dict[str, Any]) -> bool:
        if "NotPrincipal" in statement:
            if principal_matches(statement["NotPrincipal"], caller):
                return False
        elif not principal_matches(statement.get("Principal"), caller):
            return False
        if "NotAction" in statement:
            if action_matches(statement["NotAction"], action):
                return False
        elif not action_matches(statement.get("Action", []), action):
            return False
        return resource is None or "Resource" not in statement or resource_matches(statement["Resource"], resource)

    allowed = False
    for statement in statements:
        if not matches(statement):
            continue
        holds = condition_holds(statement.get("Condition"), context)
        if statement.get("Effect") == "Deny":
            if holds or _unknown(statement.get("Condition")):
                return False
        elif statement.get("Effect") == "Allow" and holds:
            allowed = True
    return allowed


def _unknown(condition: Mapping[str, Any] | None) -> bool:
    """A Deny whose condition this evaluator cannot read still denies (fail closed)."""
    for operator in condition or {}:
        base = str(operator).removesuffix("IfExists")
        if base != "Null" and base.replace("Not", "") not in _OPERATORS:
            return True
    return False


def principal_context(caller: Principal) -> dict[str, str | None]:
    """The global condition keys of a request by ``caller`` (IAM User Guide, "AWS global condition context keys")."""
    if caller.kind == "Service":
        return {"aws:PrincipalServiceName": caller.service}
    return {
        "aws:PrincipalArn": caller.arn,
        "aws:PrincipalAccount": caller.account,
        "aws:PrincipalOrgID": organization_of(caller.account),
        "aws:PrincipalType": caller.kind if caller.kind != "IAMUser" else "User",
        "aws:userid": f"{caller.unique_id}:{caller.session}" if caller.kind == "AssumedRole" else caller.unique_id,
    }
