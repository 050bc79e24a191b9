"""Operating the controller, on the SAM translation: every function's logs are kept for a bounded time, the
alarms on the controller page on-call and guard no target, and whatever is encrypted with ControllerKey can be
used by the roles that use it (the emulator does not enforce KMS, so nothing else would notice a missing grant).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TEMPLATE
from tests.static.policies import identity_statements, statement_actions, statement_resources
from tools.translate import translate_file

KEY_REF = {"Ref": "ControllerKey"}
KEY_ARN = {"Fn::GetAtt": ["ControllerKey", "Arn"]}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate_file(TEMPLATE)


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties") or {} for name, r in template["Resources"].items() if r["Type"] == kind}


def test_every_function_has_a_log_group_with_retention(translated: dict[str, Any]) -> None:
    groups = _of_type(translated, "AWS::Logs::LogGroup").values()
    kept = {g["LogGroupName"]["Fn::Sub"] for g in groups if g.get("RetentionInDays") == {"Ref": "LogRetentionDays"}}
    functions = _of_type(translated, "AWS::Lambda::Function")
    assert kept == {f"/aws/lambda/${{{name}}}" for name in functions}


def test_controller_alarms_page_oncall_and_guard_no_target(translated: dict[str, Any]) -> None:
    alarms = _of_type(translated, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 4
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-controller-"), name
        assert not any(str(tag.get("Key", "")).startswith("rollback:") for tag in alarm.get("Tags", [])), name


def test_data_at_rest_is_under_the_controller_key(translated: dict[str, Any]) -> None:
    for name, table in _of_type(translated, "AWS::DynamoDB::Table").items():
        assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY_REF}, name
    for kind in ("AWS::SNS::Topic", "AWS::SQS::Queue"):
        for name, resource in _of_type(translated, kind).items():
            assert resource.get("KmsMasterKeyId") == KEY_REF, name
    (key,) = _of_type(translated, "AWS::KMS::Key").values()
    assert key["EnableKeyRotation"] is True


def _touches(actions: list[Any], resources: list[Any], encrypted: set[str]) -> bool:
    """Data calls on a table, topic or queue of this stack (what DynamoDB, SNS and SQS encrypt with the key)."""
    data = [a for a in actions if isinstance(a, str) and a.split(":")[0] in ("dynamodb", "sns", "sqs")]
    named = {str(r) for r in resources}
    return bool(data) and any(name in text for name in encrypted for text in named)


def test_roles_that_use_encrypted_resources_can_use_the_key(translated: dict[str, Any]) -> None:
    encrypted = {
        name
        for kind in ("AWS::DynamoDB::Table", "AWS::SNS::Topic", "AWS::SQS::Queue")
        for name in _of_type(translated, kind)
    }
    users: set[str] = set()
    key_users: set[str] = set()
    for st in identity_statements(translated):
        actions, resources = statement_actions(st.body), statement_resources(st.body)
        if _touches(actions, resources, encrypted):
            users.add(st.resource)
        if resources == [KEY_ARN] and {"kms:Decrypt", "kms:GenerateDataKey"} <= set(actions):
            key_users.add(st.resource)
    assert users, "the checker found no role using a table, topic or queue"
    assert sorted(users - key_users) == []


def test_rules_match_this_account_and_only_calls_that_succeeded(translated: dict[str, Any]) -> None:
    """The default bus's rule forwards this account's events only; the rules on the rollbackctl bus take the events
    of every account its policy admits (the hub's own and its members': Triage decides who is a member). Every rule
    matches AWS's own events only (sources aws.*, which no one can put with PutEvents), and CloudTrail calls that
    succeeded."""
    rules = _of_type(translated, "AWS::Events::Rule").values()
    on_bus = [r["EventPattern"] for r in rules if r.get("EventBusName") == {"Ref": "HubEventBus"}]
    on_default = [r["EventPattern"] for r in rules if "EventBusName" not in r]
    assert len(on_bus) == 11 and len(on_default) == 1 and len(on_bus) + len(on_default) == len(rules)
    assert all(p["account"] == [{"Ref": "AWS::AccountId"}] for p in on_default)
    assert all("account" not in p for p in on_bus)
    branches = on_bus + [branch for p in on_default for branch in p["$or"]]
    assert all(p["source"] and all(s.startswith("aws.") for s in p["source"]) for p in branches)
    cloudtrail = [p for p in branches if p["detail-type"] == ["AWS API Call via CloudTrail"]]
    assert len(cloudtrail) == 2 and all(p["detail"]["errorCode"] == [{"exists": False}] for p in cloudtrail)
