"""STS AssumeRole as AWS authorizes it: the role must exist and its trust policy must allow the caller.

moto issues credentials for any role ARN, existing or not, whoever asks. AWS refuses with ``AccessDenied``
("User: CALLER is not authorized to perform: sts:AssumeRole on resource: ROLE") when the role does not exist or its
trust policy does not allow the caller (STS API Reference, "AssumeRole"; IAM User Guide, "Granting a user
permissions to switch roles": the role's trust policy must name the caller's account or the caller). The caller
is who makes the request (``identity.py``): a controller Lambda handler running in process is its execution role;
anyone else, the identity of the request's access key (the emulator's own ``testing`` key is its account's root).

The trust policy is evaluated by ``policy.py`` (Principal: an account root, a role ARN, "*"; Condition:
ArnEquals/ArnLike ``aws:PrincipalArn``, StringEquals ``aws:PrincipalOrgID`` and the other operators it knows, with
``sts:ExternalId`` and ``sts:RoleSessionName`` in the context). The caller's own identity-based policy (which a
cross-account AssumeRole also needs) is not evaluated: the emulator enforces no identity-based policy.

``assume_as_service`` is the way AWS services themselves assume a role (Lambda its functions' execution roles,
EventBridge a target's role): the trust policy must name the service principal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moto.core.exceptions import AccessDeniedError
from moto.iam.models import iam_backends
from moto.sts.models import AssumedRole, STSBackend, sts_backends
from moto.utilities.utils import get_partition

from . import identity, policy
from .identity import Principal

_originals: dict[str, Any] = {}


def role_of(role_arn: str) -> Any | None:
    """The IAM role an ARN names, or None when there is none (in its own account)."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    account, partition = parts[4], parts[1]
    try:
        return iam_backends[account][partition].get_role_by_arn(role_arn)
    except Exception:  # moto's NotFoundException: no such role
        return None


def trusts(role_arn: str, caller: Principal, context: Mapping[str, str | None] | None = None) -> bool:
    """Whether the role exists and its trust policy lets ``caller`` assume it."""
    role = role_of(role_arn)
    if role is None:
        return False
    request = {**policy.principal_context(caller), **(context or {})}
    return policy.allows(policy.document(role.assume_role_policy_document), caller, "sts:AssumeRole", None, request)


def denied(caller: Principal, role_arn: str) -> AccessDeniedError:
    return AccessDeniedError(caller.caller_arn, f"sts:AssumeRole on resource: {role_arn}")


def _assume_role(
    self: STSBackend,
    region_name: str,
    role_session_name: str,
    role_arn: str,
    policy: str,
    duration: int,
    external_id: str,
) -> AssumedRole:
    caller = identity.current(self.account_id)
    context = {"sts:ExternalId": external_id or None, "sts:RoleSessionName": role_session_name}
    if not trusts(role_arn, caller, context):
        raise denied(caller, role_arn)
    assumed: AssumedRole = _originals["assume_role"](
        self, region_name, role_session_name, role_arn, policy, duration, external_id
    )
    return assumed


def _get_caller_identity(self: STSBackend, access_key_id: str, region: str) -> tuple[str, str, str]:
    """GetCallerIdentity names the caller ``identity.py`` finds (moto's own answer knows neither a controller
    handler's execution role nor the root user): UserId, Arn, Account as STS documents them (STS API Reference,
    "GetCallerIdentity": a role session is ROLEID:SESSION and its assumed-role ARN; the root user is the account)."""
    caller = identity.current(self.account_id)
    if caller.kind == "AssumedRole":
        return f"{caller.unique_id}:{caller.session}", caller.caller_arn, caller.account
    if caller.kind == "IAMUser":
        return caller.unique_id, caller.arn, caller.account
    return caller.account, caller.arn, caller.account


def sessions(account: str, role_name: str) -> list[str]:
    """The session ARNs STS issued for ``role_name`` in ``account`` (moto keeps every AssumeRole it answered)."""
    issued = f":sts::{account}:assumed-role/{role_name}/"
    return [
        session.arn
        for backends in list(sts_backends.values())
        for backend in list(backends.values())
        for session in backend.assumed_roles
        if issued in session.arn
    ]


def assume_as_service(
    service: str, role_arn: str, session: str, region: str, context: Mapping[str, str | None] | None = None
) -> AssumedRole | None:
    """The service principal ``service`` assumes the role (None when the role does not trust it)."""
    caller = Principal("Service", "", "", service=service)
    if not trusts(role_arn, caller, context):
        return None
    account = role_arn.split(":")[4]
    backend = sts_backends[account][get_partition(region)]
    assumed: AssumedRole = _originals["assume_role"](backend, region, session, role_arn, None, 3600, None)
    return assumed


def install() -> None:
    _originals["assume_role"] = STSBackend.assume_role
    STSBackend.assume_role = _assume_role  # type: ignore[method-assign]
    STSBackend.get_caller_identity = _get_caller_identity  # type: ignore[method-assign]
