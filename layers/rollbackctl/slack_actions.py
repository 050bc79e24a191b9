"""A click on a button of rollbackctl's Slack message, checked before anything reads it (issue 18, item 3).

Slack signs every interaction request (https://api.slack.com/authentication/verifying-requests-from-slack): the
``X-Slack-Signature`` header is ``v0=`` + the hex HMAC-SHA256, keyed with the app's signing secret, of
``v0:{X-Slack-Request-Timestamp}:{raw body}``. A request is taken only when that signature matches (compared in
constant time), its timestamp is within five minutes of now, and that signature was never taken before (a replay
is refused: each signature is claimed once, by a conditional write). Only then is the body read: a form field
``payload`` holding the interaction as JSON (https://api.slack.com/reference/interaction-payloads/block-actions),
whose action names one of the buttons rollbackctl puts on its messages, and the incident it is about.

Everything in the payload is data. The Slack user named in it is who clicked, as Slack says (the signature vouches
for it); :func:`act` then does what the CLI does, under the same rules, and records in the incident who clicked
what. A click does only what the incident offers now (:func:`offered`, which also chooses the buttons a message
carries): a stale button, a second click or a click on a closed incident changes nothing and says why.

The function acts in the hub's own account and region: a member's pipeline and kill switch are the member's (run
``rollbackctl unblock`` / ``resume`` there); "Roll back again" starts the workflow, which acts where the target is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from .aws import AWS_ERRORS, Clients, error_code
from .config import Settings, SlackActionSettings
from .controls import KILL_SWITCH_OFF, paused_by_hub
from .model import Incident, iso, short_target, short_version, utcnow
from .pipelines import block_step, unblock_step

VERSION = "v0"
TOLERANCE_SECONDS = 5 * 60  # Slack's own advice: older requests may be replays
PREFIX = "slack#"
# The buttons rollbackctl's messages carry, by action_id: unblock the pipeline, resume after a pause, roll back
# again or keep the version after an escalation.
LABELS = {
    "unblock": "Unblock the pipeline",
    "resume": "Resume (kill switch off)",
    "rollback_again": "Roll back again",
    "keep": "Keep this version",
}
ACTIONS = tuple(LABELS)
STYLES = {"unblock": "primary", "rollback_again": "danger"}
# What each message offers, of what the incident offers (the escalation is where a human decides).
FOR_MESSAGE = {
    "incident": ("unblock", "resume"),
    "recovered": ("unblock",),
    "escalated": ("rollback_again", "keep", "unblock"),
    "unverified": ("unblock",),
}
CONFIRM = {
    "unblock": "The pipeline's deploy stage takes the next revision again (the bad one stays marked bad).",
    "resume": "rollbackctl acts again everywhere: the kill switch goes off.",
    "rollback_again": "rollbackctl goes back to the known-good version before this one, under the usual rules.",
}
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


# --- what an incident offers, and the buttons ------------------------------------------------------------------


def _blocking(incident: Incident) -> bool:
    """The incident blocked its pipeline's deploy stage, and no unblock is recorded since."""
    if incident.pipeline is None:
        return False
    state = False
    for step in incident.steps:
        if step["status"] == "done" and step["step"] in (
            block_step(incident.pipeline.name),
            unblock_step(incident.pipeline.name),
        ):
            state = step["step"] == block_step(incident.pipeline.name)
    return state


def offered(incident: Incident) -> tuple[str, ...]:
    """The actions the incident's state allows now. A closed incident offers only lifting the block it left (the
    bad version stays marked bad and is refused at the gate; the block is a human's to lift)."""
    actions = []
    if _blocking(incident):
        actions.append("unblock")
    if incident.closed_at is None:
        if incident.action == "refused" and paused_by_hub(incident.reason):
            actions.append("resume")
        if (incident.verification or {}).get("status") == "still_alarming" and incident.target:
            actions += ["rollback_again", "keep"]
    return tuple(actions)


def buttons(incident: Incident, message: str) -> dict[str, Any] | None:
    """The actions block of a message (``message``: "incident" or a follow-up kind), or None when none applies."""
    chosen = [a for a in FOR_MESSAGE.get(message, ()) if a in offered(incident)]
    if not chosen:
        return None
    elements = []
    for action in chosen:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action,
            "text": {"type": "plain_text", "text": LABELS[action]},
            "value": incident.incident_id,
        }
        if action in STYLES:
            button["style"] = STYLES[action]
        if action in CONFIRM:
            button["confirm"] = {
                "title": {"type": "plain_text", "text": LABELS[action] + "?"},
                "text": {"type": "plain_text", "text": CONFIRM[action]},
                "confirm": {"type": "plain_text", "text": LABELS[action]},
                "deny": {"type": "plain_text", "text": "Cancel"},
            }
        elements.append(button)
    return {"type": "actions", "block_id": f"rollbackctl-{message}", "elements": elements}


# --- acting on a click -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    done: bool  # something changed (and the incident records who clicked it)
    text: str  # what the clicker is told, and what is logged: never a secret


STEP = {"resume": "resume", "rollback_again": "roll back again", "keep": "keep"}


def _step(incident: Incident, action: str) -> str:
    """The step a click records: as the CLI names it (``unblock pipeline P``, which _blocking reads)."""
    if action == "unblock" and incident.pipeline is not None:
        return unblock_step(incident.pipeline.name)
    return STEP[action]


def _not_offered(incident: Incident, action: str) -> str:
    if incident.closed_at is not None:
        return f"incident {incident.incident_id} is closed (at {incident.closed_at}): nothing changed"
    now = ", ".join(LABELS[a] for a in offered(incident)) or "nothing"
    return f"{LABELS[action]} does not apply to incident {incident.incident_id} now (it offers: {now}); nothing changed"


def _in_hub(incident: Incident, settings: Settings) -> str:
    """Why the hub's function does not act for this incident here, or ''."""
    account, region = incident.trigger.account or settings.hub_account, incident.trigger.region or settings.hub_region
    if (account, region) == (settings.hub_account, settings.hub_region):
        return ""
    return (
        f"incident {incident.incident_id} is in account {account} in {region}, whose pipelines and kill switch are its "
        "own: run rollbackctl unblock / resume there; nothing changed"
    )


def act(
    click: Click,
    clients: Clients,
    settings: Settings,
    buttons_settings: SlackActionSettings,
    now: Callable[[], datetime] = utcnow,
) -> Answer:
    """Do what the click asks, when the incident offers it and the clicker may; record who clicked in the incident."""
    from .store import IncidentStore

    if buttons_settings.users and click.user_id not in buttons_settings.users:
        return Answer(False, f"{click.who} is not one of SlackActionUsers: nothing changed")
    store = IncidentStore(clients.dynamodb, settings.incident_table)
    incident = store.get(click.incident_id)
    if incident is None:
        return Answer(False, f"no incident {click.incident_id}: nothing changed")
    if click.action not in offered(incident):
        return Answer(False, _not_offered(incident, click.action))
    elsewhere = _in_hub(incident, settings) if click.action in ("unblock", "resume") else ""
    if elsewhere:
        return Answer(False, elsewhere)
    try:
        detail = _ACTS[click.action](click, incident, clients, settings, buttons_settings, now)
    except _Nothing as nothing:
        return Answer(False, str(nothing))
    except AWS_ERRORS as exc:
        code = error_code(exc) or type(exc).__name__
        return Answer(False, f"{LABELS[click.action]} failed ({code}): nothing changed")
    incident.record_step(_step(incident, click.action), "done", detail)
    store.put(incident)
    return Answer(True, detail)


class _Nothing(Exception):
    """Nothing to do (said to the clicker, nothing changed)."""


def _unblock(
    click: Click, incident: Incident, clients: Clients, settings: Settings, _: SlackActionSettings, now: Any
) -> str:
    from .pipelines import unblock

    if incident.pipeline is None:  # offered() checked it
        raise _Nothing(f"incident {incident.incident_id} names no pipeline: nothing changed")
    name = incident.pipeline.name
    done = unblock(clients, name, None, click.who, "Unblock clicked in Slack", incident_id=incident.incident_id)
    if not done:
        raise _Nothing(
            f"nothing to unblock: no inbound transition of {name} is disabled by {incident.incident_id} now; "
            "nothing changed"
        )
    return "; ".join(entry["detail"] for entry in done)


def _resume(click: Click, incident: Incident, clients: Clients, settings: Settings, _: Any, now: Any) -> str:
    from .operations import set_kill_switch

    name = settings.kill_switch_parameter
    value = str(clients.ssm.get_parameter(Name=name)["Parameter"]["Value"])
    if value.strip().lower() == KILL_SWITCH_OFF:
        raise _Nothing(f"the kill switch {name} is already off: nothing changed")
    why = f"Resume clicked in Slack on incident {incident.incident_id}"
    description = set_kill_switch(clients.ssm, name, KILL_SWITCH_OFF, click.who, why, now())
    return (
        f"kill switch {name} {description}; rollbackctl acts again within 10 seconds. What this incident would have "
        f"done was not done: rollbackctl rollback {incident.target or 'TARGET'} if it is still needed"
    )


def _rollback_again(
    click: Click, incident: Incident, clients: Clients, settings: Settings, actions: SlackActionSettings, now: Any
) -> str:
    from . import kinds
    from .operations import manual_rollback

    target = kinds.parse(incident.target or "")
    if target is None:
        raise _Nothing(f"incident {incident.incident_id} names no target rollbackctl knows: nothing changed")
    why = (
        f"Roll back again clicked in Slack: rolling back to {short_version(incident.to_version)} "
        f"(incident {incident.incident_id}) did not fix the alarm"
    )
    asked = manual_rollback(target, "", False, click.who, why, name=f"again-{incident.incident_id}", now=now())
    try:
        clients.stepfunctions.start_execution(
            stateMachineArn=actions.state_machine_arn, name=asked.name, input=asked.input
        )
    except AWS_ERRORS as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            again = f"a rollback again of {incident.incident_id} was already asked for: nothing changed"
            raise _Nothing(again) from None
        raise
    incident.closed_at = iso(now())
    return (
        f"{click.who} asked to roll {short_target(incident.target)} back again, past "
        f"{short_version(incident.to_version)}: workflow execution {asked.name} (a new incident; this one is closed)"
    )


def _keep(click: Click, incident: Incident, clients: Clients, settings: Settings, _: Any, now: Any) -> str:
    incident.closed_at = iso(now())
    return (
        f"{click.who} kept {short_version(incident.to_version)} on {short_target(incident.target)}: the alarm is not "
        "the deployment's to fix; the incident is closed by a human"
    )


_ACTS: dict[str, Callable[..., str]] = {
    "unblock": _unblock,
    "resume": _resume,
    "rollback_again": _rollback_again,
    "keep": _keep,
}


# --- the function URL's request and answer ---------------------------------------------------------------------


def request_of(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """The headers and the raw body of a function URL request (payload format 2.0), as Slack sent them."""
    from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

    request = LambdaFunctionUrlEvent(event)
    if request.request_context.http.method.upper() != "POST":
        raise Rejected(f"method {request.request_context.http.method[:10]!r}: Slack posts")
    raw = request.body or ""
    try:
        body = base64.b64decode(raw, validate=True) if request.is_base64_encoded else raw.encode("utf-8")
    except (ValueError, binascii.Error):
        raise Rejected("the body is not valid base64") from None
    return {str(k): str(v) for k, v in (request.headers or {}).items()}, body


def http(status: int, text: str) -> dict[str, Any]:
    """A function URL response; Slack shows nothing of it for a block_actions click but the status."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"response_type": "ephemeral", "replace_original": False, "text": text}),
    }


def respond(
    event: dict[str, Any],
    clients: Clients,
    settings: Settings,
    buttons_settings: SlackActionSettings,
    signing_secret: Callable[[], str],
    log: Any,
    now: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """One request to the function URL: taken only when Slack signed it (else 401, nothing read or changed, the
    reason logged), then acted on."""
    try:
        headers, body = request_of(event)
        found = take(signing_secret(), headers, body, clients.dynamodb, settings.claims_table, now())
    except Rejected as exc:
        log.warning("slack request rejected", extra={"reason": str(exc)})
        return http(401, "not taken: the request is not a fresh, signed Slack interaction")
    except SecretUnreadable as exc:
        log.error("slack request not checked", extra={"reason": str(exc)})
        return http(503, "not taken: rollbackctl cannot check Slack signatures right now")
    answer = act(found, clients, settings, buttons_settings, now)
    log.info(
        "slack click",
        extra={
            "action": found.action,
            "incident_id": found.incident_id,
            "who": found.who,
            "done": answer.done,
            "answer": answer.text,
        },
    )
    return http(200, answer.text)


class SecretUnreadable(RuntimeError):
    """The signing secret could not be read: nothing can be checked, so nothing is taken."""


def signing_secret_reader(secretsmanager: Any, secret_id: str) -> Callable[[], str]:
    """The signing secret, read through Powertools (cached for 5 minutes), held in memory only and masked in any
    botocore debug log; an unreadable or empty one is SecretUnreadable (by kind, never its value)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from .slack import CACHE_SECONDS, remember_secret

    provider = SecretsProvider(boto3_client=secretsmanager)

    def read() -> str:
        failure = value = ""
        try:
            value = str(provider.get(secret_id, max_age=CACHE_SECONDS)).strip()
        except GetParameterError as exc:
            failure = type(exc.__cause__ or exc).__name__
        if failure:
            raise SecretUnreadable(f"the signing secret {secret_id} could not be read ({failure})")
        remember_secret(value)  # before the length check: even a wrong value is never logged
        if len(value) < 16:
            raise SecretUnreadable(f"the signing secret {secret_id} is not a Slack signing secret (too short)")
        return value

    return read
