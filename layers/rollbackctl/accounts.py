"""Where the hub acts: only in an event's own account and region, through that account's role.

One controller serves an organization (DESIGN.md, "One controller for an organization"). The hub is where
template.yaml runs; a member is an account that deployed member/template.yaml, which creates the role
``rollbackctl-target`` that only the hub's function roles may assume. Every step acts in the account and region
of the incident's target, which triage made sure are the event's own: in the hub's own account with the
function's own credentials, in a member's through its role with the incident id as the session name (so the
member's CloudTrail names the incident). An event from an account that is not a member assumes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.utilities.parameters import SSMProvider

from . import kinds
from .aws import Clients
from .config import Settings
from .controls import KILL_SWITCH_MAX_AGE
from .model import Incident

TARGET_ROLE_NAME = "rollbackctl-target"
# The member's own kill switch: the same name in each member account and region (member/template.yaml).
MEMBER_KILL_SWITCH = "/rollbackctl/kill-switch"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def where(account: str, region: str, settings: Settings) -> tuple[str, str]:
    """An event's account and region; one that names neither (``sam local invoke`` of a bare sample) is the hub's."""
    return account or settings.hub_account, region or settings.hub_region


def describe(account: str, region: str) -> str:
    return f"account {account} in {region}"


def not_member(account: str, settings: Settings) -> str:
    """Why the hub does not act for ``account``, or '' when it does."""
    if settings.is_member(account):
        return ""
    listed = "MemberAccounts" + (" nor the organization OrganizationId names" if settings.organization_id else "")
    return (
        f"the event comes from account {account}, which is not a member of this controller (neither the hub's own "
        f"account {settings.hub_account} nor in {listed}); no role was assumed and nothing was changed"
    )


def acting_in(clients: Clients, settings: Settings, account: str, region: str, session_name: str) -> Clients:
    """The clients that act in ``account`` and ``region``: the hub's own there, or through the member's role."""
    if account == settings.hub_account and region == settings.hub_region:
        return clients
    role = None
    if account != settings.hub_account:
        role = f"arn:{partition(region)}:iam::{account}:role/{TARGET_ROLE_NAME}"
    return clients.acting_in(account, region, session_name, role)


def for_incident(clients: Clients, settings: Settings, incident: Incident) -> Clients:
    """The clients for the later steps: where the incident's target is (triage sealed that it is the event's own
    account and region). An incident with no target acts nowhere and reads nothing beyond the hub."""
    target = kinds.parse(incident.target) if incident.target else None
    if target is None:
        return clients
    return acting_in(clients, settings, target.account, target.region, incident.incident_id)


def elsewhere(target_account: str, target_region: str, account: str, region: str) -> str:
    """Why a target outside the event's own account and region is left alone, or ''."""
    if (target_account, target_region) == (account, region):
        return ""
    return (
        f"the target is in {describe(target_account, target_region)}, but the event comes from "
        f"{describe(account, region)}: rollbackctl acts only in the account and region of the event, so a member can "
        "never cause an action in another account; nothing was changed"
    )


def member_kill_switch(clients: Clients) -> tuple[str, Callable[[], str]] | None:
    """The kill switch of the member account and region the clients act in (None for the hub's own, whose kill
    switch is the hub's): read through the member's role, cached as the hub's is, once per container for that
    account and region (the cache is shared by the incidents there; a read is signed by the incident making it)."""
    if not clients.in_member:
        return None
    shared = clients.shared
    provider = shared.cache.get("kill_switch")
    if provider is None:
        provider = shared.cache.setdefault("kill_switch", SSMProvider(boto3_client=shared.member_ssm))

    def read() -> str:
        with clients.signing():
            return str(provider.get(MEMBER_KILL_SWITCH, max_age=KILL_SWITCH_MAX_AGE))

    return f"the kill switch of {clients.where}", read
