"""The diagnosis rules (data): each category family, every CodeDeploy error code, and unknown evidence."""

from __future__ import annotations

import json

import botocore.session
import pytest

from rollbackctl import diagnosis

# CodeDeploy errorInformation.code values, as listed in ../shared/docs/FAILURES.md
CODEDEPLOY_CODES = [
    "ALARM_ACTIVE",
    "MANUAL_STOP",
    "IAM_ROLE_MISSING",
    "IAM_ROLE_PERMISSIONS",
    "AUTO_SCALING_IAM_ROLE_PERMISSIONS",
    "MISSING_GITHUB_TOKEN",
    "INVALID_REVISION",
    "REVISION_MISSING",
    "APPLICATION_MISSING",
    "DEPLOYMENT_GROUP_MISSING",
    "INVALID_LAMBDA_CONFIGURATION",
    "INVALID_LAMBDA_FUNCTION",
    "INVALID_ECS_SERVICE",
    "MISSING_BLUE_GREEN_DEPLOYMENT_CONFIGURATION",
    "MISSING_ELB_INFORMATION",
    "ELASTIC_LOAD_BALANCING_INVALID",
    "ELB_INVALID_INSTANCE",
    "CODEDEPLOY_RESOURCE_CANNOT_BE_FOUND",
    "HEALTH_CONSTRAINTS_INVALID",
    "CLOUDFORMATION_STACK_FAILURE",
    "INVALID_EKS_CLUSTER",
    "HEALTH_CONSTRAINTS",
    "HOOK_EXECUTION_FAILURE",
    "CUSTOMER_APPLICATION_UNHEALTHY",
    "ECS_UPDATE_ERROR",
    "KUBERNETES_UPDATE_ERROR",
    "NO_INSTANCES",
    "OVER_MAX_INSTANCES",
    "AGENT_ISSUE",
    "AUTO_SCALING_CONFIGURATION",
    "AUTOSCALING_VALIDATION_ERROR",
    "NO_EC2_SUBSCRIPTION",
    "RESOURCE_LIMIT_EXCEEDED",
    "THROTTLED",
    "TIMEOUT",
    "INTERNAL_ERROR",
]
# CodePipeline's own FailureType values, from its API model (what detail.execution-result.error-code holds)
PIPELINE_FAILURE_TYPES = botocore.session.get_session().get_service_model("codepipeline").shape_for("FailureType").enum


@pytest.mark.parametrize(
    "evidence, category, in_summary, in_remediation",
    [
        (
            {"source": "codedeploy", "code": "IAM_ROLE_MISSING", "message": "role gone"},
            "permissions",
            "service role",
            "Recreate",
        ),
        (
            {
                "source": "codepipeline",
                "code": "ConfigurationError",
                "message": "bad cluster",
                "stage": "Deploy",
                "action": "Ecs",
            },
            "configuration",
            "Ecs action of stage Deploy",
            "configuration",
        ),
        (
            {
                "source": "ecs",
                "code": "SERVICE_DEPLOYMENT_FAILED",
                "message": "ECS deployment circuit breaker: tasks failed to start.",
            },
            "application-health",
            "circuit breaker",
            "stoppedReason",
        ),
        (
            {"source": "codedeploy", "code": "NO_INSTANCES", "message": "no instances"},
            "capacity",
            "capacity",
            "Auto Scaling",
        ),
        (
            {"source": "codepipeline", "code": "SystemUnavailable", "message": "try later", "action": "Build"},
            "transient",
            "could not run Build",
            "Retry",
        ),
        (
            {"source": "codebuild", "code": "BUILD", "message": "3 tests failed"},
            "build-test",
            "3 tests failed",
            "failing test",
        ),
        (
            {"source": "codepipeline", "code": "RevisionUnavailable", "message": "token expired"},
            "source-credentials",
            "token expired",
            "connection",
        ),
        (
            {
                "source": "alarm",
                "code": "QueueDepth",
                "alarm": "orders-backlog",
                "metric": "Shop/QueueDepth",
                "message": "Threshold Crossed",
            },
            "alarm-only",
            "orders-backlog",
            "metric",
        ),
        (
            {"source": "codedeploy", "code": "ALARM_ACTIVE", "message": "alarm x in ALARM"},
            "manual-or-alarm-stop",
            "alarm x in ALARM",
            "ignoreAlarmConfiguration",
        ),
    ],
)
def test_each_family(evidence: dict, category: str, in_summary: str, in_remediation: str) -> None:
    result = diagnosis.classify([evidence])
    assert result.category == category
    assert in_summary in result.summary
    assert in_remediation in result.remediation
    assert result.evidence == [evidence]


@pytest.mark.parametrize("code", CODEDEPLOY_CODES)
def test_every_codedeploy_error_code_has_a_rule(code: str) -> None:
    assert diagnosis.classify([{"source": "codedeploy", "code": code}]).category != "unclassified"


@pytest.mark.parametrize("code", PIPELINE_FAILURE_TYPES)
def test_every_codepipeline_failure_type_has_a_rule(code: str) -> None:
    assert diagnosis.classify([{"source": "codepipeline", "code": code}]).category != "unclassified"


def test_the_event_parser_knows_every_codepipeline_failure_type() -> None:
    from rollbackctl import events

    assert list(events.PIPELINE_FAILURE_TYPES) == PIPELINE_FAILURE_TYPES


def test_the_most_specific_evidence_wins_over_the_alarm() -> None:
    result = diagnosis.classify(
        [
            {"source": "alarm", "code": "Errors", "alarm": "a", "metric": "AWS/Lambda Errors"},
            {"source": "codedeploy", "code": "HOOK_EXECUTION_FAILURE", "message": "AfterAllowTraffic failed"},
        ]
    )
    assert result.category == "application-health"
    assert "AfterAllowTraffic failed" in result.summary


def test_unknown_evidence_is_unclassified_and_kept() -> None:
    evidence = [
        {"source": "codedeploy", "code": "SOMETHING_NEW", "message": "?"},
        {"source": "codebuild", "missing": "AccessDeniedException"},
    ]
    result = diagnosis.classify(evidence)
    assert result.category == "unclassified"
    assert result.evidence == evidence
    assert "SOMETHING_NEW" in result.summary


def test_evidence_past_the_budget_is_cut_and_says_how_much() -> None:
    evidence = [{"source": "codebuild", "code": "SOMETHING", "message": f"item {n}"} for n in range(30)]
    evidence.append({"source": "codedeploy", "code": "HOOK_EXECUTION_FAILURE", "message": "the cause"})
    result = diagnosis.classify(evidence)
    *kept, marker = result.evidence
    assert result.category == "application-health"  # the rules saw it all ...
    assert evidence[-1] in kept and len(kept) == diagnosis.MAX_EVIDENCE  # ... and what they rest on is kept
    assert marker == {
        "source": "rollbackctl",
        "code": "truncated",
        "truncated": 31 - diagnosis.MAX_EVIDENCE,
        "message": f"{31 - diagnosis.MAX_EVIDENCE} more evidence items were left out to keep the incident under "
        f"its size budget ({diagnosis.MAX_EVIDENCE} of 31 kept)",
    }


def test_an_item_over_its_size_is_cut_to_it() -> None:
    huge = {
        "source": "codedeploy",
        "code": "HOOK_EXECUTION_FAILURE",
        "message": "m" * 100_000,
        "rollback": {"x": "y" * 9000},
    }
    [item] = diagnosis.bounded([huge])
    assert item["truncated"] is True and len(item["message"]) == diagnosis.STRING_LIMIT
    assert len(json.dumps(item)) <= diagnosis.ITEM_BYTES
    many_keys = {"source": "codebuild", "code": "BUILD", **{f"k{n}": "v" * 400 for n in range(40)}}
    [item] = diagnosis.bounded([many_keys])
    assert set(item) == {"source", "code", "truncated"}  # only the core keys are left when even cut it is too big
    small = {"source": "alarm", "code": "Errors", "message": "fine"}
    assert diagnosis.bounded([small]) == [small]  # what fits is kept exactly as it came


def test_the_whole_diagnosis_stays_within_its_budget_at_worst() -> None:
    worst = [
        {"source": "codebuild", "code": f"C{n}", **{f"k{k}": "\u00e9" * 499 for k in range(20)}} for n in range(500)
    ]
    worst.append({"source": "codedeploy", "code": "HOOK_EXECUTION_FAILURE", "message": "\U0001f4a5" * 50_000})
    result = diagnosis.classify(worst)
    assert len(result.summary) <= diagnosis.TEXT_LIMIT and result.summary.endswith("\u2026")
    assert len(json.dumps(result.__dict__)) <= diagnosis.BUDGET
    assert result.evidence[-1]["truncated"] == len(worst) - (len(result.evidence) - 1)
