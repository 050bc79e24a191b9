"""Step Functions' executor without its per-execution set-up costs: what AWS does once, done once here.

AWS parses and validates a state machine's definition when it is created or updated (CreateStateMachine and
UpdateStateMachine refuse an invalid one, "InvalidDefinition"); an execution runs the stored machine. moto's
executor parses the definition with ANTLR again on every StartExecution (``ExecutionWorker``), which is most of an
execution's time here, and builds a new boto3 client (a new botocore session, its handlers and its endpoint
resolver) for every Lambda task it invokes. Both are set-up, not behaviour:

- the parsed program is cached per definition text (CreateStateMachine's validation parses through it too). The
  program is read-only while it is evaluated: every execution's state (the input, the stack, the retry counters, the
  heap) lives in the execution's own ``Environment``; the one value a component computes lazily, its ``heap_key``
  (the name a retrier's counters are stored under in that heap), is computed once before the program is shared, so
  no two executions race to set it;
- the Lambda client of a task is kept per region and endpoint (boto3 clients are thread-safe; moto's
  ``boto_client_for`` takes the same fake keys and configuration for every task, and ignores the state's
  credentials).

``tests/emulator/test_stepfunctions.py`` runs executions of one shared program concurrently, with retries and
catches, and checks each one's history against an execution parsed on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from moto.core.models import botocore_stubber
from moto.settings import moto_server_port
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

PROGRAMS_KEPT = 64  # distinct definitions kept parsed (a test session deploys a few, each possibly many times)

_lock = threading.Lock()
_parsing = threading.Lock()  # one parse at a time: a definition is parsed once
_programs: dict[str, EvalComponent] = {}
_clients: dict[tuple[str, str, bool, int], Any] = {}
_originals: dict[str, Any] = {}


def _components(root: Any) -> Iterator[EvalComponent]:
    """Every evaluation component reachable from ``root`` (states, their Retry and Catch, branches, iterators)."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, EvalComponent):
            yield item
        if isinstance(item, Component):
            todo.extend(vars(item).values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            todo.extend(item)
        elif isinstance(item, dict):
            todo.extend(item.values())


def program(definition: str) -> EvalComponent:
    """The parsed program of a definition, parsed once (executions that start together wait for the one parse)
    and shared by every execution of it."""
    with _lock:
        parsed = _programs.get(definition)
    if parsed is not None:
        return parsed
    with _parsing:
        with _lock:
            parsed = _programs.get(definition)
        if parsed is None:
            parsed = AmazonStateLanguageParser.parse(definition)[0]  # a syntax error raises, as before, every time
            for component in _components(parsed):
                _ = component.heap_key  # fixed now, before any execution shares the program
            with _lock:
                while len(_programs) >= PROGRAMS_KEPT:
                    _programs.pop(next(iter(_programs)))
                _programs[definition] = parsed
        return parsed


def _get_evaluation_entrypoint(self: ExecutionWorker) -> EvalComponent:
    return program(self._evaluation_details.state_machine_details.definition)


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    key = (region, service, botocore_stubber.enabled, moto_server_port())
    with _lock:
        if key not in _clients:
            _clients[key] = _originals["boto_client_for"](region=region, service=service)
        return _clients[key]


def _validate_definition(definition: str) -> None:
    """CreateStateMachine's validation parses through the same cache (so the first execution parses nothing); an
    invalid definition is refused with moto's own error, InvalidDefinition."""
    try:
        program(definition)
    except Exception:
        _originals["validate"](definition)
        raise


def install() -> None:
    _originals["validate"] = StepFunctionsParserBackend._validate_definition
    StepFunctionsParserBackend._validate_definition = staticmethod(_validate_definition)  # type: ignore[method-assign]
    _originals["boto_client_for"] = lambda_eval_utils.boto_client_for
    _originals["entrypoint"] = ExecutionWorker._get_evaluation_entrypoint
    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint  # type: ignore[method-assign]
    lambda_eval_utils.boto_client_for = _boto_client_for
