"""Slack button clicks are taken only when Slack signed them, recently, once (rollbackctl/slack_actions.py; the
function that acts on them: tests/e2e/test_slack_buttons.py). Against the emulator's DynamoDB for the replay claim."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from rollbackctl.slack_actions import Rejected, signature, take
from tests.emulator.conftest import hash_key_table

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # nosec B105 - Slack's documented example shape, not a real secret
NOW = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
TABLE = "claims"


@pytest.fixture
def dynamodb(aws: Any) -> Any:
    return hash_key_table(aws, TABLE)


def body(action: str = "unblock", value: str = "inc-20261202T031254-b846f068", kind: str = "block_actions") -> bytes:
    payload = {
        "type": kind,
        "user": {"id": "U0123", "username": "dana"},
        "team": {"id": "T0456"},
        "actions": [{"action_id": action, "value": value, "type": "button"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(data: bytes, at: datetime = NOW, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature(secret, timestamp, data)}


def test_a_signed_fresh_click_is_taken_with_who_clicked(dynamodb: Any) -> None:
    data = body("rollback_again")
    clicked = take(SECRET, signed(data), data, dynamodb, TABLE, NOW + timedelta(seconds=3))
    assert (clicked.action, clicked.incident_id) == ("rollback_again", "inc-20261202T031254-b846f068")
    assert clicked.who == "Slack user dana (U0123, team T0456)"


@pytest.mark.parametrize(
    "headers, says",
    [
        ({}, "not signed by Slack"),
        (signed(body(), secret="another-secret"), "the signature does not match"),
        (signed(body(), at=NOW - timedelta(minutes=6)), "more than 300 s"),
        ({**signed(body()), "X-Slack-Request-Timestamp": "yesterday"}, "is not a Unix time"),
    ],
)
def test_a_bad_or_old_signature_is_refused_and_nothing_is_claimed(
    dynamodb: Any, headers: dict[str, str], says: str
) -> None:
    with pytest.raises(Rejected, match=says) as refused:
        take(SECRET, headers, body(), dynamodb, TABLE, NOW)
    assert SECRET not in str(refused.value) and "v0=" not in str(refused.value)
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_an_altered_body_is_refused(dynamodb: Any) -> None:
    headers = signed(body("keep"))
    with pytest.raises(Rejected, match="the signature does not match"):
        take(SECRET, headers, body("rollback_again"), dynamodb, TABLE, NOW)


def test_a_replayed_request_is_refused_the_second_time(dynamodb: Any) -> None:
    data = body()
    take(SECRET, signed(data), data, dynamodb, TABLE, NOW)
    with pytest.raises(Rejected, match="a replay"):
        take(SECRET, signed(data), data, dynamodb, TABLE, NOW + timedelta(seconds=30))


@pytest.mark.parametrize(
    "data, says",
    [
        (body("delete_everything"), "unknown action 'delete_everything'"),
        (body(value="../../etc"), "the button names no incident"),
        (body(kind="view_submission"), "not a block_actions interaction"),
        (b"payload=not-json", "not a Slack block_actions payload"),
        (b"\xff\xfe", "not a Slack block_actions payload"),
    ],
)
def test_a_signed_request_that_is_not_one_of_our_buttons_is_refused(dynamodb: Any, data: bytes, says: str) -> None:
    with pytest.raises(Rejected, match=says):
        take(SECRET, signed(data), data, dynamodb, TABLE, NOW)
