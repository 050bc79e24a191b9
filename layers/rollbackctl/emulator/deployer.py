"""Deploy template.yaml into the emulator, the way ``sam deploy`` would, through the AWS APIs; and
member/template.yaml into a member account and region, the way the member StackSet would (``deploy_member``).

Reads the template with cfn-lint's decoder (it understands the intrinsic functions), resolves
Parameters (defaults, then ``--parameter-overrides``), creates the resources in dependency order and
records the stack's Outputs as a CloudFormation stack, so ``rollbackctl run`` and ``history`` find the
controller by stack name exactly as they do in AWS.

A stack goes into the account and region asked for (the emulator's own by default), through clients acting
there (``Emulator.client``); AWS::AccountId and AWS::Region follow.

IAM identity policies are not enforced by the emulator: SAM ``Policies`` are read, not applied, and KMS key
policies are stored, not enforced; roles' trust policies and event buses' policies are (``sts.py``,
``buses.py``). Every other resource type the template uses is created for real (reserved concurrency, event
invoke configs, alarms and the dashboard included, though nothing in the emulator throttles or evaluates
them); an unknown type is an error, never silently skipped.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import string
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core import ACCOUNT, Emulator

PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")
LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
STATES_TRUST = LAMBDA_TRUST.replace("lambda.amazonaws.com", "states.amazonaws.com")


class DeployError(RuntimeError):
    """The template cannot be deployed as asked; nothing is left half-explained."""


@dataclass
class Deployment:
    stack_name: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> function name
    account: str = ACCOUNT  # where the stack was deployed
    region: str = "us-east-1"


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``Key=Value`` tokens (as ``sam deploy --parameter-overrides``), or ParameterKey=K,ParameterValue=V."""
    result: dict[str, str] = {}
    for raw in items:
        for token in raw.split():
            if token.startswith("ParameterKey="):
                parts = dict(p.split("=", 1) for p in token.split(",") if "=" in p)
                if "ParameterValue" not in parts:
                    raise DeployError(f"parameter override {token!r} has no ParameterValue")
                result[parts["ParameterKey"]] = parts["ParameterValue"]
            elif "=" in token:
                key, value = token.split("=", 1)
                result[key] = value
            else:
                raise DeployError(f"parameter override {token!r} is not Key=Value")
    return result


def load_template(path: Path) -> dict[str, Any]:
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if matches or template is None:
        raise DeployError(f"{path}: {'; '.join(str(m) for m in matches) or 'cannot be read'}")
    return dict(template)


def _suffix() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))


class Stack:
    def __init__(
        self,
        template: dict[str, Any],
        stack_name: str,
        region: str,
        parameters: dict[str, str],
        account: str = ACCOUNT,
    ):
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.account = account
        self.parameters = parameters
        self.refs: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str]] = {}
        self.conditions: dict[str, bool] = {}
        for name, expr in (template.get("Conditions") or {}).items():
            self.conditions[name] = bool(self.resolve(expr))

    # --- intrinsic functions ------------------------------------------------------------------------
    def ref(self, name: str) -> Any:
        if name in self.parameters:
            if (self.template.get("Parameters") or {}).get(name, {}).get("Type") == "CommaDelimitedList":
                return [item.strip() for item in self.parameters[name].split(",")]  # as CloudFormation: "" -> [""]
            return self.parameters[name]
        if name == "AWS::Region":
            return self.region
        if name == "AWS::StackName":
            return self.stack_name
        if name == "AWS::AccountId":
            return self.account
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.refs:
            return self.refs[name]
        raise DeployError(f"Ref {name!r}: no such parameter or (not yet created) resource")

    def get_att(self, resource: str, attribute: str) -> str:
        try:
            return self.attrs[resource][attribute]
        except KeyError:
            raise DeployError(f"Fn::GetAtt {resource}.{attribute} is not available in the emulator") from None

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.template.get("Resources", {}):
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        return SUB_VAR.sub(one, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(i) for i in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(resource, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
                return self.sub(arg, {})
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::If":
                return self.resolve(arg[1] if self.conditions[arg[0]] else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.conditions[arg]
            if key.startswith("Fn::"):
                raise DeployError(f"{key} is not supported by the emulator's deployer")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}


_NO_VALUE = object()


def _references(value: Any, resources: set[str]) -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item, resources)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str) and arg.split(".", 1)[0] in resources:
                found.add(arg.split(".", 1)[0])  # FUNCTION.Alias: the function's published alias (AutoPublishAlias)
            elif key == "Fn::GetAtt":
                found.add((arg if isinstance(arg, list) else arg.split(".", 1))[0])
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {m.split(".", 1)[0] for m in SUB_VAR.findall(text)} & resources
                if isinstance(arg, list):
                    found |= _references(arg[1], resources)
            else:
                found |= _references(arg, resources)
    return found


def _order(template: dict[str, Any]) -> list[str]:
    resources: dict[str, Any] = template.get("Resources", {})
    names = set(resources)
    globals_fn = (template.get("Globals") or {}).get("Function", {})
    deps: dict[str, set[str]] = {}
    for name, body in resources.items():
        depends = body.get("DependsOn", [])
        refs = _references(body.get("Properties", {}), names) | set([depends] if isinstance(depends, str) else depends)
        if body.get("Type") == "AWS::Serverless::Function":
            refs |= _references(globals_fn, names)
        deps[name] = {_owner_of(ref, resources) for ref in refs} - {name}
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise DeployError(f"circular dependency through {name}")
        visiting.add(name)
        for dep in sorted(deps[name]):
            visit(dep)
        visiting.discard(name)
        ordered.append(name)

    for name in sorted(resources):
        visit(name)
    return ordered


def _owner_of(name: str, resources: dict[str, Any]) -> str:
    """A resource SAM generates for another (``XRole`` of function ``X``) is created with it."""
    if name not in resources and name.endswith("Role"):
        parent = resources.get(name[: -len("Role")], {})
        if parent.get("Type") in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            return name[: -len("Role")]
    if name not in resources:
        raise DeployError(f"{name} is referenced but is not a resource of the template")
    return name


def _merge_globals(props: dict[str, Any], globals_fn: dict[str, Any]) -> dict[str, Any]:
    """SAM Globals: the function's scalars win, maps merge, lists add up."""
    merged = dict(globals_fn)
    for key, value in props.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = _merge_globals(value, base)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


def _zip_dir(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        files = [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts] if folder.is_dir() else []
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
        if not files:
            archive.writestr("README", "placeholder")
    return buffer.getvalue()


class _Deployer:
    def __init__(self, emulator: Emulator, stack: Stack, base: Path) -> None:
        self.emulator = emulator
        self.stack = stack
        self.client: Callable[[str], Any] = lambda service: emulator.client(service, stack.account, stack.region)
        self.base = base
        self.functions: dict[str, str] = {}
        self.policies: dict[str, dict[str, Any]] = {}  # resource-based policies moto cannot hold
        self.handlers: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::Serverless::LayerVersion": self.layer,
            "AWS::Serverless::Function": self.function,
            "AWS::Serverless::StateMachine": self.state_machine,
            "AWS::SQS::Queue": self.queue,
            "AWS::SQS::QueuePolicy": self.queue_policy,
            "AWS::DynamoDB::Table": self.table,
            "AWS::SSM::Parameter": self.parameter,
            "AWS::SNS::Topic": self.topic,
            "AWS::KMS::Key": self.key,
            "AWS::KMS::Alias": self.alias,
            "AWS::Logs::LogGroup": self.log_group,
            "AWS::CloudWatch::Alarm": self.alarm,
            "AWS::CloudWatch::Dashboard": self.dashboard,
            "AWS::IAM::Role": self.iam_role,
            "AWS::Events::Rule": self.events_rule,
            "AWS::Events::EventBus": self.event_bus,
            "AWS::CloudFormation::WaitConditionHandle": self.wait_condition_handle,
            "AWS::SNS::TopicPolicy": self.topic_policy,
            "AWS::Lambda::ResourcePolicy": self.function_policy,
            "AWS::Lambda::Url": self.function_url,
            "AWS::Lambda::Permission": self.function_permission,
        }

    def name(self, logical: str, limit: int = 64) -> str:
        return f"{self.stack.stack_name}-{logical}-{_suffix()}"[:limit]

    def role(self, logical: str, trust: str) -> str:
        """The role SAM generates for a function or state machine (``LogicalIdRole``, which !GetAtt can name)."""
        iam = self.client("iam")
        role_name = f"{self.stack.stack_name}-{logical}Role"[:64]
        arn = str(iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
        self.stack.refs[f"{logical}Role"] = role_name
        self.stack.attrs[f"{logical}Role"] = {"Arn": arn}
        return arn

    def create(self, logical: str, body: dict[str, Any]) -> None:
        kind = body.get("Type", "")
        handler = self.handlers.get(kind)
        if handler is None:
            raise DeployError(f"resource {logical} has type {kind}, which the emulator's deployer does not create")
        props = body.get("Properties", {})
        if kind == "AWS::Serverless::Function":
            props = _merge_globals(props, (self.stack.template.get("Globals") or {}).get("Function", {}))
        handler(logical, self.stack.resolve(props))

    # --- resource types -----------------------------------------------------------------------------
    def layer(self, logical: str, p: dict[str, Any]) -> None:
        response = self.client("lambda").publish_layer_version(
            LayerName=p.get("LayerName") or self.name(logical),
            Description=p.get("Description", ""),
            Content={"ZipFile": _zip_dir(self.base / p["ContentUri"])},
            CompatibleRuntimes=p.get("CompatibleRuntimes", []),
        )
        self.stack.refs[logical] = response["LayerVersionArn"]

    def function(self, logical: str, p: dict[str, Any]) -> None:
        name = p.get("FunctionName") or self.name(logical)
        code_dir = (self.base / p["CodeUri"]).resolve()
        variables = {k: str(v) for k, v in ((p.get("Environment") or {}).get("Variables") or {}).items()}
        snap_start = p.get("SnapStart") or {}
        response = self.client("lambda").create_function(
            **({"SnapStart": {"ApplyOn": str(snap_start["ApplyOn"])}} if snap_start.get("ApplyOn") else {}),
            FunctionName=name,
            Runtime=p["Runtime"],
            Role=self.role(logical, LAMBDA_TRUST),
            Handler=p["Handler"],
            Code={"ZipFile": _zip_dir(code_dir)},
            Description=p.get("Description", ""),
            Timeout=int(p.get("Timeout", 3)),
            MemorySize=int(p.get("MemorySize", 128)),
            Environment={"Variables": variables},
            Layers=p.get("Layers", []),
            TracingConfig={"Mode": p.get("Tracing", "PassThrough")},
        )
        lam = self.client("lambda")
        if "ReservedConcurrentExecutions" in p:
            lam.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(p["ReservedConcurrentExecutions"])
            )
        if "EventInvokeConfig" in p:
            lam.put_function_event_invoke_config(FunctionName=name, **_event_invoke_config(p["EventInvokeConfig"]))
        self.emulator.runtime.register(name, code_dir)
        self.rules(logical, p.get("Events") or {}, response["FunctionArn"], None)
        self.functions[logical] = name
        self.stack.refs[logical] = name
        self.stack.attrs[logical] = {"Arn": response["FunctionArn"]}
        alias = p.get("AutoPublishAlias")
        if alias:
            # SAM's AutoPublishAlias: a version published from the code, and the alias on it (referenced as
            # FUNCTION.Alias, or by SAM's logical id FUNCTIONAliasALIAS); SAM Developer Guide, AutoPublishAlias.
            version = lam.publish_version(FunctionName=name)["Version"]
            alias_arn = lam.create_alias(FunctionName=name, Name=str(alias), FunctionVersion=version)["AliasArn"]
            self.stack.refs[f"{logical}.Alias"] = self.stack.refs[f"{logical}Alias{alias}"] = alias_arn
            self.stack.refs[f"{logical}.Version"] = f"{response['FunctionArn']}:{version}"

    def state_machine(self, logical: str, p: dict[str, Any]) -> None:
        definition = (self.base / p["DefinitionUri"]).read_text()
        substitutions = {k: str(v) for k, v in (p.get("DefinitionSubstitutions") or {}).items()}
        for key, value in substitutions.items():
            definition = definition.replace("${" + key + "}", value)
        leftover = SUB_VAR.findall(definition)
        if leftover:
            raise DeployError(f"{p['DefinitionUri']}: placeholders without a DefinitionSubstitution: {leftover}")
        json.loads(definition)
        sfn = self.client("stepfunctions")
        arn = sfn.create_state_machine(
            name=p.get("Name") or self.name(logical, 80),
            definition=definition,
            roleArn=self.role(logical, STATES_TRUST),
            type=p.get("Type", "STANDARD"),
        )["stateMachineArn"]
        self.stack.refs[logical] = arn
        self.stack.attrs[logical] = {"Arn": arn, "Name": arn.rsplit(":", 1)[-1]}
        self.rules(logical, p.get("Events") or {}, arn, self.role(f"{logical}Events", STATES_TRUST))

    def rules(self, logical: str, events_spec: dict[str, Any], target_arn: str, role: str | None) -> None:
        """SAM EventBridgeRule events: a rule per event, targeting the function or state machine."""
        events = self.client("events")
        for event_name, event in events_spec.items():
            if event.get("Type") != "EventBridgeRule":
                raise DeployError(f"{logical}.Events.{event_name}: type {event.get('Type')} is not emulated")
            ep = event.get("Properties", {})
            rule = f"{self.stack.stack_name}-{logical}{event_name}"[:64]
            bus = ep.get("EventBusName", "default")
            events.put_rule(
                Name=rule, EventPattern=json.dumps(ep["Pattern"]), State=ep.get("State", "ENABLED"), EventBusName=bus
            )
            target: dict[str, Any] = {"Id": f"{logical}{event_name}Target"[:64], "Arn": target_arn}
            if role:
                target["RoleArn"] = role
            for key in ("DeadLetterConfig", "RetryPolicy", "Input", "InputPath"):
                if key in ep:
                    target[key] = ep[key]
            events.put_targets(Rule=rule, EventBusName=bus, Targets=[target])

    def iam_role(self, logical: str, p: dict[str, Any]) -> None:
        """AWS::IAM::Role: created with its trust and inline policies, which are stored, not enforced."""
        iam = self.client("iam")
        name = p.get("RoleName") or self.name(logical, 64)
        kwargs: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": json.dumps(p["AssumeRolePolicyDocument"]),
        }
        if p.get("Description"):
            kwargs["Description"] = p["Description"]
        arn = iam.create_role(**kwargs)["Role"]["Arn"]
        for policy in p.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )
        self.stack.refs[logical] = name
        self.stack.attrs[logical] = {"Arn": arn, "RoleId": name}

    def events_rule(self, logical: str, p: dict[str, Any]) -> None:
        """AWS::Events::Rule with its targets (a role, retry policy and dead-letter queue each)."""
        events = self.client("events")
        name = p.get("Name") or self.name(logical, 64)
        bus = p.get("EventBusName", "default")
        kwargs: dict[str, Any] = {"Name": name, "State": p.get("State", "ENABLED"), "EventBusName": bus}
        if "EventPattern" in p:
            kwargs["EventPattern"] = json.dumps(p["EventPattern"])
        if "Description" in p:
            kwargs["Description"] = p["Description"]
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = [
            {
                k: v
                for k, v in target.items()
                if k in ("Id", "Arn", "RoleArn", "Input", "InputPath", "RetryPolicy", "DeadLetterConfig")
            }
            for target in p.get("Targets", [])
        ]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        self.stack.refs[logical] = name
        self.stack.attrs[logical] = {"Arn": arn}

    def wait_condition_handle(self, logical: str, p: dict[str, Any]) -> None:
        """AWS::CloudFormation::WaitConditionHandle: nothing is created; Ref is the presigned URL CloudFormation
        would hand out for signals (nothing here signals)."""
        self.stack.refs[logical] = (
            f"https://cloudformation-waitcondition-{self.stack.region}.s3.amazonaws.com/{logical}"
        )

    def event_bus(self, logical: str, p: dict[str, Any]) -> None:
        """AWS::Events::EventBus, with its resource-based policy (``Policy``) set through PutPermission's Policy, as
        CloudFormation does; the emulator enforces it when another account's rule sends to the bus (buses.py)."""
        events = self.client("events")
        name = p["Name"]
        kwargs: dict[str, Any] = {"Name": name}
        if p.get("Description"):
            kwargs["Description"] = p["Description"]
        if p.get("Tags"):
            kwargs["Tags"] = [{"Key": t["Key"], "Value": str(t["Value"])} for t in p["Tags"]]
        arn = events.create_event_bus(**kwargs)["EventBusArn"]
        policy = p.get("Policy")
        if policy:
            events.put_permission(EventBusName=name, Policy=policy if isinstance(policy, str) else json.dumps(policy))
        self.stack.refs[logical] = name
        self.stack.attrs[logical] = {"Arn": arn, "Name": name, "Policy": json.dumps(policy) if policy else ""}

    def function_policy(self, logical: str, p: dict[str, Any]) -> None:
        """AWS::Lambda::ResourcePolicy (PutResourcePolicy): moto has no resource-based policies for functions, and
        the emulator enforces no IAM; the policy is kept with the deployment, read, not enforced."""
        self.policies[logical] = {"ResourceArn": p["ResourceArn"], "Policy": p["PolicyDocument"]}
        self.stack.refs[logical] = str(p["ResourceArn"])

    def function_url(self, logical: str, p: dict[str, Any]) -> None:
        """AWS::Lambda::Url (CloudFormation User Guide, "AWS::Lambda::Url"; Lambda API Reference,
        CreateFunctionUrlConfig): Ref is the function's ARN, its FunctionUrl attribute the URL moto made."""
        made = self.client("lambda").create_function_url_config(
            FunctionName=p["TargetFunctionArn"], AuthType=p["AuthType"], InvokeMode=p.get("InvokeMode", "BUFFERED")
        )
        self.stack.refs[logical] = made["FunctionArn"]
        self.stack.attrs[logical] = {"FunctionUrl": made["FunctionUrl"], "FunctionArn": made["FunctionArn"]}

    def function_permission(self, logical: str, p: dict[str, Any]) -> None:
        """AWS::Lambda::Permission (CloudFormation User Guide, "AWS::Lambda::Permission"; Lambda API Reference,
        AddPermission): moto keeps the statement; the emulator invokes in process and does not evaluate a function's
        resource-based policy (nor does it serve function URLs over HTTP)."""
        extra = {"FunctionUrlAuthType": p["FunctionUrlAuthType"]} if "FunctionUrlAuthType" in p else {}
        self.client("lambda").add_permission(
            FunctionName=p["FunctionName"],
            StatementId=logical,
            Action=p["Action"],
            Principal=p["Principal"],
            **extra,
        )
        self.stack.refs[logical] = logical

    def topic_policy(self, logical: str, p: dict[str, Any]) -> None:
        sns = self.client("sns")
        for topic in p["Topics"]:
            sns.set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(p["PolicyDocument"])
            )
        self.stack.refs[logical] = logical

    def queue(self, logical: str, p: dict[str, Any]) -> None:
        sqs = self.client("sqs")
        attributes = {
            k: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in p.items()
            if k
            in ("MessageRetentionPeriod", "VisibilityTimeout", "SqsManagedSseEnabled", "DelaySeconds", "KmsMasterKeyId")
        }
        name = p.get("QueueName") or self.name(logical, 80)
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.stack.refs[logical] = url
        self.stack.attrs[logical] = {"Arn": arn, "QueueName": arn.rsplit(":", 1)[-1], "QueueUrl": url}

    def queue_policy(self, logical: str, p: dict[str, Any]) -> None:
        sqs = self.client("sqs")
        for url in p["Queues"]:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
        self.stack.refs[logical] = logical

    def table(self, logical: str, p: dict[str, Any]) -> None:
        name = p.get("TableName") or self.name(logical, 255)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": p["AttributeDefinitions"],
            "KeySchema": p["KeySchema"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if "SSESpecification" in p:
            sse = p["SSESpecification"]
            kwargs["SSESpecification"] = {"Enabled": _true(sse.get("SSEEnabled"))}
            if "SSEType" in sse:
                kwargs["SSESpecification"]["SSEType"] = sse["SSEType"]
            if "KMSMasterKeyId" in sse:
                kwargs["SSESpecification"]["KMSMasterKeyId"] = str(sse["KMSMasterKeyId"])
        if "ProvisionedThroughput" in p:
            kwargs["ProvisionedThroughput"] = p["ProvisionedThroughput"]
        if "GlobalSecondaryIndexes" in p:
            kwargs["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        ddb = self.client("dynamodb")
        arn = ddb.create_table(**kwargs)["TableDescription"]["TableArn"]
        if "TimeToLiveSpecification" in p:
            ttl = p["TimeToLiveSpecification"]
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl.get("Enabled"))},
            )
        if "PointInTimeRecoverySpecification" in p:
            pitr = p["PointInTimeRecoverySpecification"]
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": _true(pitr.get("PointInTimeRecoveryEnabled"))
                },
            )
        self.stack.refs[logical] = name
        self.stack.attrs[logical] = {"Arn": arn}

    def parameter(self, logical: str, p: dict[str, Any]) -> None:
        name = p.get("Name") or f"CFN-{self.name(logical)}"
        self.client("ssm").put_parameter(
            Name=name, Type=p.get("Type", "String"), Value=str(p["Value"]), Description=p.get("Description", "")
        )
        self.stack.refs[logical] = name
        self.stack.attrs[logical] = {"Type": p.get("Type", "String"), "Value": str(p["Value"])}

    def topic(self, logical: str, p: dict[str, Any]) -> None:
        attributes = {k: str(p[k]) for k in ("DisplayName", "KmsMasterKeyId") if k in p}
        name = p.get("TopicName") or self.name(logical, 256)
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        self.stack.refs[logical] = arn
        self.stack.attrs[logical] = {"TopicArn": arn, "TopicName": name}

    def key(self, logical: str, p: dict[str, Any]) -> None:
        kms = self.client("kms")
        kwargs: dict[str, Any] = {
            "Description": str(p.get("Description", "")),
            "KeyUsage": p.get("KeyUsage", "ENCRYPT_DECRYPT"),
            "KeySpec": p.get("KeySpec", "SYMMETRIC_DEFAULT"),
        }
        if "KeyPolicy" in p:
            policy = p["KeyPolicy"]
            kwargs["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        if p.get("Tags"):
            kwargs["Tags"] = [{"TagKey": t["Key"], "TagValue": str(t["Value"])} for t in p["Tags"]]
        metadata = kms.create_key(**kwargs)["KeyMetadata"]
        if _true(p.get("EnableKeyRotation")):
            kms.enable_key_rotation(KeyId=metadata["KeyId"])
        self.stack.refs[logical] = metadata["KeyId"]
        self.stack.attrs[logical] = {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]}

    def alias(self, logical: str, p: dict[str, Any]) -> None:
        self.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=str(p["TargetKeyId"]))
        self.stack.refs[logical] = p["AliasName"]

    def log_group(self, logical: str, p: dict[str, Any]) -> None:
        name = p.get("LogGroupName") or f"{self.stack.stack_name}-{logical}-{_suffix()}"
        logs = self.client("logs")
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in p:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))
        self.stack.refs[logical] = name
        self.stack.attrs[logical] = {"Arn": f"arn:aws:logs:{self.stack.region}:{self.stack.account}:log-group:{name}:*"}

    def alarm(self, logical: str, p: dict[str, Any]) -> None:
        """AWS::CloudWatch::Alarm: its properties are PutMetricAlarm's parameters (metric or metric math)."""
        kwargs: dict[str, Any] = {k: v for k, v in p.items() if k in _ALARM_PARAMETERS}
        kwargs["AlarmName"] = p.get("AlarmName") or self.name(logical, 255)
        if "Threshold" in kwargs:
            kwargs["Threshold"] = float(kwargs["Threshold"])
        for integer in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if integer in kwargs:
                kwargs[integer] = int(kwargs[integer])
        if "ActionsEnabled" in kwargs:
            kwargs["ActionsEnabled"] = _true(kwargs["ActionsEnabled"])
        if "Metrics" in kwargs:
            kwargs["Metrics"] = [_metric_query(query) for query in kwargs["Metrics"]]
        cloudwatch = self.client("cloudwatch")
        cloudwatch.put_metric_alarm(**kwargs)
        (described,) = cloudwatch.describe_alarms(AlarmNames=[kwargs["AlarmName"]])["MetricAlarms"]
        self.stack.refs[logical] = kwargs["AlarmName"]
        self.stack.attrs[logical] = {"Arn": described["AlarmArn"]}

    def dashboard(self, logical: str, p: dict[str, Any]) -> None:
        name = p.get("DashboardName") or f"{self.stack.stack_name}-{logical}-{_suffix()}"
        body = p["DashboardBody"]
        try:
            json.loads(body)
        except (TypeError, ValueError) as exc:
            raise DeployError(f"{logical}: DashboardBody is not valid JSON after substitution ({exc})") from None
        self.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=body)
        self.stack.refs[logical] = name


_ALARM_PARAMETERS = {
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
}


def _true(value: Any) -> bool:
    """A CloudFormation boolean: true, "true" or "True" (parameters and YAML both end up here)."""
    return value is True or str(value).lower() == "true"


def _metric_query(query: dict[str, Any]) -> dict[str, Any]:
    """A MetricDataQuery as PutMetricAlarm takes it (CloudFormation's is the same shape, with strings)."""
    result = dict(query)
    if "ReturnData" in result:
        result["ReturnData"] = _true(result["ReturnData"])
    if "Period" in result:
        result["Period"] = int(result["Period"])
    if "MetricStat" in result:
        stat = dict(result["MetricStat"])
        stat["Period"] = int(stat["Period"])
        result["MetricStat"] = stat
    return result


def _event_invoke_config(config: dict[str, Any]) -> dict[str, Any]:
    """SAM's EventInvokeConfig as PutFunctionEventInvokeConfig takes it (the destination's Type is SAM's own)."""
    kwargs: dict[str, Any] = {}
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if key in config:
            kwargs[key] = int(config[key])
    destinations = {
        outcome: {"Destination": str(spec["Destination"])}
        for outcome, spec in (config.get("DestinationConfig") or {}).items()
        if isinstance(spec, dict) and spec.get("Destination")
    }
    if destinations:
        kwargs["DestinationConfig"] = destinations
    return kwargs


def resolve_parameters(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    declared: dict[str, Any] = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise DeployError(f"Parameters: {unknown} do not exist in the template")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise DeployError(f"Parameters: [{name}] must have values (no default, no override)")
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise DeployError(f"Parameter {name}={value!r} is not one of {', '.join(map(str, allowed))}")
        pattern = spec.get("AllowedPattern")
        if pattern and spec.get("Type", "String") == "String" and not re.fullmatch(str(pattern), value):
            raise DeployError(f"Parameter {name}={value!r} must match pattern {pattern}")
        if spec.get("Type") == "Number":
            try:
                float(value)
            except ValueError:
                raise DeployError(f"Parameter {name}={value!r} must be a number") from None
        values[name] = value
    return values


def deploy(
    emulator: Emulator,
    template_path: Path,
    stack_name: str = "rollbackctl",
    overrides: dict[str, str] | None = None,
    account: str | None = None,
    region: str | None = None,
) -> Deployment:
    """Create every resource of the template in the emulator, in ``account`` and ``region`` (the emulator's own by
    default; AWS::AccountId and AWS::Region follow), and return the Outputs."""
    account, region = account or ACCOUNT, region or emulator.region
    template = load_template(template_path)
    parameters = resolve_parameters(template, overrides or {})
    stack = Stack(template, stack_name, region, parameters, account)
    deployer = _Deployer(emulator, stack, template_path.parent)
    resources = template.get("Resources", {})
    for logical in _order(template):
        condition = resources[logical].get("Condition")
        if condition and not stack.conditions[condition]:
            continue
        deployer.create(logical, resources[logical])
    outputs = {
        name: str(stack.resolve(spec["Value"]))
        for name, spec in (template.get("Outputs") or {}).items()
        if not spec.get("Condition") or stack.conditions[spec["Condition"]]
    }
    _record_stack(deployer.client, stack_name, outputs, template.get("Description", ""))
    return Deployment(stack_name, parameters, outputs, dict(stack.refs), deployer.functions, account, region)


MEMBER_TEMPLATE = Path(__file__).resolve().parents[3] / "member" / "template.yaml"


def deploy_member(
    emulator: Emulator,
    hub: Deployment,
    account: str,
    region: str | None = None,
    overrides: dict[str, str] | None = None,
    template_path: Path | None = None,
) -> Deployment:
    """Deploy member/template.yaml into ``account`` and ``region`` (the hub's region by default) as the member
    StackSet would: its parameters from the hub's own (HubAccountId, HubRegion, HubEventBusName, HubRoleArns =
    the hub's MemberTrustedRoleArns output, OrganizationId, TargetOptIn), ``overrides`` on top."""
    parameters = {
        "HubAccountId": hub.account,
        "HubRegion": hub.region,
        "HubEventBusName": hub.outputs["HubEventBusArn"].rsplit("/", 1)[-1],
        "HubRoleArns": hub.outputs["MemberTrustedRoleArns"],
        "OrganizationId": hub.parameters.get("OrganizationId", ""),
        "TargetOptIn": hub.parameters.get("TargetOptIn", "any"),
        **(overrides or {}),
    }
    path = template_path or MEMBER_TEMPLATE
    return deploy(emulator, path, "rollbackctl-member", parameters, account, region or hub.region)


def _record_stack(client: Callable[[str], Any], stack_name: str, outputs: dict[str, str], description: str) -> None:
    """A CloudFormation stack holding the Outputs, so clients find the controller as in AWS."""
    body = {
        "Description": str(description)[:1000],
        "Resources": {"Deployed": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client("cloudformation").create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
