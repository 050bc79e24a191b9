"""Configuration fails loudly; the incident record round-trips; the message reads well on a phone."""

from __future__ import annotations

import pytest

from rollbackctl import notify
from rollbackctl.config import ConfigError, Settings
from rollbackctl.model import Incident, Plan, Trigger, parse_time

ENV = {
    "INCIDENT_TABLE": "i",
    "LEDGER_TABLE": "l",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
    "MODE": "enforce",
    "KILL_SWITCH_PARAMETER": "/rollbackctl/kill-switch",
    "CLAIMS_TABLE": "c",
    "RATE_CAP_COUNT": "5",
    "RATE_CAP_WINDOW_SECONDS": "3600",
    "WATCH_WINDOW_SECONDS": "3600",
    "TARGET_OPT_IN": "any",
    "RESTORE_TIMEOUT_SECONDS": "1800",
    "RATE_CAP_GLOBAL_COUNT": "10",
    "HUB_ACCOUNT": "123456789012",
    "AWS_REGION": "us-east-1",
    "MEMBER_ACCOUNTS": "",
    "ORGANIZATION_ID": "",
    "BAD_ARTIFACT_POLICY": "page",
}


def test_complete_environment_is_read() -> None:
    assert Settings.from_env(ENV).incident_table == "i"


def test_missing_settings_are_all_named() -> None:
    with pytest.raises(ConfigError, match="INCIDENT_TABLE, TOPIC_ARN"):
        Settings.from_env({k: v for k, v in ENV.items() if k not in ("INCIDENT_TABLE", "TOPIC_ARN")})


def test_a_rate_cap_that_is_not_a_positive_number_is_refused() -> None:
    with pytest.raises(ConfigError, match="RATE_CAP_COUNT must be a whole number"):
        Settings.from_env({**ENV, "RATE_CAP_COUNT": "many"})
    with pytest.raises(ConfigError, match="RATE_CAP_WINDOW_SECONDS must be at least 1"):
        Settings.from_env({**ENV, "RATE_CAP_WINDOW_SECONDS": "0"})


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="MODE"):
        Settings.from_env({**ENV, "MODE": "yolo"})


@pytest.mark.parametrize(
    "text", ["2026-11-20T09:15:00.214+0000", "2026-11-20T09:15:00.214Z", "2026-11-20T09:15:00.214"]
)
def test_aws_timestamps_parse_to_utc(text: str) -> None:
    assert parse_time(text).isoformat() == "2026-11-20T09:15:00.214000+00:00"


def rolled_back() -> Incident:
    incident = Incident(
        "inc-1",
        Trigger(
            "alarm",
            "checkout-live-errors",
            "arn:aws:cloudwatch:us-east-1:1:alarm:x",
            "ALARM",
            "2026-11-20T09:15:00.214Z",
            "Threshold Crossed",
        ),
        "2026-11-20T09:15:00.300Z",
        decision="act",
        target="arn:aws:lambda:us-east-1:123456789012:function:checkout:live",
        from_version="7",
        to_version="6",
        plan=Plan(
            "lambda-alias",
            "canary",
            "arn:aws:lambda:us-east-1:123456789012:function:checkout:live",
            "7",
            "6",
            {"function_name": "checkout", "alias": "live", "revision_id": "rev"},
        ),
    )
    incident.conclude("rolled_back", "alarm fired")
    incident.restored_at, incident.time_to_restore_ms = "2026-11-20T09:15:00.500Z", 200
    return incident


def test_incident_round_trips_through_its_dict() -> None:
    incident = rolled_back()
    assert Incident.from_dict(incident.to_dict()) == incident


def test_the_record_has_every_contract_field() -> None:
    record = rolled_back().to_dict()
    for key in (
        "incident_id",
        "trigger",
        "target",
        "action",
        "reason",
        "from_version",
        "to_version",
        "diagnosis",
        "started_at",
        "restored_at",
        "time_to_restore_ms",
        "notifications",
    ):
        assert key in record
    assert set(record["diagnosis"]) == {"category", "summary", "evidence", "remediation"}
    assert {"kind", "name", "id", "state", "time"} <= set(record["trigger"])


def test_subject_names_the_service_the_action_and_the_versions() -> None:
    assert notify.subject(rolled_back()) == "[rollbackctl] ROLLED BACK: checkout:live 7 -> 6"


def test_subject_stays_under_100_ascii_characters() -> None:
    incident = rolled_back()
    incident.target = "arn:aws:lambda:us-east-1:123456789012:function:" + "ü" * 60 + ":" + "a" * 60
    text = notify.subject(incident)
    assert len(text) < 100
    assert text.isascii()


def test_body_says_what_fired_what_changed_and_why() -> None:
    text = notify.body(rolled_back())
    for expected in ("checkout-live-errors", "checkout:live", "7 -> 6", "rolled_back", "alarm fired", "inc-1"):
        assert expected in text
