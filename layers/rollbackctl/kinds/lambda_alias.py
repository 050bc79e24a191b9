"""Target kind: a Lambda alias (``arn:aws:lambda:REGION:ACCOUNT:function:NAME:ALIAS``).

Known-good (DESIGN.md): mid-canary, the alias's ``FunctionVersion`` is the stable one and the rollback removes
the weighted routing; moved all at once, the last version the ledger records as good. A CodeDeploy deployment
shifting the alias is stopped with rollback instead (never fought). Restorable: the version exists and is
``Active``. Versions are Lambda's own version numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..aws import AWS_ERRORS, Clients, error_code
from ..mechanisms import codedeploy
from ..model import Incident, Plan
from ..store import Ledger
from .base import Checked, ReadBack, Refusal, RestoreIncomplete, Seen, Target

ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<function>[A-Za-z0-9_-]{1,140}):(?P<alias>[A-Za-z0-9_-]{1,128})$"
)
# What `rollbackctl rollback --to` may name: a published version of the alias's own function (never $LATEST).
PUBLISHED_VERSION = re.compile(r"^[0-9]{1,10}$")


def canary_version(weights: Mapping[str, float]) -> str:
    """The version a weighted alias is shifting to (the highest of the additional versions)."""
    return sorted(weights, key=lambda v: (len(v), v))[-1]


def _weights(alias: dict[str, Any]) -> dict[str, float]:
    return dict((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})


class LambdaAlias:
    name = "lambda-alias"
    label = "a Lambda alias ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME:ALIAS)"
    gone = frozenset({"ResourceNotFoundException"}) | codedeploy.GONE
    conflict = frozenset({"PreconditionFailedException"})  # UpdateAlias with a stale RevisionId
    poll_seconds = 5
    read_actions = frozenset({"lambda:GetAlias", "lambda:ListTags", "lambda:GetFunctionConfiguration"}) | (
        codedeploy.READ_ACTIONS
    )
    write_actions = frozenset({"lambda:UpdateAlias"}) | codedeploy.WRITE_ACTIONS
    delegated_actions: frozenset[str] = frozenset()
    trail_events = frozenset({"CreateAlias20150331", "UpdateAlias20150331", "CreateDeployment"})

    # --- recognise -------------------------------------------------------------------------------------------
    def parse(self, arn: str) -> Target | None:
        match = ARN.match(arn)
        if match is None:
            return None
        function, alias = match["function"], match["alias"]
        return Target(
            arn,
            self.name,
            match["partition"],
            match["region"],
            match["account"],
            f"{function}:{alias}",
            (function, alias),
        )

    def build(self, function: str, alias: str, region: str, account: str, partition: str = "aws") -> Target | None:
        return self.parse(f"arn:{partition}:lambda:{region}:{account}:function:{function}:{alias}")

    def from_metric(self, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
        function, resource = dims.get("FunctionName"), dims.get("Resource")
        if namespace != "AWS/Lambda" or not function or not resource or not resource.startswith(f"{function}:"):
            return None
        return self.build(function, resource.split(":", 1)[1], region, account)

    def _appspec(self, deployment: dict[str, Any]) -> dict[str, Any] | None:
        if deployment.get("computePlatform") != "Lambda":
            return None
        fn = codedeploy.appspec_resource(codedeploy.appspec(deployment), "AWS::Lambda::Function")
        return fn if fn and fn.get("Name") and fn.get("Alias") else None

    def find(
        self, clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str
    ) -> Target | None:
        return None  # every metric that names this kind names it directly (from_metric)

    def from_codedeploy(self, clients: Clients, deployment: dict[str, Any], region: str, account: str) -> Target | None:
        fn = self._appspec(deployment)
        return self.build(str(fn["Name"]), str(fn["Alias"]), region, account) if fn else None

    def tags(self, clients: Clients, target: Target) -> dict[str, str]:
        function = target.arn.rsplit(":", 1)[0]
        return dict(clients.lambda_.list_tags(Resource=function).get("Tags", {}))

    # --- decide ----------------------------------------------------------------------------------------------
    def _alias(self, clients: Clients, target: Target) -> dict[str, Any]:
        function, alias_name = target.parts
        try:
            alias: dict[str, Any] = clients.lambda_.get_alias(FunctionName=function, Name=alias_name)
        except AWS_ERRORS as exc:
            if error_code(exc) in self.gone:
                raise Refusal(f"alias {target.name} does not exist; nothing to roll back") from exc
            raise
        return alias

    def plan(self, clients: Clients, target: Target, ledger: Ledger) -> Plan:
        deployment = codedeploy.active_deployment(
            clients,
            lambda d: (
                self._appspec(d) is not None
                and self.from_codedeploy(clients, d, target.region, target.account) == target
            ),
        )
        if deployment is not None:
            fn = self._appspec(deployment) or {}
            return codedeploy.plan_stop(
                self.name,
                target.arn,
                deployment,
                str(fn.get("CurrentVersion", "")),
                str(fn.get("TargetVersion", "")),
                ledger,
            )
        alias = self._alias(clients, target)
        stable, weights = str(alias["FunctionVersion"]), _weights(alias)
        details = {"function_name": target.parts[0], "alias": target.parts[1], "revision_id": alias["RevisionId"]}
        if weights:
            canary = canary_version(weights)
            if ledger.is_bad(target.arn, stable):
                raise Refusal(
                    f"alias {target.name} is mid-canary from {stable} to {canary}, but the ledger marks "
                    f"version {stable} bad; rollbackctl never rolls back into a known-bad version"
                )
            return Plan(self.name, "canary", target.arn, canary, stable, details)
        good = ledger.known_good(target.arn, stable)
        if good is None:
            raise Refusal(
                f"alias {target.name} serves version {stable} with no canary routing, and the ledger "
                "holds no known-good version to return to; rollbackctl never guesses a version"
            )
        return Plan(self.name, "repoint", target.arn, stable, good.version, details)

    def plan_to(self, clients: Clients, target: Target, version: str) -> Plan:
        if not PUBLISHED_VERSION.match(version):
            raise Refusal(
                f"{version[:80]!r} is not a published version of {target.parts[0]} (a number such as 3; never "
                "$LATEST or an alias): an alias goes back only to one of its own function's versions; nothing was "
                "changed"
            )
        alias = self._alias(clients, target)
        weights = _weights(alias)
        current = canary_version(weights) if weights else str(alias["FunctionVersion"])
        details = {"function_name": target.parts[0], "alias": target.parts[1], "revision_id": alias["RevisionId"]}
        return Plan(self.name, "repoint", target.arn, current, version, details)

    def restorable(self, clients: Clients, plan: Plan) -> Checked:
        """The version to go back to exists and is Active. (Mid-canary and under CodeDeploy, it is the version
        serving most of the traffic right now: nothing to check.)"""
        if plan.strategy != "repoint":
            return Checked()
        function = plan.details["function_name"]
        try:
            config = clients.lambda_.get_function_configuration(FunctionName=function, Qualifier=plan.to_version)
        except AWS_ERRORS as exc:
            if error_code(exc) in self.gone:
                raise Refusal(
                    f"version {plan.to_version} of {function} no longer exists, so {function}:{plan.details['alias']}"
                    " cannot go back to it; nothing was changed"
                ) from exc
            raise
        state = str(config.get("State", "Active"))
        if state != "Active":
            raise Refusal(
                f"version {plan.to_version} of {function} is {state} ({config.get('StateReason', 'no reason given')}),"
                " not Active, so it cannot take traffic; nothing was changed"
            )
        return Checked()

    # --- act, and read back ----------------------------------------------------------------------------------
    def apply(self, clients: Clients, plan: Plan) -> str | None:
        if plan.strategy == codedeploy.STRATEGY:
            return codedeploy.stop(clients, plan)
        clients.lambda_.update_alias(
            FunctionName=plan.details["function_name"],
            Name=plan.details["alias"],
            FunctionVersion=plan.to_version,
            RoutingConfig={"AdditionalVersionWeights": {}},
            RevisionId=plan.details["revision_id"],
        )
        return None

    def read_back(self, clients: Clients, plan: Plan) -> ReadBack:
        target = self.parse(plan.target)
        assert target is not None
        alias = self._alias(clients, target)
        version, weights = str(alias["FunctionVersion"]), _weights(alias)
        if version == plan.to_version and not weights:
            return "done"
        if plan.strategy == codedeploy.STRATEGY:
            return "pending"  # CodeDeploy's rollback deployment is shifting the alias back
        raise RestoreIncomplete(
            f"{plan.target} reads back as version {version} with routing {weights}, expected {plan.to_version} alone"
        )

    def serving(self, clients: Clients, target: Target) -> str | None:
        alias = self._alias(clients, target)
        return None if _weights(alias) else str(alias["FunctionVersion"])

    def versions(self, plan: Plan) -> tuple[str, str] | None:
        return plan.from_version, plan.to_version

    def artifacts(self, clients: Clients, target: Target, version: str) -> tuple[str, ...]:
        """The version's code, by its SHA-256 (GetFunctionConfiguration CodeSha256): the same zip deployed as another
        function, in another account, is the same artifact."""
        configuration = clients.lambda_.get_function_configuration(FunctionName=target.parts[0], Qualifier=version)
        digest = configuration.get("CodeSha256")
        return (f"lambda:sha256:{digest}",) if digest else ()

    # --- explain ---------------------------------------------------------------------------------------------
    def evidence(self, clients: Clients, incident: Incident, target: Target) -> list[dict[str, Any]]:
        """The bad version's own state: a version whose update failed or that is not Active says why."""
        version = incident.from_version
        if not version:
            return []
        config = clients.lambda_.get_function_configuration(FunctionName=target.parts[0], Qualifier=version)
        if config.get("LastUpdateStatus", "Successful") == "Successful" and config.get("State", "Active") == "Active":
            return []
        return [
            {
                "source": "lambda",
                "code": str(
                    config.get("LastUpdateStatusReasonCode")
                    or config.get("StateReasonCode")
                    or config.get("LastUpdateStatus")
                ),
                "message": str(config.get("LastUpdateStatusReason") or config.get("StateReason") or ""),
                "version": version,
            }
        ]

    def describe(self, plan: Plan) -> str:
        d = plan.details
        if plan.strategy == "canary":
            return (
                f"remove the canary routing of alias {d['function_name']}:{d['alias']} so version "
                f"{plan.from_version} gets no traffic and stable version {plan.to_version} gets all of it"
            )
        if plan.strategy == "repoint":
            return (
                f"point alias {d['function_name']}:{d['alias']} back from version {plan.from_version} to "
                f"known-good version {plan.to_version}"
            )
        return codedeploy.describe(plan, str)

    def link(self, target: Target, console: str) -> tuple[str, str]:
        function, alias = target.parts
        return (
            f"Lambda {target.name}",
            f"{console}/lambda/home?region={target.region}#/functions/{quote(function)}/aliases/{quote(alias)}",
        )

    # --- feed the ledger -------------------------------------------------------------------------------------
    def seen(self, event: dict[str, Any], clients: Clients) -> list[Seen]:
        detail = event.get("detail") or {}
        region, account = str(event.get("region", "")), str(event.get("account", ""))
        if event.get("detail-type") == "AWS API Call via CloudTrail":
            request = detail.get("requestParameters") or {}
            name = detail.get("eventName")
            if name in ("CreateAlias20150331", "UpdateAlias20150331"):
                weights = (request.get("routingConfig") or {}).get("additionalVersionWeights") or {}
                version = canary_version(weights) if weights else request.get("functionVersion")
                target = self.build(str(request.get("functionName")), str(request.get("name")), region, account)
                return [Seen(target.arn, str(version), "started")] if target and version else []
            if name == "CreateDeployment":
                deployment_id = (detail.get("responseElements") or {}).get("deploymentId")
                deployment = clients.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
                return self._deployed(deployment, region, account, "started")
            return []
        if event.get("source") == "aws.codedeploy" and detail.get("state") == "SUCCESS":
            deployment = clients.codedeploy.get_deployment(deploymentId=detail.get("deploymentId"))["deploymentInfo"]
            return self._deployed(deployment, region, account, "succeeded")
        return []

    def _deployed(self, deployment: dict[str, Any], region: str, account: str, what: str) -> list[Seen]:
        fn = self._appspec(deployment)
        target = self.build(str(fn["Name"]), str(fn["Alias"]), region, account) if fn else None
        if fn is None or target is None:
            return []
        actor = "" if what == "started" else "codedeploy"
        return [Seen(target.arn, str(fn.get("TargetVersion")), "started" if what == "started" else "succeeded", actor)]


LAMBDA_ALIAS = LambdaAlias()
