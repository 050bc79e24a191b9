"""tools/pin_artifacts.py on moto's S3 (in process, offline): the packaged template names each object by the
version the build uploaded, a later write to the same key changes nothing that deploys, and what it cannot pin
fails the build. The references are the shapes `sam package` writes (CodeUri/ContentUri as s3:// strings, the
state machine's DefinitionUri as {Bucket, Key})."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from tests.conftest import TEMPLATE
from tools.pin_artifacts import PinError, dump, main, pin, s3_versions
from tools.translate import load_template, translate

BUCKET = "rollbackctl-pipeline-artifacts"
PREFIX = "packages/0123abc"


def _key(name: str) -> str:
    return f"{PREFIX}/{name}"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto's fake credentials
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def _packaged() -> dict[str, Any]:
    """template.yaml as `sam package` leaves it: every local artifact replaced by the object it uploaded."""
    template = load_template(TEMPLATE)
    for name, resource in template["Resources"].items():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = f"s3://{BUCKET}/{_key(name)}"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://{BUCKET}/{_key(name)}"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            props["DefinitionUri"] = {"Bucket": BUCKET, "Key": _key(name)}
    return template


def _upload(s3: Any, template: dict[str, Any]) -> dict[str, str]:
    """Upload one object per artifact of the template; its version id by key."""
    versions = {}
    for name, resource in template["Resources"].items():
        if resource["Type"].startswith("AWS::Serverless::") and resource["Type"] != "AWS::Serverless::Api":
            response = s3.put_object(Bucket=BUCKET, Key=_key(name), Body=f"approved {name}".encode())
            versions[_key(name)] = response["VersionId"]
    return versions


def _references(template: dict[str, Any]) -> dict[str, Any]:
    keys = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}
    keys["AWS::Serverless::StateMachine"] = "DefinitionUri"
    return {name: r["Properties"][keys[r["Type"]]] for name, r in template["Resources"].items() if r["Type"] in keys}


def test_every_artifact_is_pinned_to_the_uploaded_version(s3: Any) -> None:
    packaged = _packaged()
    versions = _upload(s3, packaged)
    pinned, done = pin(packaged, s3_versions(s3))
    references = _references(pinned)
    assert len(references) == len(done) == 11  # nine functions, the layer, the state machine
    for reference in references.values():
        assert reference == {"Bucket": BUCKET, "Key": reference["Key"], "Version": versions[reference["Key"]]}
    assert _references(packaged)["TriageFunction"] == f"s3://{BUCKET}/{_key('TriageFunction')}"  # input untouched


def test_a_later_write_to_a_key_changes_nothing_that_deploys(s3: Any) -> None:
    packaged = _packaged()
    _upload(s3, packaged)
    pinned, _ = pin(packaged, s3_versions(s3))
    code = _references(pinned)["RestoreFunction"]
    s3.put_object(Bucket=BUCKET, Key=code["Key"], Body=b"swapped after the approval")
    deployed = s3.get_object(Bucket=BUCKET, Key=code["Key"], VersionId=code["Version"])["Body"].read()
    assert deployed == b"approved RestoreFunction"
    assert s3.get_object(Bucket=BUCKET, Key=code["Key"])["Body"].read() == b"swapped after the approval"


def test_sam_deploys_the_pinned_versions(s3: Any) -> None:
    """The SAM translator (the SAM CLI's own version) turns each pinned reference into the version property
    CloudFormation passes to Lambda and Step Functions."""
    packaged = _packaged()
    versions = _upload(s3, packaged)
    out = translate(pin(packaged, s3_versions(s3))[0])["Resources"]
    functions = [r["Properties"]["Code"] for r in out.values() if r["Type"] == "AWS::Lambda::Function"]
    layers = [r["Properties"]["Content"] for r in out.values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    machines = [r["Properties"] for r in out.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(functions) == 9 and len(layers) == 1 and len(machines) == 1
    for code in functions + layers:
        assert code["S3ObjectVersion"] == versions[code["S3Key"]]
    location = machines[0]["DefinitionS3Location"]
    assert location["Version"] == versions[location["Key"]]
    assert "Definition" not in machines[0] and "DefinitionString" not in machines[0]


def test_main_writes_the_pinned_template(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packaged = _packaged()
    versions = _upload(s3, packaged)
    source, target = tmp_path / "packaged-unpinned.yaml", tmp_path / "packaged.yaml"
    source.write_text(yaml.safe_dump(packaged, sort_keys=False), encoding="utf-8")
    assert main([str(source), "--output", str(target), "--region", "us-east-1"]) == 0
    written = load_template(target)
    assert _references(written)["DomainLayer"]["Version"] == versions[_key("DomainLayer")]
    assert "&id" not in target.read_text(encoding="utf-8")  # no YAML anchors: each value written where it is read
    assert "11 artifact references pinned" in capsys.readouterr().out


# ---- what it refuses ----------------------------------------------------------------------------------------


def test_an_unversioned_bucket_fails(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s3.create_bucket(Bucket="unversioned")
    s3.put_object(Bucket="unversioned", Key="code", Body=b"x")
    template = {
        "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "s3://unversioned/code"}}}
    }
    source = tmp_path / "t.yaml"
    source.write_text(dump(template), encoding="utf-8")
    assert main([str(source), "--output", str(tmp_path / "out.yaml")]) == 1
    assert "must be versioned" in capsys.readouterr().err
    assert not (tmp_path / "out.yaml").exists()


def test_a_missing_object_fails(s3: Any) -> None:
    template = {
        "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": f"s3://{BUCKET}/gone"}}}
    }
    with pytest.raises(s3.exceptions.ClientError):
        pin(template, s3_versions(s3))


@pytest.mark.parametrize(
    "resource",
    [
        # a reference of a kind it does not pin (a nested stack) must not go out unpinned
        {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {"TemplateURL": f"https://{BUCKET}.s3.amazonaws.com/t.yaml"},
        },
        {"Type": "AWS::Serverless::Application", "Properties": {"Location": f"s3://{BUCKET}/app.yaml"}},
        # a location it cannot read literally
        {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": {"Bucket": {"Ref": "B"}, "Key": "k"}}},
        # an image named by a tag, which can be moved to other bytes
        {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Code": {"ImageUri": "1.dkr.ecr.us-east-1.amazonaws.com/r:v1"}},
        },
        {"Type": "AWS::Serverless::Function", "Properties": {"PackageType": "Image", "ImageUri": "r:latest"}},
    ],
)
def test_what_it_cannot_pin_fails(resource: dict[str, Any]) -> None:
    with pytest.raises(PinError):
        pin({"Resources": {"R": resource}}, lambda bucket, key: "v1")


def test_plain_cloudformation_locations_are_pinned_too() -> None:
    template = {
        "Resources": {
            "F": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Bucket": "b", "S3Key": "f.zip"}}},
            "L": {"Type": "AWS::Lambda::LayerVersion", "Properties": {"Content": {"S3Bucket": "b", "S3Key": "l.zip"}}},
            "S": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionS3Location": {"Bucket": "b", "Key": "s.json"}},
            },
        },
        "Globals": {"Function": {"CodeUri": "s3://b/g.zip"}},
    }
    pinned, done = pin(copy.deepcopy(template), lambda bucket, key: f"v-{key}")
    props = {name: r["Properties"] for name, r in pinned["Resources"].items()}
    assert props["F"]["Code"]["S3ObjectVersion"] == "v-f.zip"
    assert props["L"]["Content"]["S3ObjectVersion"] == "v-l.zip"
    assert props["S"]["DefinitionS3Location"]["Version"] == "v-s.json"
    assert pinned["Globals"]["Function"]["CodeUri"] == {"Bucket": "b", "Key": "g.zip", "Version": "v-g.zip"}
    assert len(done) == 4


def test_code_in_the_template_or_an_image_by_digest_needs_no_pin() -> None:
    digest = "1.dkr.ecr.us-east-1.amazonaws.com/r@sha256:" + "0" * 64
    template = {
        "Resources": {
            "Inline": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": "def h(e, c): ..."}}},
            "Image": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ImageUri": digest}}},
            "SamImage": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"PackageType": "Image", "ImageUri": digest},
            },
        }
    }
    pinned, done = pin(template, lambda bucket, key: "never asked")
    assert pinned == template and done == []
