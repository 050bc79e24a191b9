"""Who is calling: the principal behind the request the emulator is serving in this thread, as IAM sees it.

AWS authenticates every request by its credentials: an assumed role's temporary key is that role's session (its
account, the role, the session name), an IAM user's key is the user (IAM User Guide, "IAM identifiers" and "AWS
STS temporary credentials"). moto keeps the keys it issued (STS AssumeRole's in the role's account, IAM users'),
so the emulator can say the same. Every request records its access key here (``BaseResponse.setup_class``), in the
thread that serves it, in process and on ``local-aws`` alike.

Three more callers, in this order:
- a controller Lambda handler running in this thread (``runtime.py``) whose client was not built with its
  execution role's credentials: that role's session, named after the function, as the Lambda runtime makes it;
- a key moto never issued (the emulator's own ``testing`` key, which moto maps to its default account): the
  account's root user.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.core.responses import BaseResponse
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import PARTITION_NAMES

_request = threading.local()  # .access_key of the request served in this thread
_running = threading.local()  # .function: the LambdaFunction whose handler runs in this thread (runtime.py)
_originals: dict[str, Any] = {}


@dataclass(frozen=True)
class Principal:
    """A caller. ``arn`` is what IAM puts in ``aws:PrincipalArn``: for a role session, the role's ARN (IAM User
    Guide, "AWS global condition context keys": "For IAM roles, the request context returns the ARN of the role,
    not the ARN of the user that assumed the role"); for a user, the user's; for the root user, the account's."""

    kind: str  # "AssumedRole" | "IAMUser" | "Root" | "Service"
    account: str
    arn: str
    session: str = ""  # the role session name
    unique_id: str = ""  # the role's or user's id (AROA..., AIDA...)
    service: str = ""  # a service principal (events.amazonaws.com) when AWS itself calls

    @property
    def role_name(self) -> str:
        return self.arn.rsplit("/", 1)[-1] if self.kind == "AssumedRole" else ""

    @property
    def caller_arn(self) -> str:
        """The ARN AWS names the caller by (GetCallerIdentity, "User: ... is not authorized", CloudTrail's
        ``userIdentity.arn``): the session ARN for a role session."""
        if self.kind == "AssumedRole":
            partition = self.arn.split(":", 2)[1]
            return f"arn:{partition}:sts::{self.account}:assumed-role/{self.role_name}/{self.session}"
        return self.arn


def _setup_class(self: Any, *args: Any, **kwargs: Any) -> Any:
    result = _originals["setup_class"](self, *args, **kwargs)
    _request.access_key = self.get_access_key()
    return result


@contextlib.contextmanager
def running(function: Any) -> Iterator[None]:
    """Calls served in this block without credentials of their own are this Lambda function's (runtime.py)."""
    saved = getattr(_running, "function", None)
    _running.function = function
    try:
        yield
    finally:
        _running.function = saved


def of_access_key(access_key: str) -> Principal | None:
    """The principal a key moto issued belongs to, or None for a key it never issued."""
    for account, by_partition in list(iam_backends.items()):
        for partition in PARTITION_NAMES:
            if partition not in by_partition:
                continue
            key = by_partition[partition].access_keys.get(access_key)
            if key is None:
                continue
            if getattr(key, "role_arn", None):
                session = sts_backends[account][partition].get_assumed_role_from_access_key(access_key)
                return _role_session(account, partition, str(key.role_arn), session.session_name if session else "")
            if key.user_name:
                user = by_partition[partition].get_user(key.user_name)
                return Principal("IAMUser", account, user.arn, unique_id=user.id)
    return None


def _role_session(account: str, partition: str, role_arn: str, session: str) -> Principal:
    try:
        unique_id = iam_backends[account][partition].get_role_by_arn(role_arn).id
    except Exception:  # a session of a role deleted since: AWS keeps its credentials valid until they expire
        unique_id = ""
    return Principal("AssumedRole", account, role_arn, session=session, unique_id=unique_id)


def function_principal(function: Any) -> Principal:
    """A Lambda function's execution role session, named after the function (as the Lambda runtime names it)."""
    account = str(function.account_id)
    partition = str(function.role).split(":", 2)[1]
    return _role_session(account, partition, str(function.role), str(function.function_name))


def current(account: str) -> Principal:
    """Who makes the request this thread is serving, in ``account`` (the account the request was routed to)."""
    access_key = getattr(_request, "access_key", None)
    if access_key:
        found = of_access_key(access_key)
        if found is not None:
            return found
    function = getattr(_running, "function", None)
    if function is not None:
        return function_principal(function)
    return root(account)


def root(account: str, partition: str = "aws") -> Principal:
    return Principal("Root", account, f"arn:{partition}:iam::{account}:root")


def install() -> None:
    _originals["setup_class"] = BaseResponse.setup_class
    BaseResponse.setup_class = _setup_class  # type: ignore[method-assign]
