"""Pin a packaged template to the S3 object versions `sam package` just uploaded.

`sam package` names the code, the layer and the workflow definition by bucket and key (`s3://BUCKET/KEY`), and
a key can be written again: what the prod approver approved could be swapped in the artifact bucket before
CloudFormation reads it. This rewrites every such reference with the version that is current right after the
build uploaded it (`{Bucket, Key, Version}`, which SAM turns into `S3ObjectVersion` / `Version`), so staging and
prod deploy exactly these bytes whatever is written to the bucket later. The bucket must be versioned; a
reference this does not know how to pin fails the build rather than going out unpinned.

    python -m tools.pin_artifacts packaged-unpinned.yaml --output packaged.yaml [--region REGION]

pipeline/buildspec.yml runs it after `sam package --force-upload` (so the current version of each key is the
one this build wrote, never an object someone left at that key).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError

from tools.translate import load_template

# Where each resource type names an S3 object, and the shape of a pinned reference there.
# "sam": SAM's S3Location ({Bucket, Key, Version}, or the string s3://BUCKET/KEY before pinning).
# Otherwise the CloudFormation property's own keys for bucket, key and version.
LOCATIONS: dict[str, dict[str, tuple[str, str, str] | str]] = {
    "AWS::Serverless::Function": {"CodeUri": "sam"},
    "AWS::Serverless::LayerVersion": {"ContentUri": "sam"},
    "AWS::Serverless::StateMachine": {"DefinitionUri": "sam"},
    "AWS::Serverless::Api": {"DefinitionUri": "sam"},
    "AWS::Serverless::HttpApi": {"DefinitionUri": "sam"},
    "AWS::Lambda::Function": {"Code": ("S3Bucket", "S3Key", "S3ObjectVersion")},
    "AWS::Lambda::LayerVersion": {"Content": ("S3Bucket", "S3Key", "S3ObjectVersion")},
    "AWS::StepFunctions::StateMachine": {"DefinitionS3Location": ("Bucket", "Key", "Version")},
}
SAM_KEYS = ("Bucket", "Key", "Version")

# Any string still naming an S3 object after pinning: s3://..., or an S3 HTTPS URL (a nested stack's TemplateURL).
_S3_REFERENCE = re.compile(r"^(s3://|https://[^/\s]*\bs3[.-][^/\s]*amazonaws\.com(\.cn)?/)", re.I)

VersionOf = Callable[[str, str], str]


class PinError(Exception):
    """The template cannot be pinned: an unversioned object, or a reference of a kind this does not pin."""


def _parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise PinError(f"not an S3 object URI: {uri}")
    return bucket, key


def s3_versions(client: Any) -> VersionOf:
    """The current version id of an object, from HeadObject; an unversioned object is an error."""

    def version_of(bucket: str, key: str) -> str:
        version = client.head_object(Bucket=bucket, Key=key).get("VersionId")
        if not version or version == "null":
            raise PinError(f"s3://{bucket}/{key} has no version id: the artifact bucket must be versioned")
        return str(version)

    return version_of


def _inline_or_digest(value: Any, where: str) -> bool:
    """Code written in the template itself is approved with it; an image must be named by its digest."""
    if isinstance(value, dict) and "ZipFile" in value:
        return True
    image = value.get("ImageUri") if isinstance(value, dict) else None
    if image is not None:
        if isinstance(image, str) and "@sha256:" in image:
            return True
        raise PinError(
            f"{where}: image {image!r} is named by a tag, which can be moved: name it by its @sha256: digest"
        )
    return False


def _pin_property(value: Any, shape: tuple[str, str, str] | str, version_of: VersionOf, where: str) -> Any:
    bucket_key, key_key, version_key = SAM_KEYS if isinstance(shape, str) else shape
    if _inline_or_digest(value, where):
        return value
    if isinstance(value, str):
        if shape != "sam" or not value.startswith("s3://"):
            raise PinError(f"{where}: {value!r} is not an S3 location this can pin")
        bucket, key = _parse_s3_uri(value)
        return {bucket_key: bucket, key_key: key, version_key: version_of(bucket, key)}
    if isinstance(value, dict) and isinstance(value.get(bucket_key), str) and isinstance(value.get(key_key), str):
        pinned = dict(value)
        pinned[version_key] = version_of(value[bucket_key], value[key_key])
        return pinned
    raise PinError(f"{where}: {value!r} is not a literal S3 location (bucket and key), so it cannot be pinned")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def pin(template: dict[str, Any], version_of: VersionOf) -> tuple[dict[str, Any], list[str]]:
    """The template with every S3 artifact reference pinned to its current version, and what was pinned."""
    pinned = copy.deepcopy(template)
    done: list[str] = []
    sections: list[tuple[str, str, dict[str, Any]]] = [
        (f"Resources.{name}", str(resource.get("Type")), resource.setdefault("Properties", {}))
        for name, resource in (pinned.get("Resources") or {}).items()
        if isinstance(resource, dict) and str(resource.get("Type")) in LOCATIONS
    ]
    function_globals = (pinned.get("Globals") or {}).get("Function")
    if isinstance(function_globals, dict):
        sections.append(("Globals.Function", "AWS::Serverless::Function", function_globals))
    for where, kind, properties in sections:
        if kind == "AWS::Serverless::Function" and "ImageUri" in properties:
            _inline_or_digest({"ImageUri": properties["ImageUri"]}, f"{where}.ImageUri")
        for prop, shape in LOCATIONS[kind].items():
            if prop not in properties or _inline_or_digest(properties[prop], f"{where}.{prop}"):
                continue
            properties[prop] = _pin_property(properties[prop], shape, version_of, f"{where}.{prop}")
            version = properties[prop][SAM_KEYS[2] if isinstance(shape, str) else shape[2]]
            done.append(f"{where}.{prop} -> version {version}")
    left = [f"{path}: {text}" for path, text in _strings(pinned, "") if _S3_REFERENCE.match(text)]
    if left:
        raise PinError("S3 references this cannot pin (pin them, or teach tools/pin_artifacts.py): " + "; ".join(left))
    return pinned, done


class _NoAliasDumper(yaml.SafeDumper):
    """YAML without anchors and aliases: every value written out where CloudFormation reads it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(template: dict[str, Any]) -> str:
    return yaml.dump(template, Dumper=_NoAliasDumper, sort_keys=False, width=1000, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("template", type=Path, help="the template sam package wrote")
    parser.add_argument("--output", type=Path, required=True, help="the pinned template")
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    client = boto3.client("s3", region_name=args.region)
    try:
        pinned, done = pin(load_template(args.template), s3_versions(client))
    except (PinError, ClientError) as exc:
        print(f"{args.template}: {exc}", file=sys.stderr)
        return 1
    args.output.write_text(dump(pinned), encoding="utf-8")
    for line in done:
        print(line)
    print(f"{args.template} -> {args.output}: {len(done)} artifact references pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
