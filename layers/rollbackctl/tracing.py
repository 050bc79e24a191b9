"""X-Ray for the functions: Lambda's active tracing always, the X-Ray SDK only when asked for.

``Tracing: Active`` (template.yaml) has Lambda record every invocation in X-Ray, its duration, its cold start and
its errors, with nothing in the function. The SDK (through Powertools' Tracer) adds each AWS call as a
subsegment, and importing it costs 100-400 ms of every cold start (bench/coldstart.py), which sits on the
critical path twice: Triage, then Restore. So the functions load it only when the stack's ``TraceAwsCalls``
parameter says so (``TRACE_AWS_CALLS=true``), and then patch only botocore (not urllib: a traced Slack call
would carry the webhook URL).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])
SETTING = "TRACE_AWS_CALLS"


class _LambdaTracingOnly:
    """What a function decorates its handler with when Lambda's own tracing is all there is."""

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        return handler


def handler_tracer() -> Any:
    """Powertools' Tracer (the X-Ray SDK, botocore patched) when TRACE_AWS_CALLS is true; else nothing to load.
    Read once, at cold start; a value other than true or false fails it."""
    value = os.environ.get(SETTING, "false").strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{SETTING} must be true or false, got {value[:20]!r}")
    if value == "false":
        return _LambdaTracingOnly()
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=["botocore"])
