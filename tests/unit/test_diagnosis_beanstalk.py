"""The Elastic Beanstalk diagnosis rules (data): the messages Elastic Beanstalk writes in an environment's events
when a deployment goes wrong, each to its category; and the most specific one wins over the generic."""

from __future__ import annotations

import pytest

from rollbackctl import diagnosis


def event(message: str, severity: str = "ERROR") -> dict[str, str]:
    return {"source": "beanstalk", "code": severity, "message": message, "environment": "shop/shop-prod"}


@pytest.mark.parametrize(
    ("message", "category", "in_remediation"),
    [
        (
            "[Instance: i-016d570f7670243d0] Command failed on instance. Return code: 1 Output: Engine execution has "
            "encountered an error.",
            "configuration",
            "eb-engine.log",
        ),
        ("Instance deployment failed. For details, see 'eb-engine.log'.", "configuration", "eb-engine.log"),
        ("Your source bundle has issues that caused the deployment to fail.", "configuration", "source bundle"),
        (
            "The instance profile aws-elasticbeanstalk-ec2-role associated with the environment does not exist.",
            "permissions",
            "instance profile",
        ),
        (
            "Environment health has transitioned from Ok to Severe. 100.0 % of the requests are failing with HTTP 5xx.",
            "application-health",
            "application logs",
        ),
        ("ELB health is failing or not available for all instances.", "application-health", "health check path"),
        (
            "Some instances have not responded to commands. Responses were not received from [i-0abc].",
            "transient",
            "Retry",
        ),
        ("We encountered insufficient capacity for the instance type in the Availability Zone.", "capacity", "quotas"),
        ("Failed to deploy application.", "application-health", "eb-engine.log"),
    ],
)
def test_each_beanstalk_message_has_its_category(message: str, category: str, in_remediation: str) -> None:
    result = diagnosis.classify([event(message)])
    assert result.category == category, result.summary
    assert message[:40] in result.summary
    assert in_remediation in result.remediation


def test_the_instance_failure_wins_over_the_generic_deployment_failure_and_the_alarm() -> None:
    result = diagnosis.classify(
        [
            {
                "source": "alarm",
                "code": "ApplicationRequests5xx",
                "alarm": "shop-5xx",
                "metric": "AWS/ElasticBeanstalk",
            },
            event("Failed to deploy application."),
            event("[Instance: i-0abc] Command failed on instance. Return code: 1 Output: (TRUNCATED)..."),
        ]
    )
    assert result.category == "configuration"
    assert "Command failed on instance" in result.summary
