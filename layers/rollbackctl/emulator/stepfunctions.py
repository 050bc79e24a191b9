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

It also adds what moto lacks: RedriveExecution (below).
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from typing import Any

from moto.core.models import botocore_stubber
from moto.core.responses import ActionResult
from moto.settings import moto_server_port
from moto.stepfunctions.exceptions import AWSError
from moto.stepfunctions.parser.api import (
    ExecutionRedrivenEventDetails,
    ExecutionStatus,
    HistoryEventType,
    StateMachineType,
)
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

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


# --- RedriveExecution ------------------------------------------------------------------------------------------------
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html and
# https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html: a Standard execution that FAILED, was
# ABORTED or TIMED_OUT continues from its unsuccessful step, with the input that step had; the steps that succeeded
# are not run again; the same execution ARN and definition; the history is kept, with an ExecutionRedriven event
# (executionRedrivenEventDetails.redriveCount); DescribeExecution gives redriveCount, redriveDate, redriveStatus
# and redriveStatusReason. A RUNNING or SUCCEEDED execution: ExecutionNotRedrivable. (States inside a Parallel or
# Map are not redriven on their own here: the top-level state that holds them runs again.)

REDRIVABLE = (ExecutionStatus.FAILED, ExecutionStatus.ABORTED, ExecutionStatus.TIMED_OUT)


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


def unsuccessful_step(history: list[Any], top_level: set[str]) -> tuple[str, Any]:
    """The top-level state the execution did not get past (the last one entered and not exited: a Fail state is
    never exited) and the input it was entered with."""
    entered: dict[str, Any] = {}
    for event in history:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            if details["name"] in top_level:
                entered.pop(details["name"], None)
                entered[details["name"]] = details
        elif kind.endswith("StateExited"):
            entered.pop(event["stateExitedEventDetails"]["name"], None)
    if not entered:
        raise ExecutionNotRedrivable("Execution has no unsuccessful state to redrive")
    name, details = list(entered.items())[-1]
    return name, json.loads(details.get("input") or "{}")


class _Redriven(ExecutionWorker):
    """The same execution again from ``state``: its history goes on (the event ids continue), then that state runs
    with ``state_input`` and the workflow carries on as it would have."""

    def __init__(self, before: ExecutionWorker, state: str, state_input: Any, count: int) -> None:
        super().__init__(
            evaluation_details=before._evaluation_details,
            exec_comm=before._execution_communication,
            cloud_watch_logging_session=before._cloud_watch_logging_session,
            activity_store=before._activity_store,
        )
        assert before.env is not None
        self._history = before.env.event_manager
        self._state, self._input, self._count = state, state_input, count

    def _execution_logic(self) -> None:
        program = self._get_evaluation_entrypoint()
        env = self._get_evaluation_environment()
        self.env = env
        env.event_manager = self._history
        env.event_history_context = EventHistoryContext(previous_event_id=len(self._history.get_event_history()))
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            event_details=EventDetails(
                executionRedrivenEventDetails=ExecutionRedrivenEventDetails(redriveCount=self._count)
            ),
            update_source_event_id=False,
        )
        env.states.reset(input_value=self._input)
        env.next_state_name = self._state
        EvalComponent.eval(program, env)  # the program's body from that state (Program.eval would go to StartAt)
        self._execution_communication.terminated()


def redrive_execution(backend: StepFunctionsParserBackend, execution_arn: str) -> datetime.datetime:
    execution: Execution = backend.describe_execution(execution_arn)  # ExecutionDoesNotExist
    if execution.sm_type == StateMachineType.EXPRESS:
        raise ExecutionNotRedrivable("This API action is not supported by EXPRESS state machines")
    if execution.exec_status not in REDRIVABLE:
        raise ExecutionNotRedrivable(f"Execution is {execution.exec_status.value} and cannot be redriven")
    worker = execution.exec_worker
    assert worker is not None and worker.env is not None
    top_level = set(json.loads(execution.state_machine.definition)["States"])
    state, state_input = unsuccessful_step(worker.env.event_manager.get_event_history(), top_level)
    count = getattr(execution, "redrive_count", 0) + 1
    redriven = _Redriven(worker, state, state_input, count)
    execution.redrive_count = count  # type: ignore[attr-defined]
    execution.redrive_date = datetime.datetime.now(tz=datetime.UTC)  # type: ignore[attr-defined]
    execution.exec_status, execution.stop_date = ExecutionStatus.RUNNING, None
    execution.error = execution.cause = execution.output = None
    execution.exec_worker = redriven
    redriven.start()
    return execution.redrive_date  # type: ignore[attr-defined,no-any-return]


def _set_error(self: Environment, error: Any) -> None:
    """A stopped execution stays stopped: StopExecution makes it ABORTED
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html), whatever the state it
    was in then does next. moto's evaluator, stopped during a Lambda task, fails on its own stack afterwards and
    reported the execution FAILED with a States.Runtime error instead."""
    if isinstance(self._program_state, ProgramStopped):
        return
    _originals["set_error"](self, error)


def _redrive_response(self: StepFunctionResponse) -> ActionResult:
    when = redrive_execution(self.stepfunction_backend, self._get_param("executionArn"))  # type: ignore[arg-type]
    return ActionResult({"redriveDate": when})


def _describe_response(self: StepFunctionResponse) -> ActionResult:
    """DescribeExecution with its redrive fields, as AWS gives them."""
    described = _originals["describe"](self)
    response = dict(described.result)
    execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
    response["redriveCount"] = getattr(execution, "redrive_count", 0)
    if getattr(execution, "redrive_date", None) is not None:
        response["redriveDate"] = execution.redrive_date  # type: ignore[attr-defined]
    status = execution.status
    if status in [s.value for s in REDRIVABLE]:
        response["redriveStatus"] = "REDRIVABLE"
    else:
        response["redriveStatus"] = "NOT_REDRIVABLE"
        response["redriveStatusReason"] = f"Execution is {status} and cannot be redriven"
    return ActionResult(response)


def install() -> None:
    _originals["validate"] = StepFunctionsParserBackend._validate_definition
    StepFunctionsParserBackend._validate_definition = staticmethod(_validate_definition)  # type: ignore[method-assign]
    _originals["boto_client_for"] = lambda_eval_utils.boto_client_for
    _originals["entrypoint"] = ExecutionWorker._get_evaluation_entrypoint
    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint  # type: ignore[method-assign]
    lambda_eval_utils.boto_client_for = _boto_client_for
    _originals["set_error"] = Environment.set_error
    Environment.set_error = _set_error  # type: ignore[method-assign]
    StepFunctionResponse.redrive_execution = _redrive_response  # type: ignore[attr-defined]
    _originals["describe"] = StepFunctionResponse.describe_execution
    StepFunctionResponse.describe_execution = _describe_response  # type: ignore[method-assign]
