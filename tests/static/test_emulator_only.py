"""What only the embedded emulator may relax stays out of the deployed stack: the loopback Slack webhook
(http://127.0.0.1:PORT/services/...) is accepted only where emulator/runtime.py sets EMULATOR_SLACK_LOOPBACK,
and no template ever sets it; the channels' functions get the webhook host allow-list from the template."""

from __future__ import annotations

from typing import Any

import pytest

from rollbackctl.config import EMULATOR_SLACK_LOOPBACK
from rollbackctl.emulator.runtime import InProcessRuntime
from tests.conftest import ROOT, TEMPLATE
from tools.translate import translate_file


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate_file(TEMPLATE)


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: (r.get("Properties") or {}).get("Environment", {}).get("Variables", {})
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
    }


def test_no_template_turns_on_the_emulators_loopback_webhook(translated: dict[str, Any]) -> None:
    functions = _functions(translated)
    assert len(functions) >= 7
    assert [name for name, env in functions.items() if EMULATOR_SLACK_LOOPBACK in env] == []
    templates = [TEMPLATE, *sorted((ROOT / "pipeline").glob("*.yaml")), *sorted(ROOT.glob("*/template.yaml"))]
    assert [str(t) for t in templates if EMULATOR_SLACK_LOOPBACK in t.read_text()] == []


def test_only_the_emulators_runtime_sets_it() -> None:
    assert InProcessRuntime("us-east-1").base_environment()[EMULATOR_SLACK_LOOPBACK] == "true"


def test_the_channels_functions_get_the_webhook_host_allow_list(translated: dict[str, Any]) -> None:
    functions = _functions(translated)
    for name in ("NotifyFunction", "VerifyFunction"):
        assert functions[name]["SLACK_ALLOWED_HOSTS"] == {"Ref": "SlackWebhookHosts"}
    assert translated["Parameters"]["SlackWebhookHosts"]["Default"] == ""
