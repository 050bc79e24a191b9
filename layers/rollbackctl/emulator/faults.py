"""Fault injection and call counting for tests, as botocore built-in handlers (so every client created
after the emulator starts, the handlers' included, has them).

- ``before-send``: an injected fault answers the HTTP attempt the way AWS would (status, error code), so
  botocore's retry mode sees it (throttling is retried), and the emulator never applies the write.
- ``before-call``: every API call a Lambda handler makes is counted, once per call.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.handlers
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

# The calls that change what serves traffic or what ships: "zero mutating calls" is counted over these. They are
# what the target kinds and the pipeline steps declare (IAM names), as botocore names the service.
BOTOCORE_SERVICE = {"elasticloadbalancing": "elbv2"}  # IAM's prefix for the ALB API; botocore calls it elbv2


def _mutating() -> set[tuple[str, str]]:
    from .. import kinds, pipelines

    actions = set(pipelines.WRITE_ACTIONS).union(*(kind.write_actions for kind in kinds.KINDS))
    pairs = (action.split(":", 1) for action in actions)
    return {(BOTOCORE_SERVICE.get(prefix, prefix), name) for prefix, name in pairs}


MUTATING = _mutating()

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


def _before_call(model: Any = None, **_: Any) -> None:
    function = getattr(FAULTS.local, "function", None)
    if model is not None and function:
        FAULTS.calls.append((function, model.service_model.service_name, model.name))


def _before_send(request: Any = None, event_name: str = "", **_: Any) -> Any:
    if not getattr(FAULTS.local, "function", None):
        return None  # faults are for the controller's handlers, not for the test or the estate
    parts = [*event_name.split("."), "", ""]
    service, operation = parts[1], parts[2]
    fault = FAULTS.match(service, operation)
    if fault is None or request is None:
        return None
    # botocore emits before-send to every handler and takes the first response; moto's responder comes
    # after this one. Point the request nowhere so moto finds no backend for it and applies nothing.
    url = request.url
    request.url = "https://injected-fault.invalid/"
    status = STATUS.get(fault.code, 400)
    headers = {"x-amzn-ErrorType": fault.code, "x-amzn-RequestId": "injected"}
    if "x-www-form-urlencoded" in str(request.headers.get("Content-Type", "")):
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code><Message>{fault.message}"
            "</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
    else:
        body = json.dumps({"__type": fault.code, "message": fault.message, "Message": fault.message})
        headers["Content-Type"] = "application/x-amz-json-1.1"
    return AWSResponse(url, status, headers, MockRawResponse(body))


def install() -> None:
    handlers = botocore.handlers.BUILTIN_HANDLERS
    if ("before-call", _before_call) not in handlers:
        handlers.append(("before-call", _before_call))
    if ("before-send", _before_send) not in handlers:
        handlers.insert(0, ("before-send", _before_send))  # ahead of moto's own responder
