"""Step Functions parses a definition once and shares it between executions (emulator/stepfunctions.py).

Sharing is safe only if evaluating the program keeps every execution's state in that execution: here executions
of one program run at once, each with its own number of failures to retry, and each must end exactly as it does
when it runs alone (the retries counted per execution, the catch taken only after the last attempt).
"""

from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from rollbackctl.emulator import wait_for_execution

HANDLER = textwrap.dedent(
    """
    import threading

    ATTEMPTS = {}
    LOCK = threading.Lock()

    def handler(event, context):
        with LOCK:
            attempt = ATTEMPTS[event["id"]] = ATTEMPTS.get(event["id"], 0) + 1
        if attempt <= event["failures"]:
            raise RuntimeError(f"attempt {attempt} of {event['id']} fails")
        return {"attempts": attempt}
    """
)
MAX_ATTEMPTS = 2  # retries after the first attempt: 3 failures are caught, fewer succeed


def definition(comment: str) -> str:
    return json.dumps(
        {
            "Comment": comment,
            "StartAt": "Flaky",
            "States": {
                "Flaky": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "flaky", "Payload.$": "$"},
                    "ResultSelector": {"attempts.$": "$.Payload.attempts"},
                    "ResultPath": "$.flaky",
                    "Retry": [
                        {
                            "ErrorEquals": ["RuntimeError"],
                            "IntervalSeconds": 1,
                            "MaxAttempts": MAX_ATTEMPTS,
                            "BackoffRate": 1.0,
                        }
                    ],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}],
                    "Next": "Done",
                },
                "Caught": {"Type": "Pass", "Result": "caught", "ResultPath": "$.outcome", "End": True},
                "Done": {"Type": "Pass", "Result": "done", "ResultPath": "$.outcome", "End": True},
            },
        }
    )


@pytest.fixture
def machines(aws: Any, tmp_path: Path) -> tuple[Any, str, str]:
    (tmp_path / "app.py").write_text(HANDLER)
    role = aws.client("iam").create_role(
        RoleName="flaky",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    aws.client("lambda").create_function(
        FunctionName="flaky", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": b"x"}
    )
    aws.runtime.register("flaky", tmp_path)
    sfn = aws.client("stepfunctions")
    alone = sfn.create_state_machine(name="alone", definition=definition("alone"), roleArn=role)
    shared = sfn.create_state_machine(name="shared", definition=definition("shared"), roleArn=role)
    return sfn, alone["stateMachineArn"], shared["stateMachineArn"]


def run(sfn: Any, machine: str, failures: int, run_id: str) -> tuple[str, list[str]]:
    """An execution's output and the types of its history events, in order."""
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"id": run_id, "failures": failures}))[
        "executionArn"
    ]
    wait_for_execution(sfn, arn, timeout=60)
    output = json.loads(sfn.describe_execution(executionArn=arn)["output"])
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    summary = f"{output['outcome']} after {output.get('flaky', {}).get('attempts', MAX_ATTEMPTS + 1)} attempts"
    return summary, [event["type"] for event in history]


def test_executions_of_one_shared_program_at_once_end_as_each_does_alone(
    machines: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn, alone, shared = machines
    parses: list[str] = []
    parse = AmazonStateLanguageParser.parse

    def counted(text: str) -> Any:
        parses.append(text)
        return parse(text)

    monkeypatch.setattr(AmazonStateLanguageParser, "parse", counted)
    cases = [0, 1, 2, 3] * 4
    expected = {failures: run(sfn, alone, failures, f"alone-{failures}") for failures in set(cases)}
    assert {failures: summary for failures, (summary, _) in expected.items()} == {
        0: "done after 1 attempts",
        1: "done after 2 attempts",
        2: "done after 3 attempts",
        3: "caught after 3 attempts",
    }

    results: dict[int, tuple[str, list[str]]] = {}
    start = threading.Barrier(len(cases))

    def execute(index: int, failures: int) -> None:
        start.wait()
        results[index] = run(sfn, shared, failures, f"shared-{index}")

    threads = [threading.Thread(target=execute, args=case) for case in enumerate(cases)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {index: results[index] for index in range(len(cases))} == {
        index: expected[failures] for index, failures in enumerate(cases)
    }
    assert parses == []  # each definition was parsed once, when CreateStateMachine validated it


def test_a_shared_program_computes_nothing_lazily_while_executions_run() -> None:
    """A component names its slot in an execution's heap (its retry counters) on first use; were two executions to
    name it at once, one would lose its counters. The shared program has every name fixed before it is shared."""
    from rollbackctl.emulator import stepfunctions

    components = list(stepfunctions._components(stepfunctions.program(definition("lazy"))))
    assert len(components) > 20  # states, their Retry and Catch, their paths and selectors
    assert all(component._EvalComponent__heap_key is not None for component in components)


# --- RedriveExecution ---------------------------------------------------------------------------------------------


def test_a_redriven_execution_reruns_only_its_unsuccessful_step_with_the_input_it_had(
    machines: tuple[Any, str, str],
) -> None:
    sfn, _, _ = machines
    role = sfn.describe_state_machine(stateMachineArn=machines[1])["roleArn"]
    steps = {
        "StartAt": "Before",
        "States": {
            "Before": {"Type": "Pass", "Result": "ran", "ResultPath": "$.before", "Next": "Flaky"},
            "Flaky": {  # no Retry, no Catch: its failure fails the execution
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "flaky", "Payload.$": "$"},
                "ResultSelector": {"attempts.$": "$.Payload.attempts"},
                "ResultPath": "$.flaky",
                "Next": "After",
            },
            "After": {"Type": "Pass", "Result": "ran", "ResultPath": "$.after", "End": True},
        },
    }
    machine = sfn.create_state_machine(name="redriven", definition=json.dumps(steps), roleArn=role)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"id": "redrive", "failures": 1}))[
        "executionArn"
    ]
    wait_for_execution(sfn, arn, timeout=60)
    failed = sfn.describe_execution(executionArn=arn)
    assert (failed["status"], failed["redriveStatus"], failed["redriveCount"]) == ("FAILED", "REDRIVABLE", 0)

    assert sfn.redrive_execution(executionArn=arn)["redriveDate"]
    wait_for_execution(sfn, arn, timeout=60)
    done = sfn.describe_execution(executionArn=arn)
    assert (done["status"], done["redriveCount"], done["redriveStatus"]) == ("SUCCEEDED", 1, "NOT_REDRIVABLE")
    assert json.loads(done["output"]) == {
        "id": "redrive",
        "failures": 1,
        "before": "ran",
        "flaky": {"attempts": 2},
        "after": "ran",
    }
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert entered == ["Before", "Flaky", "Flaky", "After"]  # Before, which succeeded, did not run again
    [redriven] = [e for e in history if e["type"] == "ExecutionRedriven"]
    assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))  # one history, its ids go on

    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable, match="SUCCEEDED"):
        sfn.redrive_execution(executionArn=arn)
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.redrive_execution(executionArn=arn.rsplit(":", 1)[0] + ":nothing-ran-here")
