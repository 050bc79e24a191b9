"""A click on a button of rollbackctl's Slack message, checked before anything reads it (issue 18, item 3).

Slack signs every interaction request (https://api.slack.com/authentication/verifying-requests-from-slack): the
``X-Slack-Signature`` header is ``v0=`` + the hex HMAC-SHA256, keyed with the app's signing secret, of
``v0:{X-Slack-Request-Timestamp}:{raw body}``. A request is taken only when that signature matches (compared in
constant time), its timestamp is within five minutes of now, and that signature was never taken before (a replay
is refused: each signature is claimed once, by a conditional write). Only then is the body read: a form field
``payload`` holding the interaction as JSON (https://api.slack.com/reference/interaction-payloads/block-actions),
whose action names one of the buttons rollbackctl puts on its messages, and the incident it is about.

Everything in the payload is data; nothing here acts. The Slack user named in it is who clicked, as Slack says
(the signature vouches for it); the action then runs under the same rules as the CLI's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from .aws import AWS_ERRORS, error_code
from .model import utcnow

VERSION = "v0"
TOLERANCE_SECONDS = 5 * 60  # Slack's own advice: older requests may be replays
PREFIX = "slack#"
# The buttons rollbackctl's messages carry, by action_id: unblock the pipeline, resume after a pause, roll back
# again or keep the version after an escalation.
ACTIONS = ("unblock", "resume", "rollback_again", "keep")
INCIDENT_ID = re.compile(r"inc-[0-9A-Za-z-]{1,80}")


class Rejected(ValueError):
    """The request is not taken: nothing was read from its body, nothing changed. Its reason is safe to log (it
    never holds the secret, the signature or the body)."""


@dataclass(frozen=True)
class Click:
    action: str  # one of ACTIONS
    incident_id: str
    user_id: str  # Slack's user id (U...), as the signed payload says
    user_name: str
    team_id: str

    @property
    def who(self) -> str:
        return f"Slack user {self.user_name or '?'} ({self.user_id}, team {self.team_id or '?'})"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _header(headers: dict[str, str], name: str) -> str:
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted), "")


def verify(secret: str, headers: dict[str, str], body: bytes, now: datetime | None = None) -> str:
    """The request's signature, when it is Slack's and fresh; else Rejected."""
    given = _header(headers, "X-Slack-Signature")
    timestamp = _header(headers, "X-Slack-Request-Timestamp")
    if not given or not timestamp:
        raise Rejected("not signed by Slack (no X-Slack-Signature or X-Slack-Request-Timestamp)")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise Rejected("X-Slack-Request-Timestamp is not a Unix time")
    age = abs((now or utcnow()).timestamp() - int(timestamp))
    if age > TOLERANCE_SECONDS:
        raise Rejected(f"the request is {int(age)} s old (more than {TOLERANCE_SECONDS} s): a replay, or a wrong clock")
    if not hmac.compare_digest(signature(secret, timestamp, body), given):
        raise Rejected("the signature does not match (another signing secret, or an altered body)")
    return given


def claim_once(dynamodb: Any, table: str, given: str, now: datetime | None = None) -> None:
    """Take this signature once: a second request carrying it is a replay (Rejected)."""
    expires = int((now or utcnow()).timestamp()) + 2 * TOLERANCE_SECONDS
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "id": {"S": PREFIX + hashlib.sha256(given.encode()).hexdigest()},
                "expiration": {"N": str(expires)},
            },
            ConditionExpression="attribute_not_exists(id)",
        )
    except AWS_ERRORS as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise Rejected("this request was already taken (a replay)") from None
        raise


def click(body: bytes) -> Click:
    """The button clicked, from a verified body; Rejected for anything but one of rollbackctl's buttons."""
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=20)
        payload = json.loads(fields["payload"][0])
        [action] = payload["actions"]
        name, value = str(action["action_id"]), str(action.get("value", ""))
        user, team = payload.get("user") or {}, payload.get("team") or {}
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise Rejected("not a Slack block_actions payload with one action") from None
    if payload.get("type") != "block_actions":
        raise Rejected("not a block_actions interaction")
    if name not in ACTIONS:
        raise Rejected(f"unknown action {name[:40]!r}: one of {', '.join(ACTIONS)}")
    if not INCIDENT_ID.fullmatch(value):
        raise Rejected("the button names no incident")
    return Click(
        name,
        value,
        str(user.get("id", ""))[:40],
        str(user.get("username") or user.get("name") or "")[:80],
        str(team.get("id", ""))[:40],
    )


def take(
    secret: str, headers: dict[str, str], body: bytes, dynamodb: Any, table: str, now: datetime | None = None
) -> Click:
    """Verify, then claim, then read: the click, or Rejected (nothing read, nothing changed)."""
    given = verify(secret, headers, body, now)
    claim_once(dynamodb, table, given, now)
    return click(body)
