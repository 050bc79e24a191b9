"""Lambda functions run in-process: the seam that replaces moto's Docker-based invoke.

Each function is imported once (its cold start) with its own environment variables set, exactly as the
Lambda runtime would; later invocations reuse the module (a warm container). Output a handler prints
(Powertools logs and metrics) is captured per thread and returned as the invocation's logs.

A function's credentials are its execution role's, as Lambda gives them: at cold start Lambda assumes the role
(its trust policy must name lambda.amazonaws.com) and puts the session's keys in the environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; Lambda Developer Guide, "Defining Lambda function
permissions with an execution role" and "Using Lambda environment variables"). So the emulator knows every call a
handler makes as that role's session, named after the function, in process and on ``local-aws`` alike.

Every botocore session in the process shares one loader (``share_botocore_loader``): the service models a new
client needs are read from disk and decompressed once per process, not again at every container's cold start.
On AWS each container is its own process and pays that once; ``bench/coldstart.py`` measures it there, in a
fresh interpreter per function. Loaded models are read-only to botocore (one session's clients share them too).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import botocore.loaders
import botocore.session

from ..config import EMULATOR_SLACK_LOOPBACK
from . import identity, sts
from .faults import FAULTS, Crash

# The current thread's capture buffer, shared by every stand-in: a logging handler made while an earlier one was
# sys.stdout (pytest puts its own back between tests) still writes to the invocation running on its thread.
_LOCAL = threading.local()


class _ThreadStdout(io.TextIOBase):
    """sys.stdout stand-in: writes go to the current thread's capture buffer if it has one."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self.local = _LOCAL

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        return (buffer or self.real).write(text)

    def flush(self) -> None:
        buffer = getattr(self.local, "buffer", None)
        (buffer or self.real).flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.real.fileno()


_STDOUT_LOCK = threading.Lock()


def _capturing_stdout() -> _ThreadStdout:
    with _STDOUT_LOCK:
        if not isinstance(sys.stdout, _ThreadStdout):
            sys.stdout = _ThreadStdout(sys.stdout)
        return sys.stdout


@dataclass
class LambdaContext:
    """What the Lambda runtime hands a handler (the fields Powertools reads)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class _Container:
    module: ModuleType
    handler: Any


class InProcessRuntime:
    """Runs the handlers of registered functions in this process."""

    def __init__(self, region: str, endpoint_url: str | None = None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.code_dirs: dict[str, Path] = {}
        self.containers: dict[tuple[str, str], _Container] = {}
        self.invocations: list[dict[str, Any]] = []
        self._lock = threading.RLock()

    def register(self, function_name: str, code_dir: Path) -> None:
        self.code_dirs[function_name] = code_dir

    def base_environment(self, region: str | None = None) -> dict[str, str]:
        region = region or self.region
        env = {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 - the emulator's fake credentials
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here; never patch botocore globally
            # a local Slack catcher (http://127.0.0.1:PORT/services/...) is a webhook here, and only here
            EMULATOR_SLACK_LOOPBACK: "true",
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env

    def _cold_start(self, name: str, handler: str, env: dict[str, str], fn: Any = None) -> _Container:
        code_dir = self.code_dirs.get(name)
        if code_dir is None:
            raise LookupError(f"function {name} has no local code registered with the emulator")
        module_path, _, attr = handler.rpartition(".")
        path = code_dir / (module_path.replace(".", "/") + ".py")
        spec = importlib.util.spec_from_file_location(f"rollbackctl_function_{name.replace('-', '_')}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        given = dict(self.base_environment(getattr(fn, "region", None)))
        if getattr(fn, "role", None):  # ``rollbackctl invoke``, like ``sam local invoke``, runs with yours
            given.update(_execution_role_credentials(fn))
        given.update(env)
        # Only the function's own variables are set, and put back one by one afterwards. None is ever removed: a
        # variable the process did not have is left empty, as if unset (botocore and the settings read an empty
        # value as none). Removing one, or clearing the environment, even for a moment, breaks another thread
        # iterating os.environ meanwhile (urllib reads the proxies that way on every new botocore client).
        saved = {key: os.environ.get(key) for key in given}
        try:
            os.environ.update(given)
            spec.loader.exec_module(module)
        finally:
            os.environ.update({key: "" if value is None else value for key, value in saved.items()})
        return _Container(module, getattr(module, attr))

    def container(self, name: str, handler: str, env: dict[str, str], revision: str, fn: Any = None) -> _Container:
        key = (name, revision)
        with self._lock:
            if key not in self.containers:
                self.containers[key] = self._cold_start(name, handler, env, fn)
            return self.containers[key]

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        """The seam: ``LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)``."""
        if isinstance(event, str):
            event = json.loads(event or "{}")
        stdout = _capturing_stdout()
        buffer = io.StringIO()
        stdout.local.buffer = buffer
        errored = False
        try:
            container = self.container(
                fn.function_name, fn.handler, dict(fn.environment_vars or {}), str(fn.last_modified), fn
            )
            context = LambdaContext(fn.function_name, str(fn.version), fn.function_arn, int(fn.memory_size))
            running = identity.running(fn) if getattr(fn, "role", None) else contextlib.nullcontext()
            with FAULTS.handler(fn.function_name), running:
                FAULTS.before_invoke(fn.function_name)
                result = container.handler(event, context)
            payload = json.dumps(result)
        except Crash as crash:
            # the sandbox ended without the handler returning: Lambda reports it so and starts the next invocation
            # in a new one (a cold start)
            errored = True
            payload = json.dumps(
                {"errorType": crash.error, "errorMessage": f"RequestId: {context.aws_request_id} Error: {crash}"}
            )
            with self._lock:
                self.containers.pop((fn.function_name, str(fn.last_modified)), None)
        except Exception as exc:
            errored = True
            payload = json.dumps(
                {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc)[-5:],
                }
            )
        finally:
            stdout.local.buffer = None
        logs = buffer.getvalue()
        self.invocations.append({"function": fn.function_name, "errored": errored, "logs": logs})
        return payload, errored, logs


def _execution_role_credentials(fn: Any) -> dict[str, str]:
    """What Lambda puts in a function's environment: its execution role's session, named after the function."""
    session = sts.assume_as_service("lambda.amazonaws.com", str(fn.role), str(fn.function_name), str(fn.region))
    if session is None:
        # Lambda's own words when the execution role does not trust it (CreateFunction refuses the same)
        raise PermissionError(f"The role defined for the function cannot be assumed by Lambda: {fn.role}")
    return {
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
    }


class _SearchPaths(list[str]):
    """A shared loader's search paths: each boto3 Session adds its own data path again; it is kept once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


_loaders: dict[str | None, botocore.loaders.Loader] = {}
_loaders_lock = threading.Lock()
_create_loader = botocore.loaders.create_loader


def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    with _loaders_lock:
        if search_path_string not in _loaders:
            loader = _create_loader(search_path_string)
            loader._search_paths = _SearchPaths(loader.search_paths)
            _loaders[search_path_string] = loader
        return _loaders[search_path_string]


def share_botocore_loader() -> None:
    """One botocore loader per data path for every session created from now on (see the module's docstring)."""
    botocore.session.create_loader = _shared_loader  # type: ignore[attr-defined]
