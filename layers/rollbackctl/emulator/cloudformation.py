"""CloudFormation stack updates as AWS documents them, where moto stops short.

moto applies UpdateStack (and an UPDATE change set) at once and knows no way back. Here, as the CloudFormation API
Reference and User Guide describe them:

- An update is an operation of model ``cloudformation::stack`` (``progress.py``): ``UPDATE_IN_PROGRESS`` ->
  ``UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`` -> ``UPDATE_COMPLETE``, moving by itself as moto's state manager says (a
  "manual" transition counts DescribeStacks calls). The stack's resources, template, parameters, outputs and tags
  change only when the update completes ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS: Ongoing removal of old resources ...
  after a successful stack update"); an update cancelled or failed leaves the old ones.
- ``CancelUpdateStack`` ("You can cancel only stacks that are in the UPDATE_IN_PROGRESS state"; else ValidationError
  "CancelUpdateStack cannot be called from current stack status") rolls the update back: ``UPDATE_ROLLBACK_IN_PROGRESS``
  -> ``UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS`` -> ``UPDATE_ROLLBACK_COMPLETE``, on the same model.
- ``fail_update`` plays a resource failing to update: with rollback disabled (UpdateStack ``DisableRollback``) the
  stack stops at ``UPDATE_FAILED``, else CloudFormation rolls it back. ``RollbackStack`` rolls back an
  ``UPDATE_FAILED`` stack ("Rolls back the specified stack to the last known stable state from CREATE_FAILED or
  UPDATE_FAILED stack statuses").
- ``fail_rollback`` plays a resource failing to roll back: ``UPDATE_ROLLBACK_FAILED``, where "A stack ... can't be
  updated, but it can be rolled back". ``ContinueUpdateRollback`` continues it; when the cause persists (the
  resource was deleted outside CloudFormation, say) and the resource is not in ``ResourcesToSkip``, the rollback
  fails again ("In most cases, you must fix the error that causes the update rollback to fail before you can
  continue to roll back your stack").
- UpdateStack on a stack in a status that cannot be updated: ValidationError "Stack:ID is in STATUS state and can not
  be updated." (moto's own wording for ROLLBACK_COMPLETE, as AWS writes it).
- Every stack status change adds the stack's own event (DescribeStackEvents), a failed resource its event with the
  reason, and puts "CloudFormation Stack Status Change" on the default bus (User Guide, "Stack Status Change event
  detail": ``detail.stack-id``, ``detail.status-details.{status, status-reason}``, ``detail.client-request-token``;
  resources = the stack ID). CloudFormation sends one at every status change of a stack ("Monitoring CloudFormation
  ... with EventBridge"), creation and deletion (which stay moto's, done at once) included.
- DescribeStacks returns ``LastUpdatedTime`` (when the latest update started) and ``StackStatusReason``.

Creation stays immediate, as moto does it: the deployer records the controller's own stack with CreateStack and
reads its Outputs at once.

Pages: CloudFormation API Reference UpdateStack, CancelUpdateStack, RollbackStack, ContinueUpdateRollback,
DescribeStacks, DescribeStackEvents; User Guide "Stack status codes", "Cancel a stack update", "Continue rolling back
an update", "Choose how to handle failures when provisioning resources", "Stack Status Change event detail".
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Event, Stack, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow

from . import progress

MODEL = "cloudformation::stack"
SOURCE, DETAIL_TYPE = "aws.cloudformation", "CloudFormation Stack Status Change"
STACK_TYPE = "AWS::CloudFormation::Stack"
UPDATE: list[tuple[str | None, str]] = [
    ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
    ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"),
]
ROLLBACK: list[tuple[str | None, str]] = [
    ("UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
    ("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"),
]
# A continued rollback whose cause persists: it fails again at the same resource.
FAILS_AGAIN: list[tuple[str | None, str]] = [("UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED")]
USER_INITIATED = "User Initiated"  # moto's, and CloudFormation's, reason for an operation a caller started


def _failed(resources: list[str]) -> str:
    return f"The following resource(s) failed to update: [{', '.join(resources)}]."


class StackOperation(progress.Operation):
    """What CloudFormation is doing to one stack (one per stack, put on another chain by each operation)."""

    MODEL = MODEL

    def __init__(self, backend: CloudFormationBackend, stack: Stack, transitions: list[tuple[str | None, str]]):
        super().__init__(list(transitions))
        self.account, self.region = backend.account_id, backend.region_name
        self.stack = stack
        self._status = str(stack.status)
        self.pending: dict[str, Any] | None = None  # the update in flight: template, parameters, role, tags, ...
        self.token: str | None = None  # the ClientRequestToken of the operation in flight
        self.reasons: dict[str, str] = {}  # the status reason of a status about to be reached
        self.stuck: dict[str, str] = {}  # resource -> reason: what failed to roll back
        self.persists = False  # whether what failed to roll back still would (not fixed yet)
        self.announced_deletion = False

    # --- what CloudFormation does at each step ---------------------------------------------------------------

    def on_status(self, old: str, new: str) -> None:
        if new == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS":
            self._apply_update()
        if new == "UPDATE_ROLLBACK_FAILED" and old == "UPDATE_ROLLBACK_IN_PROGRESS" and self.stuck:
            for resource, reason in self.stuck.items():
                self.resource_event(resource, "UPDATE_FAILED", reason)
            self.reasons.setdefault(new, _failed(sorted(self.stuck)))
        if new == "UPDATE_ROLLBACK_COMPLETE":
            self.stuck.clear()
            self._mark_change_set("EXECUTE_FAILED")
        if new == "UPDATE_COMPLETE":
            self._mark_change_set("EXECUTE_COMPLETE")
        self.arrive(new, self.reasons.pop(new, None))

    def arrive(self, status: str, reason: str | None) -> None:
        """The stack is in ``status`` now: its status, its own event, and the event on the bus."""
        self.stack.status = status
        self.stack.stack_status_reason = reason  # type: ignore[attr-defined]
        self.stack._add_stack_event(status, resource_status_reason=reason)
        self.stack.events[-1].client_request_token = self.token
        self.announce(status, reason)

    def announce(self, status: str, reason: str | None) -> None:
        detail: dict[str, Any] = {
            "stack-id": self.stack.stack_id,
            "status-details": {"status": status, "status-reason": reason or ""},
        }
        if self.token:
            detail["client-request-token"] = self.token
        self.emit(self.account, self.region, SOURCE, DETAIL_TYPE, detail, [self.stack.stack_id])

    def resource_event(self, logical_id: str, status: str, reason: str) -> None:
        # Only a resource the stack already has (reading resource_map would create a new one).
        resource = getattr(self.stack.resource_map, "_parsed_resources", {}).get(logical_id)
        template = (self.pending or {}).get("template_dict") or self.stack.template_dict
        kind = ((template.get("Resources") or {}).get(logical_id) or {}).get("Type", "")
        event = Event(
            stack_id=self.stack.stack_id,
            stack_name=self.stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=str(getattr(resource, "physical_resource_id", "") or ""),
            resource_type=str(kind),
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
        event.client_request_token = self.token
        event.sendToSns(self.account, self.region, self.stack.notification_arns)
        self.stack.events.append(event)

    def _apply_update(self) -> None:
        """The update succeeded: the stack's resources, template, parameters, outputs and tags are the new ones."""
        pending, stack = self.pending, self.stack
        if pending is None:
            return
        stack.template = pending["template"]
        stack._parse_template()
        stack.resource_map.update(stack.template_dict, pending["parameters"])
        stack.output_map = stack._create_output_map()
        stack.parameters = pending["parameters"] or stack.parameters
        if pending.get("role_arn"):
            stack.role_arn = pending["role_arn"]
        if pending.get("tags") is not None:
            stack.tags = pending["tags"]

    def _mark_change_set(self, status: str) -> None:
        change_set = (self.pending or {}).get("change_set")
        if change_set is not None:
            change_set.execution_status = status

    # --- moves (API calls and the helpers) -------------------------------------------------------------------

    def begin_update(self, pending: dict[str, Any], token: str | None) -> None:
        with progress.held():
            pending["template_dict"] = Stack.parse_template(pending["template"])
            self.pending, self.token, self.stuck = pending, token, {}
            self.stack.last_updated_time = utcnow()  # type: ignore[attr-defined]
            self.reasons["UPDATE_IN_PROGRESS"] = USER_INITIATED
            self.restart(list(UPDATE), "UPDATE_IN_PROGRESS")

    def fail(self, resource: str, reason: str) -> None:
        """A resource failed to update: UPDATE_FAILED with rollback disabled, else CloudFormation rolls back."""
        with progress.held():
            if self.status != "UPDATE_IN_PROGRESS":
                raise ValueError(f"stack {self.stack.name} is {self.status}, not UPDATE_IN_PROGRESS")
            self.resource_event(resource, "UPDATE_FAILED", reason)
            if (self.pending or {}).get("disable_rollback"):
                self.reasons["UPDATE_FAILED"] = _failed([resource])
                self.status = "UPDATE_FAILED"
                return
            self.reasons["UPDATE_ROLLBACK_IN_PROGRESS"] = _failed([resource])
            self.restart(list(ROLLBACK), "UPDATE_ROLLBACK_IN_PROGRESS")

    def fail_rollback(self, resource: str, reason: str, persists: bool) -> None:
        with progress.held():
            if self.status != "UPDATE_ROLLBACK_IN_PROGRESS":
                raise ValueError(f"stack {self.stack.name} is {self.status}, not UPDATE_ROLLBACK_IN_PROGRESS")
            self.stuck, self.persists = {resource: reason}, persists
            self.restart(list(FAILS_AGAIN), "UPDATE_ROLLBACK_FAILED")

    def roll_back(self, token: str | None) -> None:
        with progress.held():
            self.token = token
            self.reasons["UPDATE_ROLLBACK_IN_PROGRESS"] = USER_INITIATED
            self.restart(list(ROLLBACK), "UPDATE_ROLLBACK_IN_PROGRESS")

    def continue_rollback(self, skip: list[str], token: str | None) -> None:
        with progress.held():
            self.token = token
            for resource in skip:
                self.stuck.pop(resource, None)
            doomed = self.persists and bool(self.stuck)
            self.reasons["UPDATE_ROLLBACK_IN_PROGRESS"] = USER_INITIATED
            self.restart(list(FAILS_AGAIN if doomed else ROLLBACK), "UPDATE_ROLLBACK_IN_PROGRESS")


# --- the store: on moto's Stack (so a reset clears it) ----------------------------------------------------------


def _operation(backend: CloudFormationBackend, stack: Stack) -> StackOperation:
    operation: StackOperation | None = getattr(stack, "rollbackctl_operation", None)
    if operation is None:
        operation = StackOperation(backend, stack, [(str(stack.status), str(stack.status))])
        stack.rollbackctl_operation = operation  # type: ignore[attr-defined]
    return operation


def refresh(backend: CloudFormationBackend, stack: Stack, described: bool = False) -> None:
    """Let the stack's operation progress (a DescribeStacks counts for "manual")."""
    operation: StackOperation | None = getattr(stack, "rollbackctl_operation", None)
    if operation is None or operation.done:
        return
    with progress.held():
        if described:
            operation.advance()
        operation.status  # noqa: B018 - reading progresses it


def _status(backend: CloudFormationBackend, stack: Stack) -> str:
    refresh(backend, stack)
    return str(stack.status)


def _not_from(call: str) -> ValidationError:
    # API Reference: CancelUpdateStack answers a stack not UPDATE_IN_PROGRESS with this ValidationError; RollbackStack
    # and ContinueUpdateRollback answer a status they cannot start from with ValidationError too.
    return ValidationError(message=f"{call} cannot be called from current stack status")


# --- moto's CloudFormation, extended ----------------------------------------------------------------------------

_originals: dict[str, Any] = {}
_requested: dict[str, Any] = {}
CANNOT_UPDATE = ("UPDATE_ROLLBACK_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_COMPLETE")


def _validate_status(self: CloudFormationResponse, stack: Stack) -> None:
    _validate_status_of(self.cloudformation_backend, stack)


def _update_stack_response(self: CloudFormationResponse) -> Any:
    with progress.held():
        _requested.update(
            disable_rollback=self._get_bool_param("DisableRollback", False),
            token=self._get_param("ClientRequestToken"),
        )
        try:
            return _originals["update_stack_response"](self)
        finally:
            _requested.clear()


def _update_stack(
    self: CloudFormationBackend,
    name: str,
    template: str,
    role_arn: str | None,
    parameters: list[dict[str, Any]],
    tags: dict[str, str] | None,
) -> Stack:
    stack = self.get_stack(name)
    resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
    pending = {
        "template": template,
        "parameters": resolved,
        "role_arn": role_arn,
        "tags": tags,
        "disable_rollback": bool(_requested.get("disable_rollback")),
    }
    _operation(self, stack).begin_update(pending, _requested.get("token"))
    return stack


def _execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.change_sets.get(change_set_name) or next(
        (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None
    )
    if change_set is None or change_set.change_set_type != "UPDATE":
        _originals["execute_change_set"](self, change_set_name, stack_name)
        return
    stack = self.stacks[change_set.stack_id]
    _validate_status_of(self, stack)
    pending = {
        "template": change_set.template,
        "parameters": change_set.parameters,
        "role_arn": change_set.role_arn,
        "tags": change_set.tags,
        "disable_rollback": bool(_requested.get("disable_rollback")),
        "change_set": change_set,
    }
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    _operation(self, stack).begin_update(pending, _requested.get("token"))


def _validate_status_of(backend: CloudFormationBackend, stack: Stack) -> None:
    status = _status(backend, stack)
    if status.endswith("_IN_PROGRESS") or status in CANNOT_UPDATE:
        raise ValidationError(
            stack.stack_id, message=f"Stack:{stack.stack_id} is in {status} state and can not be updated."
        )


def _execute_change_set_response(self: CloudFormationResponse) -> Any:
    with progress.held():
        _requested.update(
            disable_rollback=self._get_bool_param("DisableRollback", False),
            token=self._get_param("ClientRequestToken"),
        )
        try:
            return _originals["execute_change_set_response"](self)
        finally:
            _requested.clear()


def _create_stack(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Stack:
    """Created at once, as moto does it; its two statuses are announced on the bus all the same."""
    with progress.held():
        stack: Stack = _originals["create_stack"](self, *args, **kwargs)
        operation = _operation(self, stack)
        operation.announce("CREATE_IN_PROGRESS", USER_INITIATED)
        if stack.status == "CREATE_COMPLETE":
            operation.announce("CREATE_COMPLETE", None)
    return stack


def _delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    with progress.held():
        _originals["delete_stack"](self, name_or_stack_id)
        for stack in self.deleted_stacks.values():
            operation = _operation(self, stack)
            if stack.status == "DELETE_COMPLETE" and not operation.announced_deletion:
                operation.announced_deletion = True
                progress.REGISTRY.discard(operation)
                operation.announce("DELETE_IN_PROGRESS", USER_INITIATED)
                operation.announce("DELETE_COMPLETE", None)


def _describe_stacks(self: CloudFormationBackend, name_or_stack_id: str) -> list[Stack]:
    stacks: list[Stack] = _originals["describe_stacks"](self, name_or_stack_id)
    for stack in stacks:
        refresh(self, stack, described=True)
    return stacks


def _describe_stack_events(self: CloudFormationBackend, stack_name: str) -> list[Event]:
    refresh(self, self.get_stack(stack_name))
    events: list[Event] = _originals["describe_stack_events"](self, stack_name)
    return events


# --- the actions moto lacks -------------------------------------------------------------------------------------


def cancel_update_stack(backend: CloudFormationBackend, name: str, token: str | None) -> None:
    """CancelUpdateStack: "You can cancel only stacks that are in the UPDATE_IN_PROGRESS state." """
    stack = backend.get_stack(name)
    with progress.held():
        if _status(backend, stack) != "UPDATE_IN_PROGRESS":
            raise _not_from("CancelUpdateStack")
        _operation(backend, stack).roll_back(token)


def rollback_stack(backend: CloudFormationBackend, name: str, role_arn: str | None, token: str | None) -> str:
    """RollbackStack, from UPDATE_FAILED to the last known stable state. (CREATE_FAILED, whose stack has none and
    would be deleted, does not occur here: creation succeeds at once.) RoleARN, when given, stays with the stack."""
    stack = backend.get_stack(name)
    with progress.held():
        if _status(backend, stack) != "UPDATE_FAILED":
            raise _not_from("RollbackStack")
        if role_arn:
            stack.role_arn = role_arn
        _operation(backend, stack).roll_back(token)
    return str(stack.stack_id)


def continue_update_rollback(
    backend: CloudFormationBackend, name: str, role_arn: str | None, skip: list[str], token: str | None
) -> None:
    """ContinueUpdateRollback, from UPDATE_ROLLBACK_FAILED. ResourcesToSkip: "You can specify only resources that are
    in the UPDATE_FAILED state because a rollback failed." RoleARN: "CloudFormation always uses this role for all
    future operations on the stack." """
    stack = backend.get_stack(name)
    with progress.held():
        if _status(backend, stack) != "UPDATE_ROLLBACK_FAILED":
            raise _not_from("ContinueUpdateRollback")
        operation = _operation(backend, stack)
        unknown = [resource for resource in skip if resource not in operation.stuck]
        if unknown:
            raise ValidationError(
                message=f"Resources [{', '.join(unknown)}] are not in the UPDATE_FAILED state because a rollback "
                "failed, and cannot be skipped"
            )
        if role_arn:
            stack.role_arn = role_arn
        operation.continue_rollback(skip, token)


def _cancel_response(self: CloudFormationResponse) -> Any:
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CancelUpdateStack.html
    cancel_update_stack(
        self.cloudformation_backend, self._get_param("StackName"), self._get_param("ClientRequestToken")
    )
    return EmptyResult()


def _rollback_response(self: CloudFormationResponse) -> Any:
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_RollbackStack.html
    stack_id = rollback_stack(
        self.cloudformation_backend,
        self._get_param("StackName"),
        self._get_param("RoleARN"),
        self._get_param("ClientRequestToken"),
    )
    return ActionResult({"StackId": stack_id})


def _continue_response(self: CloudFormationResponse) -> Any:
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ContinueUpdateRollback.html
    continue_update_rollback(
        self.cloudformation_backend,
        self._get_param("StackName"),
        self._get_param("RoleARN"),
        list(self._get_param("ResourcesToSkip", []) or []),
        self._get_param("ClientRequestToken"),
    )
    return EmptyResult()


# --- what CloudFormation does by itself (tests and the demo play it) -------------------------------------------


def _stack(account: str, region: str, name: str) -> tuple[CloudFormationBackend, Stack]:
    backend = cloudformation_backends[account][region]
    return backend, backend.get_stack(name)


def operation(account: str, region: str, name: str) -> StackOperation:
    backend, stack = _stack(account, region, name)
    return _operation(backend, stack)


def fail_update(account: str, region: str, name: str, resource: str, reason: str) -> None:
    """A resource of the update in flight fails to update (rolled back, unless the update disabled rollback)."""
    operation(account, region, name).fail(resource, reason)


def fail_rollback(account: str, region: str, name: str, resource: str, reason: str, persists: bool = False) -> None:
    """A resource fails to roll back: UPDATE_ROLLBACK_FAILED. ``persists``: until fixed (``fix``), a continued
    rollback fails again at it, as when the resource was deleted outside CloudFormation."""
    operation(account, region, name).fail_rollback(resource, reason, persists)


def fix(account: str, region: str, name: str) -> None:
    """Someone fixed what made the rollback fail: a continued rollback now gets past it."""
    with progress.held():
        operation(account, region, name).persists = False


def finish(account: str, region: str, name: str) -> None:
    """What CloudFormation is doing to the stack reaches its end now (as an ``immediate`` transition would)."""
    operation(account, region, name).finish()


def install() -> None:
    _originals["update_stack_response"] = CloudFormationResponse.update_stack
    _originals["execute_change_set_response"] = CloudFormationResponse.execute_change_set
    _originals["execute_change_set"] = CloudFormationBackend.execute_change_set
    _originals["create_stack"] = CloudFormationBackend.create_stack
    _originals["delete_stack"] = CloudFormationBackend.delete_stack
    _originals["describe_stacks"] = CloudFormationBackend.describe_stacks
    _originals["describe_stack_events"] = CloudFormationBackend.describe_stack_events
    CloudFormationResponse._validate_status = _validate_status  # type: ignore[method-assign]
    CloudFormationResponse.update_stack = _update_stack_response  # type: ignore[method-assign]
    CloudFormationResponse.execute_change_set = _execute_change_set_response  # type: ignore[method-assign]
    CloudFormationBackend.update_stack = _update_stack  # type: ignore[method-assign]
    CloudFormationBackend.execute_change_set = _execute_change_set  # type: ignore[method-assign]
    CloudFormationBackend.create_stack = _create_stack  # type: ignore[method-assign]
    CloudFormationBackend.delete_stack = _delete_stack  # type: ignore[method-assign]
    CloudFormationBackend.describe_stacks = _describe_stacks  # type: ignore[method-assign]
    CloudFormationBackend.describe_stack_events = _describe_stack_events  # type: ignore[method-assign]
    CloudFormationResponse.cancel_update_stack = _cancel_response  # type: ignore[attr-defined]
    CloudFormationResponse.rollback_stack = _rollback_response  # type: ignore[attr-defined]
    CloudFormationResponse.continue_update_rollback = _continue_response  # type: ignore[attr-defined]
