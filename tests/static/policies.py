"""Rules over CloudFormation templates (plain dicts): IAM least privilege and secrets in Lambda environments.

Used by test_iam.py (on the SAM translation of template.yaml) and test_pipeline.py (on pipeline/*.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Actions that only read metadata: allowed on Resource "*" (most of them exist to find resources at all).
READ_ONLY_PREFIXES = ("Get", "BatchGet", "List", "Describe", "Query", "Scan", "Search", "Lookup", "Read", "View")

# Reads of data, not metadata: treated as mutating here (never on "*" without an exception).
SENSITIVE_READS = {
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "kms:Decrypt",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
}


@dataclass(frozen=True)
class StarException:
    why: str
    doc: str


# Mutating actions allowed on Resource "*": only where the API has no resource-level permission at all.
# Each entry: why rollbackctl (or the pipeline) needs it, and the AWS documentation that says "*" is the only
# possible Resource (the Service Authorization Reference lists no resource type for the action).
STAR_EXCEPTIONS: dict[str, StarException] = {
    "xray:PutTraceSegments": StarException(
        why="Tracing: Active / Tracing.Enabled send segments to X-Ray",
        doc="Service Authorization Reference, AWS X-Ray: PutTraceSegments has no resource types",
    ),
    "xray:PutTelemetryRecords": StarException(
        why="the X-Ray SDK and the Lambda runtime report telemetry with the segments",
        doc="Service Authorization Reference, AWS X-Ray: PutTelemetryRecords has no resource types",
    ),
    "codepipeline:PutJobSuccessResult": StarException(
        why="the pipeline gate answers the job a pipeline's Lambda invoke action gave it",
        doc="Service Authorization Reference, AWS CodePipeline: PutJobSuccessResult has no resource types",
    ),
    "codepipeline:PutJobFailureResult": StarException(
        why="the pipeline gate fails the job of a stage that must not deploy, saying why",
        doc="Service Authorization Reference, AWS CodePipeline: PutJobFailureResult has no resource types",
    ),
    "kms:CreateKey": StarException(
        why=(
            "the deploy role creates template.yaml's ControllerKey; pipeline/deploy-roles.yaml allows it only with "
            "the rollbackctl:stack request tag, and manages only the key carrying that tag"
        ),
        doc="Service Authorization Reference, AWS Key Management Service: CreateKey has no resource types",
    ),
}

# AWS managed policies a role may attach (their statements are not in the template, so they are listed here).
ALLOWED_MANAGED_POLICIES: dict[str, str] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": (
        "SAM attaches it to every function role: logs:CreateLogGroup/CreateLogStream/PutLogEvents for the "
        "function's own logs"
    ),
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": (
        "SAM attaches it with Tracing: xray:PutTraceSegments/PutTelemetryRecords/GetSampling*, which support "
        "no resource-level permissions"
    ),
}

IDENTITY_POLICY_TYPES = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::User",
    "AWS::IAM::Group",
    "AWS::IAM::RolePolicy",
    "AWS::IAM::UserPolicy",
    "AWS::IAM::GroupPolicy",
}


@dataclass(frozen=True)
class Statement:
    resource: str  # logical id
    policy: str
    body: dict[str, Any]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _branches(value: Any) -> list[Any]:
    """The values a (possibly conditional) property can take: both sides of every Fn::If, AWS::NoValue dropped."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _condition, *options = value["Fn::If"]
        return [branch for option in options for branch in _branches(option)]
    if value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def _flat(value: Any) -> list[Any]:
    """A list property (Action, Resource, Statement, Policies) with every conditional expanded."""
    return [item for branch in _branches(value) for element in _as_list(branch) for item in _branches(element)]


def identity_statements(template: dict[str, Any]) -> Iterator[Statement]:
    """Every statement of every identity policy (inline role policies, AWS::IAM::Policy, managed policies),
    both sides of every Fn::If: a condition can be true in some deployment."""
    for logical_id, resource in (template.get("Resources") or {}).items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind not in IDENTITY_POLICY_TYPES:
            continue
        documents: list[tuple[str, Any]] = []
        for policy in _flat(props.get("Policies") or []):
            documents.extend((str(policy.get("PolicyName")), doc) for doc in _branches(policy.get("PolicyDocument")))
        if "PolicyDocument" in props:
            name = str(props.get("PolicyName") or props.get("ManagedPolicyName") or "")
            documents.extend((name, doc) for doc in _branches(props["PolicyDocument"]))
        for name, document in documents:
            for statement in _flat((document or {}).get("Statement")):
                yield Statement(logical_id, name, statement)


def statement_actions(statement: dict[str, Any]) -> list[Any]:
    return _flat(statement.get("Action"))


def statement_resources(statement: dict[str, Any]) -> list[Any]:
    return _flat(statement.get("Resource"))


def _is_read_only(action: str) -> bool:
    if action in SENSITIVE_READS:
        return False
    service, _, name = action.partition(":")
    if not service or not name or name == "*":
        return False
    # A wildcard action is read-only only when everything it can match is (Get*, List*, Describe* ...).
    return name.startswith(READ_ONLY_PREFIXES) and not any(
        sensitive.startswith(action.rstrip("*")) for sensitive in SENSITIVE_READS if "*" in action
    )


_WILDCARD_ARN = re.compile(r"^arn:(\$\{AWS::Partition\}|aws[a-z-]*):\*(:\*?)*$")


def _is_wildcard(resource: Any) -> bool:
    if resource == "*":
        return True
    text = resource.get("Fn::Sub") if isinstance(resource, dict) else resource
    if isinstance(text, list):
        text = text[0]
    return isinstance(text, str) and bool(_WILDCARD_ARN.match(text))


def star_violations(template: dict[str, Any], exceptions: dict[str, StarException] | None = None) -> list[str]:
    """Allow statements that grant a mutating (or data-reading) action on Resource "*", or that cannot be read."""
    allowed = STAR_EXCEPTIONS if exceptions is None else exceptions
    problems: list[str] = []
    for st in identity_statements(template):
        body = st.body
        where = f"{st.resource}/{st.policy}/{body.get('Sid', '-')}"
        if body.get("Effect") != "Allow":
            continue
        if "NotAction" in body or "NotResource" in body:
            problems.append(f"{where}: Allow with NotAction/NotResource grants everything else")
            continue
        actions = statement_actions(body)
        if not all(isinstance(action, str) for action in actions):
            problems.append(f"{where}: actions are not plain strings ({actions!r}); cannot be checked")
            continue
        if not any(_is_wildcard(resource) for resource in statement_resources(body)):
            continue
        for action in actions:
            if action == "*" or not (_is_read_only(action) or action in allowed):
                problems.append(f'{where}: {action} on Resource "*"')
    return problems


def managed_policy_violations(template: dict[str, Any]) -> list[str]:
    problems = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") not in IDENTITY_POLICY_TYPES:
            continue
        for arn in (resource.get("Properties") or {}).get("ManagedPolicyArns") or []:
            if not isinstance(arn, str):
                problems.append(f"{logical_id}: managed policy {arn!r} is not a literal ARN; cannot be checked")
            elif arn.replace("arn:${AWS::Partition}:", "arn:aws:") not in ALLOWED_MANAGED_POLICIES:
                problems.append(f"{logical_id}: managed policy {arn} is not in ALLOWED_MANAGED_POLICIES")
    return problems


# ---- secrets in Lambda environment variables ------------------------------------------------------------

SECRET_VALUE_PATTERNS = {
    "Slack webhook URL": re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/", re.I),
    "Slack token": re.compile(r"\bxox[bpars]-[0-9A-Za-z-]{10,}"),
    "AWS access key id": re.compile(r"\b(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)"),
    "dynamic reference resolved into plain text": re.compile(r"\{\{resolve:(secretsmanager|ssm-secure):", re.I),
    "long base64 blob": re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=_-])"),
    "long hex blob": re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])"),
}
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|WEBHOOK|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I)
_FIELD = r"(\$\{[^}]+\}|[^:$]+)"  # an ARN field, or a ${...} of Fn::Sub
SECRETS_MANAGER_ARN = re.compile(rf"^arn:{_FIELD}:secretsmanager:{_FIELD}:{_FIELD}:secret:.+")
# A parameter that holds a Secrets Manager name or ARN, by its name: SlackWebhookSecretId, ApiKeySecretArn ...
SECRET_REFERENCE_PARAMETER = re.compile(r"Secret(Id|Arn|Name)$")


def _secret_labels(text: str) -> list[str]:
    labels = []
    for label, pattern in SECRET_VALUE_PATTERNS.items():
        for match in pattern.finditer(text):
            blob = match.group(0)
            # A base64 key mixes digits and both cases; a long path or word does not.
            if label == "long base64 blob" and not (
                re.search(r"[0-9]", blob) and re.search(r"[a-z]", blob) and re.search(r"[A-Z]", blob)
            ):
                continue
            labels.append(label)
            break
    return labels


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _is_secret_reference(value: Any, template: dict[str, Any]) -> bool:
    """A Secrets Manager name/ARN reference: a Ref to a *SecretId/*SecretArn parameter or to a secret, or an ARN."""
    resources = template.get("Resources") or {}
    if isinstance(value, str):
        return bool(SECRETS_MANAGER_ARN.match(value))
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), *_ = value.items()
        if function == "Ref" and isinstance(argument, str):
            if argument in (template.get("Parameters") or {}):
                return bool(SECRET_REFERENCE_PARAMETER.search(argument))
            return (resources.get(argument) or {}).get("Type") == "AWS::SecretsManager::Secret"
        if function == "Fn::Sub":
            text = argument[0] if isinstance(argument, list) else argument
            return isinstance(text, str) and bool(SECRETS_MANAGER_ARN.match(text))
        if function == "Fn::If" and isinstance(argument, list) and len(argument) == 3:
            return all(
                branch == {"Ref": "AWS::NoValue"} or branch == "" or _is_secret_reference(branch, template)
                for branch in argument[1:]
            )
    return False


def secret_violations(template: dict[str, Any]) -> list[str]:
    """Lambda environment variables (and parameter defaults) that hold, or look like, a secret."""
    problems: list[str] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") not in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
            continue
        variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        for name, value in variables.items():
            for text in _strings(value):
                problems.extend(f"{logical_id}: {name} holds a {label}" for label in _secret_labels(text))
            if SECRET_NAME.search(name) and not _is_secret_reference(value, template):
                problems.append(f"{logical_id}: {name} is named like a secret but is not a Secrets Manager reference")
    for name, parameter in (template.get("Parameters") or {}).items():
        for text in _strings(parameter.get("Default", "")):
            problems.extend(f"parameter {name}: its default holds a {label}" for label in _secret_labels(text))
    return problems
