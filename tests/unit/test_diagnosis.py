"""The diagnosis rules (data): each category family, every CodeDeploy error code, and unknown evidence."""

from __future__ import annotations

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
PIPELINE_FAILURE_TYPES = [
    "JobFailed",
    "ConfigurationError",
    "PermissionError",
    "RevisionOutOfSync",
    "RevisionUnavailable",
    "SystemUnavailable",
]


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
