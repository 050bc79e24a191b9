"""Just enough IAM evaluation to compare policies across templates: intrinsics resolved for one deployment,
IAM wildcards compared, and a permissions boundary checked against what a template's roles are granted.

Used by test_pipeline.py: the controller's roles (template.yaml, translated) against the boundary in
pipeline/deploy-roles.yaml, and the pipeline's own trust and deny statements.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.static.policies import identity_statements, statement_actions, statement_resources

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "rollbackctl",
    "AWS::URLSuffix": "amazonaws.com",
}
GENERATED = "1A2B3C4D5E6F7"  # the random part of a name CloudFormation generates


class Unresolvable(Exception):
    """An intrinsic this evaluator does not know: teach it rather than guess."""


_NO_VALUE = object()


@dataclass
class Resolver:
    """Evaluates a template's intrinsics as CloudFormation would for one deployment (fixed account, region,
    stack name and parameters; generated names are STACK-LogicalId-<random>)."""

    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    pseudo: dict[str, str] = field(default_factory=lambda: dict(PSEUDO))

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters") or {}
        defaults = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        self.values: dict[str, Any] = {**defaults, **self.parameters}
        for name, spec in declared.items():  # as CloudFormation: a CommaDelimitedList is a list ("" -> [""])
            if spec.get("Type") == "CommaDelimitedList":
                self.values[name] = [item.strip() for item in str(self.values[name]).split(",")]

    # ---- references ------------------------------------------------------------------------------------

    def _resource(self, logical_id: str) -> tuple[str, dict[str, Any]]:
        resource = (self.template.get("Resources") or {}).get(logical_id)
        if resource is None:
            raise Unresolvable(f"no resource {logical_id}")
        return str(resource["Type"]), resource.get("Properties") or {}

    def _name(self, logical_id: str, props: dict[str, Any], key: str) -> str:
        if key in props:
            return str(self.resolve(props[key]))
        return f"{self.pseudo['AWS::StackName']}-{logical_id}-{GENERATED}"

    def _arn(self, service: str, rest: str, region: bool = True) -> str:
        where = f"{self.pseudo['AWS::Region'] if region else ''}:{self.pseudo['AWS::AccountId']}"
        return f"arn:{self.pseudo['AWS::Partition']}:{service}:{where}:{rest}"

    def attribute(self, logical_id: str, attribute: str | None) -> str:
        """`Ref` (attribute None) or `Fn::GetAtt` of a resource."""
        kind, props = self._resource(logical_id)
        region, account = self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"]
        if kind == "AWS::Lambda::Function":
            name = self._name(logical_id, props, "FunctionName")
            return {None: name, "Arn": self._arn("lambda", f"function:{name}")}[attribute]
        if kind == "AWS::DynamoDB::Table":
            name = self._name(logical_id, props, "TableName")
            return {None: name, "Arn": self._arn("dynamodb", f"table/{name}")}[attribute]
        if kind == "AWS::SNS::Topic":
            name = self._name(logical_id, props, "TopicName")
            arn = self._arn("sns", name)
            return {None: arn, "TopicArn": arn, "TopicName": name}[attribute]
        if kind == "AWS::SQS::Queue":
            name = self._name(logical_id, props, "QueueName")
            url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            return {None: url, "QueueUrl": url, "QueueName": name, "Arn": self._arn("sqs", name)}[attribute]
        if kind == "AWS::KMS::Key":
            key_id = f"00000000-0000-4000-8000-{logical_id.lower()[:12]:0>12}"
            return {None: key_id, "KeyId": key_id, "Arn": self._arn("kms", f"key/{key_id}")}[attribute]
        if kind == "AWS::StepFunctions::StateMachine":
            name = self._name(logical_id, props, "StateMachineName")
            arn = self._arn("states", f"stateMachine:{name}")
            return {None: arn, "Arn": arn, "Name": name}[attribute]
        if kind == "AWS::SSM::Parameter":
            return {None: self._name(logical_id, props, "Name")}[attribute]
        if kind == "AWS::IAM::Role":
            name = self._name(logical_id, props, "RoleName")
            return {None: name, "Arn": self._arn("iam", f"role/{name}", region=False)}[attribute]
        if kind == "AWS::IAM::ManagedPolicy":
            arn = self._arn("iam", f"policy/{self._name(logical_id, props, 'ManagedPolicyName')}", region=False)
            return {None: arn, "PolicyArn": arn}[attribute]
        if kind == "AWS::S3::Bucket":
            name = (
                str(self.resolve(props["BucketName"]))
                if "BucketName" in props
                else self._name(logical_id, {}, "").lower()
            )
            return {None: name, "Arn": f"arn:{self.pseudo['AWS::Partition']}:s3:::{name}"}[attribute]
        if kind == "AWS::Events::EventBus":
            name = str(self.resolve(props["Name"]))
            return {None: name, "Name": name, "Arn": self._arn("events", f"event-bus/{name}")}[attribute]
        if kind == "AWS::Events::Rule":
            name = self._name(logical_id, props, "Name")
            bus = props.get("EventBusName")
            path = f"{self.resolve(bus)}/{name}" if bus and self.resolve(bus) != "default" else name
            return {None: name, "Arn": self._arn("events", f"rule/{path}")}[attribute]
        if kind == "AWS::Logs::LogGroup":
            name = self._name(logical_id, props, "LogGroupName")
            return {None: name, "Arn": self._arn("logs", f"log-group:{name}:*")}[attribute]
        raise Unresolvable(f"{'Ref' if attribute is None else 'Fn::GetAtt ' + attribute} of {kind} {logical_id}")

    def tags(self, arn: str) -> dict[str, str]:
        """The tags of the template's resource whose ARN this is (for aws:ResourceTag conditions)."""
        for logical_id, resource in (self.template.get("Resources") or {}).items():
            try:
                own = self.attribute(logical_id, "Arn")
            except (Unresolvable, KeyError):
                continue
            if own == arn:
                tags = (resource.get("Properties") or {}).get("Tags") or []
                return {str(self.resolve(t["Key"])): str(self.resolve(t["Value"])) for t in tags}
        return {}

    # ---- conditions and intrinsics ---------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        return bool(self.resolve((self.template.get("Conditions") or {})[name]))

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        out, rest = [], text
        while "${" in rest:
            before, _, after = rest.partition("${")
            name, _, rest = after.partition("}")
            out.append(before)
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in variables:
                out.append(str(self.resolve(variables[name])))
            elif name in self.pseudo:
                out.append(self.pseudo[name])
            elif name in self.values:
                out.append(str(self.values[name]))
            elif "." in name:
                logical_id, attribute = name.split(".", 1)
                out.append(self.attribute(logical_id, attribute))
            else:
                out.append(self.attribute(name, None))
        return "".join(out) + rest

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic evaluated; AWS::NoValue removed from maps and lists."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (function, argument), *_ = value.items()
            if function == "Ref":
                if argument == "AWS::NoValue":
                    return _NO_VALUE
                if argument in self.pseudo:
                    return self.pseudo[argument]
                if argument in self.values:
                    return self.values[argument]
                return self.attribute(argument, None)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.attribute(logical_id, attribute)
            if function == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
                return self._sub(text, variables)
            if function == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(item) for item in self.resolve(items))
            if function == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if function == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if function == "Fn::If":
                name, true, false = argument
                return self.resolve(true if self.condition(name) else false)
            if function == "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return left == right
            if function == "Fn::Not":
                return not self.resolve(argument[0])
            if function == "Fn::And":
                return all(self.resolve(item) for item in argument)
            if function == "Fn::Or":
                return any(self.resolve(item) for item in argument)
            if function == "Condition":
                return self.condition(argument)
            if function.startswith("Fn::"):
                raise Unresolvable(function)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}


# ---- wildcards ----------------------------------------------------------------------------------------


def covers(pattern: str, subject: str) -> bool:
    """Whether the IAM pattern (`*`, `?`) matches every string the subject, itself a pattern, can stand for."""

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(subject)
        if pattern[i] == "*":
            return match(i + 1, j) or (j < len(subject) and match(i, j + 1))
        if j == len(subject) or subject[j] == "*":
            return False
        if pattern[i] == "?" or pattern[i] == subject[j]:
            return match(i + 1, j + 1)
        return False

    return match(0, 0)


def action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


# ---- a boundary against the roles it bounds ----------------------------------------------------------


RESOURCE_SERVICE = {"sts": "iam"}


@dataclass(frozen=True)
class Grant:
    role: str
    action: str
    resource: str


# What the AWS managed policies SAM attaches are needed for (their own statements grant "*"; the boundary
# narrows them to this). {function} is the function's name.
MANAGED_POLICY_NEEDS: dict[str, list[tuple[str, str]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        ("logs:CreateLogGroup", "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}"),
        ("logs:CreateLogStream", "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}:*"),
        ("logs:PutLogEvents", "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}:*"),
    ],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("xray:GetSamplingRules", "*"),
        ("xray:GetSamplingTargets", "*"),
        ("xray:GetSamplingStatisticSummaries", "*"),
    ],
}


def grants(translated: dict[str, Any], resolver: Resolver) -> Iterator[Grant]:
    """Every (action, resource) an Allow of the template's roles grants, resolved for one deployment; the
    managed policies SAM attaches count for what their functions use them for (MANAGED_POLICY_NEEDS)."""
    resources = translated.get("Resources") or {}

    def deployed(r: dict[str, Any]) -> bool:  # a resource whose Condition is false is not created
        return not r.get("Condition") or resolver.condition(str(r["Condition"]))

    roles = {name: r for name, r in resources.items() if r.get("Type") == "AWS::IAM::Role" and deployed(r)}
    resolved = {"Resources": {name: resolver.resolve(role) for name, role in roles.items()}}
    for st in identity_statements(resolved):
        if st.body.get("Effect") != "Allow":
            continue
        for action in statement_actions(st.body):
            for resource in statement_resources(st.body):
                # a statement may list the resources of several services: each action is about its own (an STS
                # action's resource is an IAM role)
                service = str(action).split(":")[0]
                if resource == "*" or str(resource).split(":")[2:3] == [RESOURCE_SERVICE.get(service, service)]:
                    yield Grant(st.resource, str(action), str(resource))
    users = {
        name: str(resolver.resolve(r["Properties"]["Role"]))
        for name, r in resources.items()
        if r.get("Type") == "AWS::Lambda::Function" and deployed(r)
    }
    context = {"region": resolver.pseudo["AWS::Region"], "account": resolver.pseudo["AWS::AccountId"]}
    for role_id, role in resolved["Resources"].items():
        role_arn = resolver.attribute(role_id, "Arn")
        functions = [resolver.attribute(fn, None) for fn, arn in users.items() if arn == role_arn]
        for arn in role["Properties"].get("ManagedPolicyArns") or []:
            for action, resource in MANAGED_POLICY_NEEDS[str(arn)]:
                if "{function}" not in resource:
                    yield Grant(role_id, action, resource.format(**context))
                for function in functions if "{function}" in resource else []:
                    yield Grant(role_id, action, resource.format(function=function, **context))


def _condition_holds(condition: dict[str, Any], resource: str, tags_of: Resolver) -> bool:
    for operator, entries in condition.items():
        for key, expected in entries.items():
            if operator != "StringEquals" or not key.startswith("aws:ResourceTag/"):
                return False  # a condition this cannot see: not proof that the boundary allows it
            if tags_of.tags(resource).get(key.split("/", 1)[1]) not in (
                expected if isinstance(expected, list) else [expected]
            ):
                return False
    return True


def statement_matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether the statement names this action on this resource (its Condition aside)."""
    if not any(action_matches(str(pattern), action) for pattern in statement_actions(statement)):
        return False
    if "NotResource" in statement:
        return not any(covers(str(pattern), resource) for pattern in _as_list(statement["NotResource"]))
    return any(covers(str(pattern), resource) for pattern in statement_resources(statement))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def boundary_gaps(boundary: list[dict[str, Any]], granted: list[Grant], tags_of: Resolver) -> list[str]:
    """What the roles are granted that the boundary does not allow (or denies), and what the boundary allows
    that no role is granted (a boundary wider than its roles is a door left open)."""
    gaps = []
    allows = [st for st in boundary if st.get("Effect") == "Allow"]
    denies = [st for st in boundary if st.get("Effect") == "Deny"]
    for grant in granted:
        allowed = any(
            statement_matches(st, grant.action, grant.resource)
            and _condition_holds(st.get("Condition") or {}, grant.resource, tags_of)
            for st in allows
        )
        denied = any(statement_matches(st, grant.action, grant.resource) and not st.get("Condition") for st in denies)
        if not allowed or denied:
            verdict = "denied" if denied else "not allowed"
            gaps.append(f"{grant.role}: {grant.action} on {grant.resource} is {verdict} by the boundary")
    used = {grant.action.lower() for grant in granted}
    for st in allows:
        for action in statement_actions(st):
            if "*" in str(action) or "?" in str(action):
                gaps.append(f"boundary {st.get('Sid')}: {action} - name each action the controller calls")
            elif str(action).lower() not in used:
                gaps.append(f"boundary {st.get('Sid')}: allows {action}, which no role of the controller is granted")
    return gaps
