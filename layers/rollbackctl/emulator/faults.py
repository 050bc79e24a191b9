"""Fault injection and call counting for tests, as botocore built-in handlers (so every client created
after the emulator starts, the handlers' included, has them).

- ``before-send``: an injected fault answers the HTTP attempt the way AWS would (status, error code), so
  botocore's retry mode sees it (throttling is retried), and the emulator never applies the write.
- ``before-call``: every API call a Lambda handler makes is counted, once per call.
- ``after-call``: every mutating call AWS applied is counted (``applied``), and a crash set for that call ends the
  function there, after the change went through and before it returned (``Crash``, raised through the handler).
- A fault code ``ReadTimeout`` is the network timing out: botocore's own ``ReadTimeoutError``, which its retry mode
  retries as it would on AWS.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
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

STATUS = {  # the HTTP status AWS answers each error code with (a 5xx is what botocore retries as transient)
    "ThrottlingException": 400,
    "Throttling": 400,
    "AuthorizationError": 403,
    "AccessDenied": 403,
    "InternalServerError": 500,
    "InternalError": 500,
    "InternalFailure": 500,
    "InternalServiceError": 500,
    "ServerException": 500,
    "TooManyRequestsException": 429,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "PreconditionFailedException": 412,
    "ServiceException": 500,
}


TIMEOUT = "ReadTimeout"  # not an AWS error code: the call never answers

# How Lambda reports a sandbox that ended without the handler returning, as Invoke's payload says it (errorType)
# and Step Functions names the error (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html,
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html: none is a Lambda service
# exception, so the workflow's Retry does not match them and its Catch does).
CRASHES = {
    "Sandbox.Timedout": "Task timed out after 30.00 seconds",
    "Runtime.OutOfMemory": "Runtime exited with error: signal: killed",
    "Runtime.ExitError": "Runtime exited with error: exit status 1",
}


@dataclass
class Fault:
    service: str
    operation: str | None  # None = every operation of the service
    code: str
    message: str
    times: int | None  # None = every call
    function: str | None = None  # None = any handler's call
    invocation: int | None = None  # None = every invocation of the function; n = only its n-th in this test


@dataclass
class Hold:
    """A handler's call that, once AWS applied it, waits for ``release`` before the handler goes on (``reached``
    tells the test it got there): what a slow function looks like to whoever acts meanwhile."""

    function: str
    after: tuple[str, str]
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Crash(BaseException):
    """The sandbox ends here (a timeout, out of memory, the process killed): nothing in the handler can catch it,
    as nothing in a real one can. ``after`` None: before the handler runs; else once that call has been applied."""

    function: str
    error: str
    after: tuple[str, str] | None = None
    invocation: int | None = None  # None = the next invocation that gets there; n = only the function's n-th

    def __str__(self) -> str:
        return CRASHES[self.error]


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._crashes: list[Crash] = []
        self._holds: list[Hold] = []
        self.hits: list[tuple[str, str, str]] = []
        # every AWS call a Lambda handler made: (function, service, operation)
        self.calls: list[tuple[str, str, str]] = []
        # every mutating call AWS applied for a handler: (function, service, operation)
        self.applied: list[tuple[str, str, str]] = []
        # (function, its n-th invocation since clear(), service, operation)
        self.invocation_calls: list[tuple[str, int, str, str]] = []
        self.invocations: collections.Counter[str] = collections.Counter()
        self.local = threading.local()

    def add(
        self,
        service: str,
        operation: str | None,
        code: str,
        message: str = "injected",
        times: int | None = None,
        function: str | None = None,
        invocation: int | None = None,
    ) -> None:
        with self._lock:
            self._faults.append(Fault(service, operation, code, message, times, function, invocation))

    def crash(
        self,
        function: str,
        error: str = "Sandbox.Timedout",
        after: tuple[str, str] | None = None,
        invocation: int | None = None,
    ) -> None:
        """An invocation of ``function`` (the next, or its ``invocation``-th) ends with ``error``: before its handler
        runs, or right after AWS applied the call ``after`` (service, operation). Once."""
        if error not in CRASHES:
            raise ValueError(f"unknown crash {error!r}; one of {', '.join(CRASHES)}")
        with self._lock:
            self._crashes.append(Crash(function, error, after, invocation))

    def hold(self, function: str, after: tuple[str, str]) -> Hold:
        """The next time ``function`` makes the call ``after`` (service, operation), it waits there once AWS applied
        it, until the test releases it (at most a minute)."""
        held = Hold(function, after)
        with self._lock:
            self._holds.append(held)
        return held

    def _take_hold(self, function: str, after: tuple[str, str]) -> Hold | None:
        with self._lock:
            for held in self._holds:
                if (held.function, held.after) == (function, after):
                    self._holds.remove(held)
                    return held
        return None

    def clear(self) -> None:
        with self._lock:
            for held in self._holds:
                held.release.set()
            self._holds.clear()
            self._faults.clear()
            self._crashes.clear()
            self.hits.clear()
            self.calls.clear()
            self.applied.clear()
            self.invocation_calls.clear()
            self.invocations.clear()

    def _take_crash(self, function: str, after: tuple[str, str] | None) -> Crash | None:
        invocation = getattr(self.local, "invocation", None)
        with self._lock:
            for crash in self._crashes:
                if crash.function == function and crash.after == after and crash.invocation in (None, invocation):
                    self._crashes.remove(crash)
                    self.hits.append((*(after or ("lambda", "Invoke")), crash.error))
                    return crash
        return None

    def before_invoke(self, function: str) -> None:
        """The runtime calls this before a handler runs: a crash set for the start ends the invocation here."""
        crash = self._take_crash(function, None)
        if crash is not None:
            raise crash

    def mutating_calls(self) -> list[tuple[str, str]]:
        """The mutating calls the controller's handlers made (not the test's or the estate's own)."""
        return [(service, op) for _, service, op in self.calls if (service, op) in MUTATING]

    @contextlib.contextmanager
    def handler(self, function: str) -> Iterator[None]:
        """Calls made inside this block are the handler's (the runtime wraps every invocation)."""
        with self._lock:
            self.invocations[function] += 1
            self.local.invocation = self.invocations[function]
        self.local.function = function
        try:
            yield
        finally:
            self.local.function = None
            self.local.invocation = None

    def match(self, service: str, operation: str, function: str | None = None) -> Fault | None:
        invocation = getattr(self.local, "invocation", None)
        with self._lock:
            for fault in self._faults:
                if (
                    fault.service == service
                    and fault.operation in (None, operation)
                    and fault.function in (None, function)
                    and fault.invocation in (None, invocation)
                    and fault.times != 0
                ):
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
        invocation = getattr(FAULTS.local, "invocation", 0)
        FAULTS.invocation_calls.append((function, invocation, model.service_model.service_name, model.name))


def _after_call(model: Any = None, http_response: Any = None, **_: Any) -> None:
    function = getattr(FAULTS.local, "function", None)
    if model is None or not function or http_response is None or http_response.status_code >= 300:
        return
    call = (model.service_model.service_name, model.name)
    if call in MUTATING:
        FAULTS.applied.append((function, *call))
    crash = FAULTS._take_crash(function, call)
    if crash is not None:
        raise crash
    held = FAULTS._take_hold(function, call)
    if held is not None:
        held.reached.set()
        held.release.wait(60)


def _before_send(request: Any = None, event_name: str = "", **_: Any) -> Any:
    function = getattr(FAULTS.local, "function", None)
    if not function:
        return None  # faults are for the controller's handlers, not for the test or the estate
    parts = [*event_name.split("."), "", ""]
    service, operation = parts[1], parts[2]
    fault = FAULTS.match(service, operation, function)
    if fault is None or request is None:
        return None
    if fault.code == TIMEOUT:
        # what botocore raises when the endpoint does not answer within read_timeout (an HTTPClientError: its
        # retry mode retries it, then the caller gets it)
        raise ReadTimeoutError(endpoint_url=request.url)
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
    if ("after-call", _after_call) not in handlers:
        handlers.append(("after-call", _after_call))
    if ("before-send", _before_send) not in handlers:
        handlers.insert(0, ("before-send", _before_send))  # ahead of moto's own responder
