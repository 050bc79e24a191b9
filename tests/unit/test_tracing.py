"""The X-Ray SDK is loaded only when the stack asks for AWS calls to be traced (TraceAwsCalls)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import sys; from rollbackctl.tracing import handler_tracer; "
    "t = handler_tracer(); f = t.capture_lambda_handler(lambda e, c: 1); "
    "print(type(t).__name__, 'aws_xray_sdk' in sys.modules)"
)


def probe(value: str | None) -> subprocess.CompletedProcess[str]:
    # a fresh function's environment: none of what the emulator's in-process functions left behind (set empty)
    env = {k: v for k, v in os.environ.items() if v and not k.startswith("POWERTOOLS_") and k != "TRACE_AWS_CALLS"}
    env.update({"POWERTOOLS_TRACE_DISABLED": "true", "AWS_REGION": "us-east-1"})
    if value is not None:
        env["TRACE_AWS_CALLS"] = value
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "value, expected",
    [(None, "_LambdaTracingOnly False"), ("false", "_LambdaTracingOnly False"), ("TRUE", "Tracer True")],
)
def test_the_sdk_is_imported_only_when_aws_calls_are_traced(value: str | None, expected: str) -> None:
    done = probe(value)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_a_value_that_is_neither_true_nor_false_fails_the_cold_start() -> None:
    done = probe("yes")
    assert done.returncode != 0 and "TRACE_AWS_CALLS must be true or false" in done.stderr
