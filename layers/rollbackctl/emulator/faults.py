"""Fault injection for tests: make one AWS operation fail the way AWS would, before it is sent.

Registered as a botocore built-in ``before-call`` handler, so every client created after the emulator
starts (the handlers' included) sees it, and the emulator never applies the write.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.handlers

# The calls that change what serves traffic or what ships: "zero mutating calls" is counted over these.
MUTATING = {
    ("lambda", "UpdateAlias"),
    ("ecs", "UpdateService"),
    ("codedeploy", "StopDeployment"),
    ("codepipeline", "StopPipelineExecution"),
    ("codepipeline", "DisableStageTransition"),
    ("codepipeline", "EnableStageTransition"),
    ("elasticloadbalancing", "ModifyListener"),
    ("elasticloadbalancing", "ModifyRule"),
}

STATUS = {
    "ThrottlingException": 400,
    "TooManyRequestsException": 429,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "PreconditionFailedException": 412,
    "ServiceException": 500,
}


@dataclass
class Fault:
    service: str
    operation: str
    code: str
    message: str
    times: int | None  # None = every call


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.hits: list[tuple[str, str, str]] = []
        # every AWS call a Lambda handler made: (function, service, operation)
        self.calls: list[tuple[str, str, str]] = []
        self.local = threading.local()

    def add(self, service: str, operation: str, code: str, message: str = "injected", times: int | None = None) -> None:
        with self._lock:
            self._faults.append(Fault(service, operation, code, message, times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.hits.clear()
            self.calls.clear()

    def mutating_calls(self) -> list[tuple[str, str]]:
        """The mutating calls the controller's handlers made (not the test's or the estate's own)."""
        return [(service, op) for _, service, op in self.calls if (service, op) in MUTATING]

    @contextlib.contextmanager
    def handler(self, function: str) -> Iterator[None]:
        """Calls made inside this block are the handler's (the runtime wraps every invocation)."""
        self.local.function = function
        try:
            yield
        finally:
            self.local.function = None

    def match(self, service: str, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.service, fault.operation) == (service, operation) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    self.hits.append((service, operation, fault.code))
                    return fault
        return None


FAULTS = Faults()


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""
        self.text = ""


def _before_call(model: Any = None, **_: Any) -> Any:
    if model is None:
        return None
    function = getattr(FAULTS.local, "function", None)
    if function:
        FAULTS.calls.append((function, model.service_model.service_name, model.name))
    fault = FAULTS.match(model.service_model.service_name, model.name)
    if fault is None:
        return None
    status = STATUS.get(fault.code, 400)
    parsed = {
        "Error": {"Code": fault.code, "Message": fault.message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    return _Response(status), parsed


def install() -> None:
    entry = ("before-call", _before_call)
    if entry not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(entry)
