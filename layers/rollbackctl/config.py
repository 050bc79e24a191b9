"""Configuration, read and validated once at cold start. A missing setting fails loudly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MODES = ("enforce", "dry-run")


class ConfigError(RuntimeError):
    """The function's environment is incomplete or invalid: it must not start."""


@dataclass(frozen=True)
class Settings:
    incident_table: str
    ledger_table: str
    topic_arn: str
    mode: str
    kill_switch_parameter: str
    claims_table: str

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
        }
        missing = [var for var in names.values() if not env.get(var)]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        values = {field: env[var] for field, var in names.items()}
        if values["mode"] not in MODES:
            raise ConfigError(f"MODE must be one of {', '.join(MODES)}, got {values['mode']!r}")
        return cls(**values)
