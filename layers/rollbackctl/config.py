"""Configuration, read and validated once at cold start. A missing setting fails loudly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    rate_cap_count: int
    rate_cap_window_seconds: int
    watch_window_seconds: int

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
        }
        missing = [var for var in names.values() if not env.get(var)]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        values: dict[str, Any] = {field: env[var] for field, var in names.items()}
        if values["mode"] not in MODES:
            raise ConfigError(f"MODE must be one of {', '.join(MODES)}, got {values['mode']!r}")
        for field in ("rate_cap_count", "rate_cap_window_seconds", "watch_window_seconds"):
            try:
                values[field] = int(values[field])
            except ValueError:
                raise ConfigError(f"{names[field]} must be a whole number, got {values[field]!r}") from None
            if values[field] < 1:
                raise ConfigError(f"{names[field]} must be at least 1, got {values[field]}")
        return cls(**values)
