"""Target kind: a CloudFormation stack (``arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID``).

The known-good of a stack is its previous stable state, which CloudFormation keeps and returns to by itself:
rollbackctl never names it, it asks CloudFormation to go back to it, in the one way the stack's status allows
(CloudFormation API Reference, CancelUpdateStack, RollbackStack, ContinueUpdateRollback; User Guide, "Stack status
codes", "Continue rolling back an update"):

- ``UPDATE_IN_PROGRESS``: ``CancelUpdateStack`` ("You can cancel only stacks that are in the UPDATE_IN_PROGRESS
  state"); the stack goes ``UPDATE_ROLLBACK_IN_PROGRESS`` -> ``UPDATE_ROLLBACK_COMPLETE``.
- ``UPDATE_FAILED`` (the status of an update that ran with rollback disabled): ``RollbackStack``, to the last known
  stable state.
- ``UPDATE_ROLLBACK_FAILED``: ``ContinueUpdateRollback`` without ``ResourcesToSkip`` (skipping a resource leaves it
  as it is, out of step with the template: that is a human's call). Refused, saying what to do, where it cannot
  work: the rollback already failed again after a continue, or a resource failed to roll back because it no longer
  exists (the User Guide's own example: it must be fixed or skipped).
- Already rolling back (``UPDATE_ROLLBACK_IN_PROGRESS``, ``ROLLBACK_IN_PROGRESS``, ...) or rolled back
  (``UPDATE_ROLLBACK_COMPLETE``): recorded, never fought (``AlreadyGoingBack``).
- A finished update (``UPDATE_COMPLETE``): CloudFormation cannot roll it back any more (``NoWayBack``): the pipeline
  stage that ships the stack can (``rollback:pipeline``), else the refusal says how to put it back.

Every call names the stack by its ID (the ARN), never by name: a stack deleted and created again under the same name
is another stack. No call passes ``RoleARN``: CloudFormation then uses the service role already associated with the
stack ("Provided that users have permission to operate on the stack, CloudFormation uses this role even if the users
don't have permission to pass it"), so the controller holds no ``iam:PassRole``. Without a service role CloudFormation
runs an operation with the caller's credentials, and rollbackctl's may not change the stack's resources: RollbackStack
and ContinueUpdateRollback (new operations) are refused then; CancelUpdateStack takes no role at all (the update it
stops rolls back as it ran).

Versions: ``from_version`` / ``to_version`` are the stack's statuses (the contract's words), the update named by when
it started. Statuses are not versions, so the ledger records nothing under them (``versions`` is None): the known-good
is CloudFormation's to keep, and a row "UPDATE_ROLLBACK_COMPLETE good" could never steer a decision. What Track records
for a stack is its updates: one started (``UPDATE_IN_PROGRESS``) is a deployment (the stale-alarm and watch-window
rules apply), one that completed (``UPDATE_COMPLETE``) is the stack's state known good, both named "update started T".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..aws import AWS_ERRORS, Clients, error_code
from ..model import Incident, Plan, iso
from ..store import Ledger
from .base import AlreadyGoingBack, Checked, NoWayBack, ReadBack, Refusal, RestoreIncomplete, Seen, Target

ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):cloudformation:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stack/"
    r"(?P<name>[A-Za-z][A-Za-z0-9-]{0,127})/(?P<id>[A-Za-z0-9-]{1,128})$"
)
STACK_TYPE = "AWS::CloudFormation::Stack"
STATUS_CHANGE = ("aws.cloudformation", "CloudFormation Stack Status Change")

# How the stack goes back, by the status it is in (the plan's strategy, then the call).
CANCEL, ROLLBACK, CONTINUE = "cfn-cancel-update", "cfn-rollback-stack", "cfn-continue-rollback"
GOES_BACK_FROM = {"UPDATE_IN_PROGRESS": CANCEL, "UPDATE_FAILED": ROLLBACK, "UPDATE_ROLLBACK_FAILED": CONTINUE}
BACK = "UPDATE_ROLLBACK_COMPLETE"  # the previous stable state, reached by each of the three
ROLLING_BACK = (
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    "ROLLBACK_IN_PROGRESS",
    "IMPORT_ROLLBACK_IN_PROGRESS",
)
ROLLED_BACK = ("UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE")
FINISHED = ("UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "CREATE_COMPLETE", "IMPORT_COMPLETE")
# What CloudFormation writes for the resources a cancel or a rollback interrupted: effects, not causes.
INTERRUPTED = ("Resource update cancelled", "Resource creation cancelled")
# A resource that failed to roll back because it is gone: continuing without skipping it fails again.
GONE_RESOURCE = re.compile(r"(?i)\bnot\s+found\b|does\s+not\s+exist|\bNotFound\b|\bno longer exists\b")
EVENT_PAGES = 5  # DescribeStackEvents pages read back to the start of the update (newest first)


def _missing(exc: BaseException) -> bool:
    """CloudFormation's answer for a stack that does not exist: ValidationError "Stack with id X does not exist"."""
    return error_code(exc) == "ValidationError" and "does not exist" in str(exc)


def _stack_level(event: Mapping[str, Any]) -> bool:
    return event.get("ResourceType") == STACK_TYPE and event.get("PhysicalResourceId") == event.get("StackId")


class CloudFormationStack:
    name = "cloudformation-stack"
    label = "a CloudFormation stack ARN (arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID)"
    # CloudFormation answers both "no such stack" and "not in a status that allows this call" with ValidationError.
    # A change refused so means the stack moved since triage read it: restore decides again (conflict), and the
    # new plan refuses a stack that is gone, naming it. A stack that is gone carries no tags (tags() returns {}).
    gone: frozenset[str] = frozenset()
    conflict = frozenset({"ValidationError"})
    poll_seconds = 5
    read_actions = frozenset({"cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents"})
    write_actions = frozenset(
        {"cloudformation:CancelUpdateStack", "cloudformation:RollbackStack", "cloudformation:ContinueUpdateRollback"}
    )
    # Track learns a stack's updates from CloudFormation's own Stack Status Change events, not from CloudTrail: the
    # events cover UpdateStack and ExecuteChangeSet alike, and rollbackctl's own calls never start an update.
    delegated_actions: frozenset[str] = frozenset()
    trail_events: frozenset[str] = frozenset()

    # --- recognise -------------------------------------------------------------------------------------------
    def parse(self, arn: str) -> Target | None:
        match = ARN.match(arn)
        if match is None:
            return None
        return Target(
            arn,
            self.name,
            match["partition"],
            match["region"],
            match["account"],
            match["name"],
            (match["name"], match["id"]),
        )

    def from_metric(self, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
        return None  # no metric names a stack: alarms guard one through their rollback:target tag

    def find(
        self, clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str
    ) -> Target | None:
        return None

    def from_codedeploy(self, clients: Clients, deployment: dict[str, Any], region: str, account: str) -> Target | None:
        return None

    def _describe(self, clients: Clients, arn: str) -> dict[str, Any] | None:
        """DescribeStacks by the stack's ID; None when CloudFormation knows no such stack."""
        try:
            stacks = clients.cloudformation.describe_stacks(StackName=arn).get("Stacks", [])
        except AWS_ERRORS as exc:
            if _missing(exc):
                return None
            raise
        found: dict[str, Any] | None = stacks[0] if stacks else None
        return found

    def tags(self, clients: Clients, target: Target) -> dict[str, str]:
        stack = self._describe(clients, target.arn) or {}
        return {t["Key"]: t["Value"] for t in stack.get("Tags", [])}

    # --- decide ----------------------------------------------------------------------------------------------
    def _stack(self, clients: Clients, target: Target) -> dict[str, Any]:
        stack = self._describe(clients, target.arn)
        if stack is None:
            raise Refusal(f"CloudFormation stack {target.name} ({target.arn}) does not exist; nothing to roll back")
        return stack

    def plan(self, clients: Clients, target: Target, ledger: Ledger) -> Plan:
        """The one way back CloudFormation offers from the stack's status (never a version of rollbackctl's)."""
        stack = self._stack(clients, target)
        status = str(stack.get("StackStatus", ""))
        name = target.name
        if status in ROLLING_BACK:
            raise AlreadyGoingBack(
                f"CloudFormation is already rolling stack {name} back ({status}): recorded, not fought; it goes back "
                "to its previous stable state by itself"
            )
        if status in ROLLED_BACK:
            raise AlreadyGoingBack(
                f"CloudFormation already rolled stack {name} back ({status}): it is on its previous stable state, "
                "and rollbackctl has nothing to put back"
            )
        if status in FINISHED:
            raise NoWayBack(
                f"CloudFormation stack {name} is {status}: its update finished, and CloudFormation can roll back only "
                "an update in progress or one that failed; to put it back, deploy its previous template again (the "
                "last good release through its pipeline, or aws cloudformation update-stack with that template)"
            )
        strategy = GOES_BACK_FROM.get(status)
        if strategy is None:
            raise Refusal(self._no_way_back(name, status))
        if stack.get("ParentId"):
            raise Refusal(
                f"CloudFormation stack {name} is nested in stack {stack.get('RootId') or stack['ParentId']}: "
                "CloudFormation updates and rolls back a nested stack through its root stack, so tag the root stack "
                "as the target instead; nothing was changed"
            )
        began = stack.get("LastUpdatedTime")
        update = iso(began) if began is not None else ""
        details = {
            "stack_name": name,
            "stack_id": target.arn,
            "status": status,
            "update_started": update,
            "role": str(stack.get("RoleARN") or ""),
        }
        started = f"{status} (update started {update})" if update else status
        return Plan(self.name, strategy, target.arn, started, BACK, details)

    @staticmethod
    def _no_way_back(name: str, status: str) -> str:
        if status == "CREATE_FAILED":
            return (
                f"CloudFormation stack {name} is CREATE_FAILED: it never reached a stable state, and RollbackStack "
                "would delete it; rollbackctl never deletes a stack: delete or fix it by hand"
            )
        return (
            f"CloudFormation stack {name} is {status}: CloudFormation offers no way back from it (rollbackctl goes "
            "back from UPDATE_IN_PROGRESS, UPDATE_FAILED and UPDATE_ROLLBACK_FAILED); nothing was changed"
        )

    def plan_to(self, clients: Clients, target: Target, version: str) -> Plan:
        raise Refusal(
            f"a CloudFormation stack goes back only to its previous stable state, which CloudFormation keeps: "
            f"{version[:80]!r} cannot be asked for; roll {target.name} back without --to, or deploy that template "
            "again; nothing was changed"
        )

    def restorable(self, clients: Clients, plan: Plan) -> Checked:
        """The way back can work: the previous stable state is CloudFormation's own (nothing rollbackctl can read
        ahead); a new operation needs the stack's own service role; a continued rollback needs a cause that a retry
        can get past."""
        note = "the previous stable state is CloudFormation's own record of the stack; rollbackctl cannot read it ahead"
        if plan.strategy == CANCEL:
            return Checked((note,))
        name, call = (
            plan.details["stack_name"],
            "rollback-stack" if plan.strategy == ROLLBACK else "continue-update-rollback",
        )
        by_hand = f"aws cloudformation {call} --stack-name {plan.target}"
        if not plan.details.get("role"):
            raise Refusal(
                f"CloudFormation stack {name} has no service role, so CloudFormation would roll it back with "
                "rollbackctl's own credentials, which may not change the stack's resources (a rollback that fails "
                f"leaves it UPDATE_ROLLBACK_FAILED); run it with credentials that may: {by_hand}; nothing was changed"
            )
        if plan.strategy == CONTINUE:
            self._continue_can_work(clients, plan, by_hand)
        return Checked((note,))

    def _continue_can_work(self, clients: Clients, plan: Plan, by_hand: str) -> None:
        name = plan.details["stack_name"]
        events = self._update_events(clients, plan.target)
        failures = [e for e in events if _stack_level(e) and e.get("ResourceStatus") == "UPDATE_ROLLBACK_FAILED"]
        stuck = self._failed_to_roll_back(events)
        named = "; ".join(f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"[:300] for e in stuck)
        if len(failures) > 1:
            raise Refusal(
                f"the rollback of CloudFormation stack {name} already failed {len(failures)} times "
                f"({named or 'no resource named'}): continuing it again without a fix fails again; fix what the "
                f"reasons say, then "
                f"{by_hand} (skipping a resource with --resources-to-skip is a human's call, never rollbackctl's); "
                "nothing was changed"
            )
        gone = [e["LogicalResourceId"] for e in stuck if GONE_RESOURCE.search(str(e.get("ResourceStatusReason", "")))]
        if gone:
            raise Refusal(
                f"CloudFormation stack {name} cannot finish rolling back: {', '.join(gone)} failed because it no "
                f"longer exists ({named}); CloudFormation can continue past it only by skipping it, which rollbackctl "
                f"never does: recreate it, or skip it by hand: {by_hand} --resources-to-skip {' '.join(gone)}; "
                "nothing was changed"
            )

    # --- stack events ---------------------------------------------------------------------------------------
    def _update_events(self, clients: Clients, arn: str) -> list[dict[str, Any]]:
        """The stack's events since its latest update started (newest first), as far as EVENT_PAGES pages reach."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(EVENT_PAGES):
            page = clients.cloudformation.describe_stack_events(
                StackName=arn, **({"NextToken": token} if token else {})
            )
            for event in page.get("StackEvents", []):
                found.append(event)
                if _stack_level(event) and event.get("ResourceStatus") == "UPDATE_IN_PROGRESS":
                    return found
            token = page.get("NextToken")
            if not token:
                break
        return found

    @staticmethod
    def _failed_to_roll_back(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The resources in UPDATE_FAILED since the latest rollback started (newest first): the ones ResourcesToSkip
        could name ("only resources that are in the UPDATE_FAILED state because a rollback failed")."""
        stuck: dict[str, dict[str, Any]] = {}
        for event in events:
            if _stack_level(event) and event.get("ResourceStatus") == "UPDATE_ROLLBACK_IN_PROGRESS":
                break
            if not _stack_level(event) and event.get("ResourceStatus") == "UPDATE_FAILED":
                stuck.setdefault(str(event.get("LogicalResourceId")), event)
        return list(stuck.values())

    def _newest_event(self, clients: Clients, arn: str) -> str:
        events = clients.cloudformation.describe_stack_events(StackName=arn).get("StackEvents", [])
        return str(events[0]["EventId"]) if events else ""

    def _moved_since(self, clients: Clients, arn: str, marker: str) -> bool:
        """Whether CloudFormation changed the stack's status since the event ``marker`` (before the change)."""
        for event in self._update_events(clients, arn):
            if event.get("EventId") == marker:
                return False
            if _stack_level(event):
                return True
        return not marker

    # --- act, and read back ----------------------------------------------------------------------------------
    def apply(self, clients: Clients, plan: Plan) -> str | None:
        cf, stack_id, name = clients.cloudformation, plan.details["stack_id"], plan.details["stack_name"]
        plan.details["events_before"] = self._newest_event(clients, stack_id)  # read_back tells its effect apart
        if plan.strategy == CANCEL:
            cf.cancel_update_stack(StackName=stack_id)
            return (
                f"CloudFormation is cancelling the update of stack {name}, rolling it back to its previous stable state"
            )
        if plan.strategy == ROLLBACK:
            cf.rollback_stack(StackName=stack_id)
            return f"CloudFormation is rolling stack {name} back from UPDATE_FAILED to its previous stable state"
        cf.continue_update_rollback(StackName=stack_id)
        return f"CloudFormation is continuing the failed rollback of stack {name}, skipping no resource"

    def read_back(self, clients: Clients, plan: Plan) -> ReadBack:
        name = plan.details["stack_name"]
        stack = self._describe(clients, plan.target)
        if stack is None:
            raise RestoreIncomplete(f"CloudFormation stack {name} no longer exists ({plan.target})")
        status = str(stack.get("StackStatus", ""))
        if status == BACK:
            return "done"
        if status in ROLLING_BACK:
            return "pending"
        if status == plan.details.get("status") and not self._moved_since(
            clients, plan.target, plan.details.get("events_before", "")
        ):
            return "pending"  # CloudFormation has not started on it yet
        stuck = self._failed_to_roll_back(self._update_events(clients, plan.target))
        failed = "; ".join(f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"[:300] for e in stuck)
        reason = str(stack.get("StackStatusReason") or "")
        raise RestoreIncomplete(
            f"CloudFormation stack {name} reads back {status}, not {BACK}"
            + (f": {reason}" if reason else "")
            + (f" (failed: {failed})" if failed else "")
        )

    def serving(self, clients: Clients, target: Target) -> str | None:
        stack = self._describe(clients, target.arn)
        return str(stack["StackStatus"]) if stack else None

    def versions(self, plan: Plan) -> tuple[str, str] | None:
        return None  # statuses, not versions: see the module's docstring

    def artifacts(self, clients: Clients, target: Target, version: str) -> tuple[str, ...]:
        return ()  # a status is no artifact: what a stack ships is its pipeline's source revisions

    # --- explain ---------------------------------------------------------------------------------------------
    def evidence(self, clients: Clients, incident: Incident, target: Target) -> list[dict[str, Any]]:
        """The resources that failed in the stack's latest update, with CloudFormation's reasons (oldest first: the
        first failure is the cause, what follows is often its effect)."""
        console = f"https://{target.region}.console.aws.amazon.com/cloudformation/home?region={target.region}"
        link = f"{console}#/stacks/events?stackId={quote(target.arn, safe='')}"
        found = []
        for event in reversed(self._update_events(clients, target.arn)):
            status, reason = str(event.get("ResourceStatus", "")), str(event.get("ResourceStatusReason", ""))
            if _stack_level(event) or not status.endswith("_FAILED") or reason in INTERRUPTED:
                continue
            found.append(
                {
                    "source": "cloudformation",
                    "code": status,
                    "message": reason,
                    "resource": str(event.get("LogicalResourceId", "")),
                    "type": str(event.get("ResourceType", "")),
                    "stack": target.name,
                    "at": iso(event["Timestamp"]) if event.get("Timestamp") else "",
                    "link": link,
                }
            )
        return found

    def describe(self, plan: Plan) -> str:
        name = plan.details["stack_name"]
        if plan.strategy == CANCEL:
            return (
                f"cancel the update of CloudFormation stack {name} (CancelUpdateStack), so CloudFormation rolls it "
                "back to its previous stable state"
            )
        if plan.strategy == ROLLBACK:
            return (
                f"roll CloudFormation stack {name} back from UPDATE_FAILED to its previous stable state (RollbackStack)"
            )
        return (
            f"continue the failed rollback of CloudFormation stack {name} to its previous stable state "
            "(ContinueUpdateRollback, skipping no resource)"
        )

    def link(self, target: Target, console: str) -> tuple[str, str]:
        return (
            f"CloudFormation stack {target.name}",
            f"{console}/cloudformation/home?region={target.region}#/stacks/stackinfo?stackId="
            f"{quote(target.arn, safe='')}",
        )

    # --- feed the ledger -------------------------------------------------------------------------------------
    def seen(self, event: dict[str, Any], clients: Clients) -> list[Seen]:
        """An update started (a deployment) or completed (the stack's state known good), named by when it started."""
        if (event.get("source"), event.get("detail-type")) != STATUS_CHANGE:
            return []
        detail = event.get("detail") or {}
        status = str((detail.get("status-details") or {}).get("status", ""))
        target = self.parse(str(detail.get("stack-id", "")))
        if target is None or status not in ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"):
            return []
        stack = self._describe(clients, target.arn)
        began = (stack or {}).get("LastUpdatedTime")
        if began is None:
            return []
        version = f"update started {iso(began)}"
        if status == "UPDATE_IN_PROGRESS":
            return [Seen(target.arn, version, "started", "cloudformation")]
        return [Seen(target.arn, version, "succeeded", "cloudformation")]


CLOUDFORMATION_STACK = CloudFormationStack()
