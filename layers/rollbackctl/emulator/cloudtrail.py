"""CloudTrail management events on EventBridge, as AWS delivers them when a trail is on.

For the API calls that deploy something rollbackctl guards (Lambda CreateAlias / UpdateAlias, ECS UpdateService,
CodeDeploy CreateDeployment, Elastic Beanstalk CreateEnvironment / UpdateEnvironment), the emulator puts an "AWS API
Call via CloudTrail" event on the default bus of the account and region the call was made in, after it succeeds,
with the caller in ``userIdentity``: a Lambda handler of the controller appears as its execution role's session
(named after the function), the hub acting in a member account as that account's ``rollbackctl-target`` session
(named after the incident), anyone else as a user.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.codedeploy.models import CodeDeployBackend
from moto.core.utils import utcnow
from moto.ecs.models import EC2ContainerServiceBackend
from moto.elasticbeanstalk.models import EBBackend
from moto.events.models import events_backends

from . import identity

_originals: dict[str, Any] = {}


def _identity(account: str) -> dict[str, Any]:
    """CloudTrail's userIdentity of the caller (``identity.py``): a role session (a controller Lambda handler is its
    execution role's session, named after the function; the hub acting in a member account is that account's
    ``rollbackctl-target`` session, named after the incident) or an IAM user; a call made with the emulator's own
    key (the tests', the demo's, the estate's) appears as the user ``deployer``.

    Shape: CloudTrail User Guide, "CloudTrail userIdentity element" (AssumedRole with sessionContext.sessionIssuer).
    """
    caller = identity.current(account)
    if caller.kind == "AssumedRole":
        return {
            "type": "AssumedRole",
            "principalId": f"{caller.unique_id}:{caller.session}",
            "arn": caller.caller_arn,
            "accountId": caller.account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": caller.unique_id,
                    "arn": caller.arn,
                    "accountId": caller.account,
                    "userName": caller.role_name,
                },
                "attributes": {"mfaAuthenticated": "false"},
            },
        }
    if caller.kind == "IAMUser":
        return {
            "type": "IAMUser",
            "principalId": caller.unique_id,
            "arn": caller.arn,
            "accountId": caller.account,
            "userName": caller.arn.rsplit("/", 1)[-1],
        }
    return {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/deployer", "accountId": account}


def emit(
    account: str, region: str, source: str, event_name: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    detail = {
        "eventVersion": "1.08",
        "userIdentity": _identity(account),
        "eventTime": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": f"{source}.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "requestParameters": request,
        "responseElements": response,
        "eventID": str(uuid.uuid4()),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
    }
    events_backends[account][region].put_events(
        [
            {
                "Source": f"aws.{source}",
                "DetailType": "AWS API Call via CloudTrail",
                "Detail": json.dumps(detail),
            }
        ]
    )


def _alias_call(event_name: str, key: str) -> Any:
    def call(
        self: LambdaBackend, name: str, function_name: str, function_version: str, description: str, routing_config: Any
    ) -> Any:
        alias = _originals[key](self, name, function_name, function_version, description, routing_config)
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
        emit(
            self.account_id,
            self.region_name,
            "lambda",
            event_name,
            {
                "functionName": function_name,
                "name": name,
                "functionVersion": function_version,
                "routingConfig": {"additionalVersionWeights": weights},
            },
            {
                "aliasArn": alias.arn,
                "functionVersion": alias.function_version,
                "routingConfig": {"additionalVersionWeights": weights},
                "revisionId": alias.revision_id,
            },
        )
        return alias

    return call


def _update_service(self: EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Any:
    request = {
        "cluster": service_properties.get("cluster") or "default",
        "service": service_properties.get("service"),
        "taskDefinition": service_properties.get("task_definition"),
    }
    service = _originals["update_service"](self, service_properties)
    if request["taskDefinition"]:
        emit(
            self.account_id,
            self.region_name,
            "ecs",
            "UpdateService",
            request,
            {"service": {"serviceArn": service.arn, "taskDefinition": service.task_definition}},
        )
    return service


def _create_deployment(self: CodeDeployBackend, *args: Any, **kwargs: Any) -> str:
    deployment_id: str = _originals["create_deployment"](self, *args, **kwargs)
    deployment = self.deployments[deployment_id]
    emit(
        self.account_id,
        self.region_name,
        "codedeploy",
        "CreateDeployment",
        {
            "applicationName": deployment.application_name,
            "deploymentGroupName": deployment.deployment_group_name,
            "revision": deployment.revision,
        },
        {"deploymentId": deployment_id},
    )
    return deployment_id


def _beanstalk_call(event_name: str, key: str) -> Any:
    """CreateEnvironment / UpdateEnvironment: CloudTrail records a query API's parameters and its response
    (EnvironmentDescription) with lowerCamelCase names."""

    def call(self: EBBackend, params: dict[str, Any]) -> Any:
        from . import beanstalk

        env = _originals[key](self, params)
        request = {k[0].lower() + k[1:]: v for k, v in params.items() if k in REQUEST_KEYS}
        response = {k[0].lower() + k[1:]: v for k, v in beanstalk.describe(env).items() if k in RESPONSE_KEYS}
        emit(self.account_id, self.region_name, "elasticbeanstalk", event_name, request, response)
        return env

    return call


REQUEST_KEYS = ("ApplicationName", "EnvironmentName", "EnvironmentId", "VersionLabel", "SolutionStackName")
RESPONSE_KEYS = (
    "ApplicationName",
    "EnvironmentName",
    "EnvironmentId",
    "EnvironmentArn",
    "VersionLabel",
    "Status",
    "Health",
)


def install() -> None:
    """After the ECS, CodeDeploy and Elastic Beanstalk models are patched (their behaviour first, then the trail)."""
    _originals["create_alias"] = LambdaBackend.create_alias
    _originals["update_alias"] = LambdaBackend.update_alias
    _originals["update_service"] = EC2ContainerServiceBackend.update_service
    _originals["create_deployment"] = CodeDeployBackend.create_deployment
    _originals["launch_environment"] = EBBackend.launch_environment  # type: ignore[attr-defined]
    _originals["update_environment"] = EBBackend.update_environment  # type: ignore[attr-defined]
    LambdaBackend.create_alias = _alias_call("CreateAlias20150331", "create_alias")  # type: ignore[method-assign]
    LambdaBackend.update_alias = _alias_call("UpdateAlias20150331", "update_alias")  # type: ignore[method-assign]
    EC2ContainerServiceBackend.update_service = _update_service  # type: ignore[method-assign]
    CodeDeployBackend.create_deployment = _create_deployment  # type: ignore[method-assign]
    EBBackend.launch_environment = _beanstalk_call("CreateEnvironment", "launch_environment")  # type: ignore[attr-defined]
    EBBackend.update_environment = _beanstalk_call("UpdateEnvironment", "update_environment")  # type: ignore[attr-defined]
