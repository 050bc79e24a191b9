"""Every AWS call and every Lambda invocation in the process, timed, from botocore's own event hooks.

The hooks are botocore built-in handlers (``before-call`` / ``after-call`` / ``after-call-error``), so every
session created after ``install()`` has them: the bench's clients, the emulator's, and the clients each
Lambda handler builds at its cold start. A call made inside a handler is attributed to that function
through the emulator's per-thread marker (``FAULTS.local.function``, set around every invocation).
Nothing is counted by hand.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers

from rollbackctl.emulator.faults import FAULTS, MUTATING

_MUTATING = MUTATING  # (botocore service name, operation): what the kinds and the pipeline steps declare
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


def is_mutating(service: str, operation: str) -> bool:
    return (service, operation) in _MUTATING


@dataclass
class Call:
    function: str | None  # the Lambda function whose handler made the call; None = the bench or the emulator
    service: str
    operation: str
    start: float
    end: float = 0.0
    request_bytes: int = 0
    error: str = ""
    execution: str = ""  # the workflow execution the handler worked for (from its input), when known
    parsed: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def mutating(self) -> bool:
        return is_mutating(self.service, self.operation)


@dataclass
class Invocation:
    function: str
    start: float
    end: float
    errored: bool
    log_bytes: int
    execution: str = ""


class Recorder:
    """The process-wide log of calls and invocations. ``mark()`` / ``since(mark)`` cut out a window."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._waiters: dict[tuple[str, str], threading.Event] = {}
        self.seen: dict[tuple[str, str], float] = {}  # (operation, resource) -> end of the first such call
        self.local = threading.local()  # .execution: set around each invocation

    # --- botocore hooks ---------------------------------------------------------------------------------
    def before_call(self, model: Any = None, params: Any = None, context: Any = None, **_: Any) -> None:
        if model is None or context is None:
            return
        body = params.get("body", b"") if isinstance(params, dict) else b""
        call = Call(
            getattr(FAULTS.local, "function", None),
            model.service_model.service_name,
            model.name,
            time.perf_counter(),
            request_bytes=len(body) if isinstance(body, bytes | str) else 0,
            execution=getattr(self.local, "execution", ""),
        )
        context["bench_call"] = call
        self.calls.append(call)

    def after_call(self, model: Any = None, context: Any = None, parsed: Any = None, **_: Any) -> None:
        call = (context or {}).get("bench_call")
        if call is None:
            return
        call.end = time.perf_counter()
        if isinstance(parsed, dict):
            call.error = str((parsed.get("Error") or {}).get("Code", ""))
            if call.operation == "UpdateAlias" and not call.error:
                call.parsed = {"AliasArn": parsed.get("AliasArn", "")}
                self._signal("UpdateAlias", str(parsed.get("AliasArn", "")).split(":")[6], call.end)

    def after_call_error(self, context: Any = None, exception: Any = None, **_: Any) -> None:
        call = (context or {}).get("bench_call")
        if call is not None:
            call.end = time.perf_counter()
            call.error = type(exception).__name__

    # --- waiting on a call ------------------------------------------------------------------------------
    def _signal(self, operation: str, resource: str, when: float) -> None:
        with self._lock:
            self.seen.setdefault((operation, resource), when)
            event = self._waiters.get((operation, resource))
        if event is not None:
            event.set()

    def wait_for(self, operation: str, resource: str, timeout: float = 60.0) -> float:
        """perf_counter() at the end of the first successful ``operation`` on ``resource`` (e.g. UpdateAlias
        on a function), waiting for it if it has not happened yet."""
        with self._lock:
            if (operation, resource) in self.seen:
                return self.seen[(operation, resource)]
            event = self._waiters.setdefault((operation, resource), threading.Event())
        if not event.wait(timeout):
            raise TimeoutError(f"no {operation} on {resource} within {timeout:.0f} s")
        return self.seen[(operation, resource)]

    # --- windows ------------------------------------------------------------------------------------------
    def mark(self) -> tuple[int, int]:
        return len(self.calls), len(self.invocations)

    def calls_since(self, mark: tuple[int, int]) -> list[Call]:
        return self.calls[mark[0] :]

    def invocations_since(self, mark: tuple[int, int]) -> list[Invocation]:
        return self.invocations[mark[1] :]

    def reset(self) -> None:
        self.calls.clear()
        self.invocations.clear()
        with self._lock:
            self.seen.clear()
            self._waiters.clear()

    # --- the emulator's Lambda runtime ----------------------------------------------------------------------
    def wrap_runtime(self, runtime: Any) -> None:
        """Time every invocation the emulator's in-process runtime runs (one per Lambda request)."""
        original = runtime.invoke

        def invoke(fn: Any, event: Any) -> tuple[str, bool, str]:
            execution = _execution_of(event)
            self.local.execution = execution
            start = time.perf_counter()
            try:
                payload, errored, logs = original(fn, event)
            finally:
                self.local.execution = ""
            self.invocations.append(
                Invocation(fn.function_name, start, time.perf_counter(), errored, len(logs.encode()), execution)
            )
            return payload, errored, logs

        runtime.invoke = invoke


def _execution_of(event: Any) -> str:
    """The workflow passes ``$$.Execution.Id`` to triage as ``execution``; the incident carries it on as
    ``owner``."""
    if isinstance(event, str | bytes):
        try:
            event = json.loads(event or "{}")
        except ValueError:
            return ""
    if not isinstance(event, dict):
        return ""
    return str(event.get("execution") or event.get("owner") or "")


RECORDER = Recorder()


def install() -> Recorder:
    """Register the hooks for every botocore session created from now on (idempotent)."""
    handlers = botocore.handlers.BUILTIN_HANDLERS
    for event, hook in (
        ("before-call", RECORDER.before_call),
        ("after-call", RECORDER.after_call),
        ("after-call-error", RECORDER.after_call_error),
    ):
        if (event, hook) not in handlers:
            handlers.append((event, hook))
    return RECORDER


def by_operation(calls: Iterable[Call]) -> dict[str, int]:
    counts = Counter(f"{c.service}:{c.operation}" for c in calls)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def controller_calls(calls: Iterable[Call], functions: Iterable[str]) -> list[Call]:
    names = set(functions)
    return [c for c in calls if c.function in names]
