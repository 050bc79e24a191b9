"""Configuration, read and validated once at cold start. A missing setting fails loudly."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODES = ("enforce", "dry-run")
# TargetOptIn: "any" acts on every target an alarm or event names; "tag" only on targets that carry
# rollback:managed=true themselves (DESIGN.md "Who may make rollbackctl act").
OPT_INS = ("any", "tag")
# BadArtifactPolicy: what Track does when any account deploys an artifact an incident marked bad.
BAD_ARTIFACT_POLICIES = ("page", "roll-back", "off")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
# Set only by the embedded emulator's in-process runtime (emulator/runtime.py), never by template.yaml: with it,
# the Slack webhook may also be http://127.0.0.1:PORT/services/... so that a local Slack catcher works.
EMULATOR_SLACK_LOOPBACK = "ROLLBACKCTL_EMULATOR_SLACK_LOOPBACK"
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)


class ConfigError(RuntimeError):
    """The function's environment is incomplete or invalid: it must not start."""


def _whole_number(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    incident_table: str
    ledger_table: str
    topic_arn: str
    mode: str
    kill_switch_parameter: str
    claims_table: str
    rate_cap_count: int
    rate_cap_window_seconds: int
    watch_window_seconds: int
    target_opt_in: str
    restore_timeout_seconds: int
    # One controller for an organization (DESIGN.md): the hub's own account and region, its members.
    rate_cap_global_count: int
    hub_account: str
    hub_region: str
    member_accounts: frozenset[str]
    organization_id: str
    bad_artifact_policy: str

    def is_member(self, account: str) -> bool:
        """Whether the hub acts for ``account``: its own, a listed member, or (with OrganizationId and no list) any
        account the bus admitted, which its policy limits to the organization."""
        if account == self.hub_account or account in self.member_accounts:
            return True
        return bool(self.organization_id) and not self.member_accounts and bool(_ACCOUNT_ID.match(account))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        names = {
            "incident_table": "INCIDENT_TABLE",
            "ledger_table": "LEDGER_TABLE",
            "topic_arn": "TOPIC_ARN",
            "mode": "MODE",
            "kill_switch_parameter": "KILL_SWITCH_PARAMETER",
            "claims_table": "CLAIMS_TABLE",
            "rate_cap_count": "RATE_CAP_COUNT",
            "rate_cap_window_seconds": "RATE_CAP_WINDOW_SECONDS",
            "watch_window_seconds": "WATCH_WINDOW_SECONDS",
            "target_opt_in": "TARGET_OPT_IN",
            "restore_timeout_seconds": "RESTORE_TIMEOUT_SECONDS",
            "rate_cap_global_count": "RATE_CAP_GLOBAL_COUNT",
            "hub_account": "HUB_ACCOUNT",
            "hub_region": "AWS_REGION",
            "member_accounts": "MEMBER_ACCOUNTS",
            "organization_id": "ORGANIZATION_ID",
            "bad_artifact_policy": "BAD_ARTIFACT_POLICY",
        }
        may_be_empty = ("MEMBER_ACCOUNTS", "ORGANIZATION_ID")
        missing = [var for var in names.values() if var not in env or (var not in may_be_empty and not env[var])]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        values: dict[str, Any] = {field: env[var] for field, var in names.items()}
        if not _ACCOUNT_ID.match(values["hub_account"]):
            raise ConfigError(f"HUB_ACCOUNT must be a 12-digit account id, got {values['hub_account']!r}")
        members = [a.strip() for a in values["member_accounts"].split(",") if a.strip()]
        bad = [a for a in members if not _ACCOUNT_ID.match(a)]
        if bad:
            raise ConfigError(f"MEMBER_ACCOUNTS must be 12-digit account ids separated by commas, got {bad[0]!r}")
        values["member_accounts"] = frozenset(members)
        if values["organization_id"] and not _ORGANIZATION_ID.match(values["organization_id"]):
            raise ConfigError(f"ORGANIZATION_ID must be an organization id (o-...), got {values['organization_id']!r}")
        if values["bad_artifact_policy"] not in BAD_ARTIFACT_POLICIES:
            raise ConfigError(
                f"BAD_ARTIFACT_POLICY must be one of {', '.join(BAD_ARTIFACT_POLICIES)}, "
                f"got {values['bad_artifact_policy']!r}"
            )
        if values["mode"] not in MODES:
            raise ConfigError(f"MODE must be one of {', '.join(MODES)}, got {values['mode']!r}")
        if values["target_opt_in"] not in OPT_INS:
            raise ConfigError(f"TARGET_OPT_IN must be one of {', '.join(OPT_INS)}, got {values['target_opt_in']!r}")
        for field in (
            "rate_cap_count",
            "rate_cap_window_seconds",
            "watch_window_seconds",
            "restore_timeout_seconds",
            "rate_cap_global_count",
        ):
            values[field] = _whole_number(names[field], values[field])
            if values[field] < 1:
                raise ConfigError(f"{names[field]} must be at least 1, got {values[field]}")
        return cls(**values)


@dataclass(frozen=True)
class NotifySettings:
    """What only the notify and verify functions read: the channels beyond the SNS topic, and the bake.

    ``SLACK_WEBHOOK_SECRET_ID`` must be set but may be empty (Slack off); it names a Secrets Manager secret,
    never the webhook URL itself. ``SLACK_ALLOWED_HOSTS`` (template parameter ``SlackWebhookHosts``) must be set
    but may be empty: hosts a webhook URL may name besides hooks.slack.com, comma-separated.
    """

    chatbot_topic_arn: str
    slack_webhook_secret_id: str
    verify_bake_seconds: int
    notify_ignored: bool
    slack_allowed_hosts: tuple[str, ...] = ()
    # http://127.0.0.1:PORT/services/... accepted too: only where the emulator set EMULATOR_SLACK_LOOPBACK
    slack_loopback: bool = False
    # the Slack message carries rollbackctl's buttons (SLACK_BUTTONS: the stack has a Slack actions function URL)
    slack_buttons: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifySettings:
        env = os.environ if env is None else env
        required = (
            "CHATBOT_TOPIC_ARN",
            "SLACK_WEBHOOK_SECRET_ID",
            "SLACK_ALLOWED_HOSTS",
            "VERIFY_BAKE_SECONDS",
            "NOTIFY_IGNORED",
            "SLACK_BUTTONS",
        )
        may_be_empty = ("SLACK_WEBHOOK_SECRET_ID", "SLACK_ALLOWED_HOSTS")
        missing = [var for var in required if var not in env or (var not in may_be_empty and not env[var])]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        secret_id = env["SLACK_WEBHOOK_SECRET_ID"].strip()
        if secret_id.startswith(("http://", "https://")):
            raise ConfigError(
                "SLACK_WEBHOOK_SECRET_ID must name a Secrets Manager secret (name or ARN), not hold the webhook URL"
            )
        bake = _whole_number("VERIFY_BAKE_SECONDS", env["VERIFY_BAKE_SECONDS"])
        if not 0 <= bake <= 86400:
            raise ConfigError(f"VERIFY_BAKE_SECONDS must be between 0 and 86400, got {bake}")
        flag, buttons = _flag(env, "NOTIFY_IGNORED"), _flag(env, "SLACK_BUTTONS")
        hosts = tuple(h.strip().lower() for h in env["SLACK_ALLOWED_HOSTS"].split(",") if h.strip())
        bad = [h for h in hosts if not _HOSTNAME.match(h)]
        if bad:
            raise ConfigError(f"SLACK_ALLOWED_HOSTS must be host names separated by commas, got {', '.join(bad)!r}")
        loopback = env.get(EMULATOR_SLACK_LOOPBACK, "") == "true"
        return cls(env["CHATBOT_TOPIC_ARN"], secret_id, bake, flag, hosts, loopback, buttons and bool(secret_id))


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env[name].strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false, got {env[name]!r}")
    return value == "true"


_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class SlackActionSettings:
    """What only the Slack actions function reads. ``SLACK_SIGNING_SECRET_ID`` names the Secrets Manager secret that
    holds the Slack app's signing secret (never the value); ``SLACK_ACTION_USERS``, set but maybe empty, the Slack
    user ids whose clicks are taken (empty: any user of the workspace whose request Slack signed);
    ``STATE_MACHINE_ARN`` the workflow that "Roll back again" starts."""

    signing_secret_id: str
    users: frozenset[str]
    state_machine_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlackActionSettings:
        env = os.environ if env is None else env
        required = ("SLACK_SIGNING_SECRET_ID", "SLACK_ACTION_USERS", "STATE_MACHINE_ARN")
        missing = [var for var in required if var not in env or (var != "SLACK_ACTION_USERS" and not env[var])]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        users = [u.strip() for u in env["SLACK_ACTION_USERS"].split(",") if u.strip()]
        bad = [u for u in users if not _SLACK_USER.fullmatch(u)]
        if bad:
            raise ConfigError(
                f"SLACK_ACTION_USERS must be Slack user ids (U0123ABCD) separated by commas, got {bad[0]!r}"
            )
        return cls(env["SLACK_SIGNING_SECRET_ID"].strip(), frozenset(users), env["STATE_MACHINE_ARN"])
