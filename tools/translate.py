"""Translate the SAM template to plain CloudFormation, offline: no AWS call, no credentials.

cfn-lint and checkov do not expand `Transform: AWS::Serverless-2016-10-31`, so the static checks read this
translation as well as template.yaml. It is what CloudFormation would deploy, with three stand-ins:

- local `CodeUri` / `ContentUri` become a placeholder S3 URI (what `sam validate` does);
- a state machine's local `DefinitionUri` is inlined as `Definition` (what CloudFormation receives after
  `sam package` is an S3 location; inlined, the linters read the workflow too, and the IAM is the same);
- managed policy names resolve through a static map (`STATIC_MANAGED_POLICIES`) instead of IAM ListPolicies.

A SAM resource's `Metadata` is passed through to the resource it becomes (same logical id), so a
`cfn-lint` / `checkov` suppression written once in template.yaml applies to both lints.

    python tools/translate.py [--template template.yaml] [--output .aws-sam/translated/template.json]

`tests/static/test_iam.py` imports `translate_file` from here, so the test reads the same translation.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_OUTPUT = ROOT / ".aws-sam" / "translated" / "template.json"

# The pseudo parameters the translator needs, fixed so the translation is reproducible. AWS::StackName is left
# out on purpose: `!Sub ${AWS::StackName}-...` stays an intrinsic, as CloudFormation would resolve it.
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
}

PLACEHOLDER_S3_URI = "s3://rollbackctl-translate-placeholder/code.zip"

# AWS managed policies a template may name in `Policies:` (SAM resolves names through IAM ListPolicies).
# Extend this map when the template starts naming another one: an unknown name fails the translation.
STATIC_MANAGED_POLICIES: dict[str, str] = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSLambdaVPCAccessExecutionRole": "service-role/",
        "AWSXRayDaemonWriteAccess": "",
        "AWSXrayWriteOnlyAccess": "",
        "CloudWatchLambdaInsightsExecutionRolePolicy": "",
        "AWSLambdaRole": "service-role/",
    }.items()
}


class StaticManagedPolicyLoader:
    """Stands in for `samtranslator.translator.managed_policy_translator.ManagedPolicyLoader` (which calls IAM)."""

    def __init__(self, policies: dict[str, str] | None = None) -> None:
        self._policies = dict(STATIC_MANAGED_POLICIES if policies is None else policies)

    def load(self) -> dict[str, str]:
        return self._policies


class _CfnLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus CloudFormation's short-form intrinsics (!Ref, !Sub, !GetAtt ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template_text(text: str, name: str = "<template>") -> dict[str, Any]:
    """Read a CloudFormation/SAM template (YAML or JSON) into plain dicts, intrinsics in their long form."""
    loader = _CfnLoader(text)  # what yaml.load(text, Loader=_CfnLoader) does
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ValueError(f"{name}: not a template (top level is {type(data).__name__})")
    return data


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation/SAM template file (YAML or JSON): see load_template_text."""
    return load_template_text(path.read_text(encoding="utf-8"), str(path))


def _localise(template: dict[str, Any], base: Path) -> dict[str, Any]:
    """Replace local artifact paths the way `sam validate` does, and inline local state machine definitions."""
    template = copy.deepcopy(template)
    globals_function = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_function.get("CodeUri"), str) and not globals_function["CodeUri"].startswith("s3://"):
        globals_function["CodeUri"] = PLACEHOLDER_S3_URI
    for resource in template.get("Resources", {}).values():
        if not isinstance(resource, dict):
            continue
        kind, props = resource.get("Type"), resource.get("Properties", {})
        key = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(str(kind))
        if key and props.get("PackageType", "Zip") == "Zip":
            uri = props.get(key)
            if uri is None or (isinstance(uri, str) and not uri.startswith("s3://")):
                props[key] = PLACEHOLDER_S3_URI
        if kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            uri = props["DefinitionUri"]
            if not uri.startswith("s3://"):
                definition_path = base / uri
                text = definition_path.read_text(encoding="utf-8")
                props["Definition"] = json.loads(text) if definition_path.suffix == ".json" else yaml.safe_load(text)
                del props["DefinitionUri"]
    return template


def translate(
    template: dict[str, Any],
    *,
    base: Path = ROOT,
    parameter_overrides: dict[str, str] | None = None,
    managed_policies: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The CloudFormation template SAM would produce for `template`; offline and deterministic."""
    fragment = _localise(template, base)
    parameters: dict[str, Any] = {**PSEUDO_PARAMETERS, **(parameter_overrides or {})}
    loader = StaticManagedPolicyLoader(managed_policies)
    # A session with an explicit region: the translator never falls back to the environment, and creating
    # a session makes no call (no client is created for a template without AWS::Serverless::Application).
    session = boto3.session.Session(region_name=PSEUDO_PARAMETERS["AWS::Region"])
    translator = Translator(None, Parser(), boto_session=session)
    to_py27_compatible_template(fragment, parameters)
    translated = translator.translate(
        fragment, parameter_values=parameters, get_managed_policy_map=loader.load, passthrough_metadata=True
    )
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


def translate_file(path: Path = DEFAULT_TEMPLATE, **kwargs: Any) -> dict[str, Any]:
    return translate(load_template(path), base=path.resolve().parent, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter or pseudo parameter value (repeatable)",
    )
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.parameter)
    try:
        translated = translate_file(args.template, parameter_overrides=overrides)
    except Exception as exc:  # the translator's InvalidDocumentException lists every cause
        causes = getattr(exc, "causes", None)
        detail = "; ".join(str(cause) for cause in causes) if causes else str(exc)
        print(f"{args.template}: SAM translation failed: {detail}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(translated, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{args.template} -> {args.output} ({len(translated.get('Resources', {}))} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
