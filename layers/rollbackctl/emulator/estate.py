"""A small estate to guard, built through plain AWS API calls (used by ``demo`` and the tests)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from . import patches
from .core import ACCOUNT, Emulator

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def _code(version: int, service: str = "") -> bytes:
    """Release ``version`` of ``service``'s code, the same bytes whenever it is built (a fixed timestamp in the zip),
    as a reproducible build: the same release deployed as another function has the same CodeSha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry = zipfile.ZipInfo("app.py", date_time=(2026, 1, 1, 0, 0, 0))
        archive.writestr(
            entry, f"def handler(event, context):\n    return {{'service': {service!r}, 'version': {version}}}\n"
        )
    return buffer.getvalue()


def lambda_with_versions(
    aws: Emulator, name: str, versions: int, tags: dict[str, str] | None = None, built_from: str = ""
) -> str:
    """A function with ``versions`` published versions of its own code (or of the service ``built_from``: the same
    releases deployed as another function, e.g. in the next region); returns its ARN."""
    service = built_from or name
    lam, role = aws.client("lambda"), _role(aws, "estate-lambda", TRUST)
    arn: str = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _code(1, service)},
        Tags=tags or {},
    )["FunctionArn"]
    for number in range(1, versions + 1):
        if number > 1:
            lam.update_function_code(FunctionName=name, ZipFile=_code(number, service))
        lam.publish_version(FunctionName=name, Description=f"release {number}")
    return arn


def alias(aws: Emulator, function: str, name: str, version: str, canary: tuple[str, float] | None = None) -> str:
    kwargs: dict[str, Any] = {"FunctionName": function, "Name": name, "FunctionVersion": version}
    if canary:
        kwargs["RoutingConfig"] = {"AdditionalVersionWeights": {canary[0]: canary[1]}}
    return str(aws.client("lambda").create_alias(**kwargs)["AliasArn"])


def metric_alarm(
    aws: Emulator,
    alarm: str,
    namespace: str,
    metric: str,
    dimensions: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    propagate_tags: bool = False,
) -> str:
    """An alarm on one metric (state changes come from ``fire``, not from data); returns its ARN. ``propagate_tags``:
    its state-change events carry its tags (ActionConfiguration.AlarmTagsPropagation)."""
    extra: dict[str, Any] = {}
    if propagate_tags:
        extra["ActionConfiguration"] = {"AlarmTagsPropagation": {"Enabled": True}}
    aws.client("cloudwatch").put_metric_alarm(
        **extra,
        AlarmName=alarm,
        Namespace=namespace,
        MetricName=metric,
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": k, "Value": v} for k, v in (dimensions or {}).items()],
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    return f"arn:aws:cloudwatch:{aws.region}:{ACCOUNT}:alarm:{alarm}"


def lambda_errors_alarm(
    aws: Emulator,
    alarm: str,
    function: str,
    alias_name: str,
    tags: dict[str, str] | None = None,
    propagate_tags: bool = False,
) -> str:
    """An alarm on the alias's Errors metric: dimensions FunctionName and Resource = NAME:ALIAS."""
    dimensions = {"FunctionName": function, "Resource": f"{function}:{alias_name}"}
    return metric_alarm(aws, alarm, "AWS/Lambda", "Errors", dimensions, tags, propagate_tags)


def custom_alarm(aws: Emulator, alarm: str, namespace: str, metric: str, tags: dict[str, str] | None = None) -> str:
    return metric_alarm(aws, alarm, namespace, metric, None, tags)


def fire(aws: Emulator, alarm: str, reason: str = "Threshold Crossed: 1 datapoint [5.0] >= 1.0") -> None:
    aws.client("cloudwatch").set_alarm_state(
        AlarmName=alarm,
        StateValue="ALARM",
        StateReason=reason,
        StateReasonData=json.dumps({"version": "1.0", "queryDate": "now", "recentDatapoints": [5.0], "threshold": 1.0}),
    )


# --- containers, pipelines and CodeDeploy -----------------------------------------------------------------

CODEPIPELINE_TRUST = TRUST.replace("lambda.amazonaws.com", "codepipeline.amazonaws.com")
CODEDEPLOY_TRUST = TRUST.replace("lambda.amazonaws.com", "codedeploy.amazonaws.com")


def _role(aws: Emulator, name: str, trust: str) -> str:
    iam = aws.client("iam")
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])


def task_definitions(aws: Emulator, family: str, count: int) -> list[str]:
    ecs = aws.client("ecs")
    return [
        ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": family, "image": f"{family}:{n}", "memory": 256}]
        )["taskDefinition"]["taskDefinitionArn"]
        for n in range(1, count + 1)
    ]


def ecs_service(
    aws: Emulator,
    cluster: str,
    service: str,
    task_definition: str,
    tags: dict[str, str] | None = None,
    controller: str = "ECS",
    strategy: str | None = None,
    deployment_configuration: dict[str, Any] | None = None,
) -> str:
    """A service whose first deployment has completed. ``strategy`` (ROLLING, BLUE_GREEN, LINEAR, CANARY) goes in
    its deploymentConfiguration with ``deployment_configuration``; a native strategy without a bake time gets
    ``bakeTimeInMinutes`` 5 (BLUE_GREEN requires one)."""
    from . import ecs as ecs_model

    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    kwargs: dict[str, Any] = {}
    configuration = dict(deployment_configuration or {})
    if strategy:
        configuration["strategy"] = strategy
        if strategy in ecs_model.NATIVE:
            configuration.setdefault("bakeTimeInMinutes", 5)
    if configuration:
        kwargs["deploymentConfiguration"] = configuration
    arn: str = ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition=task_definition,
        desiredCount=2,
        deploymentController={"type": controller},
        tags=[{"key": k, "value": v} for k, v in (tags or {}).items()],
        **kwargs,
    )["service"]["serviceArn"]
    if controller == "ECS":
        ecs_model.complete_rollout(ACCOUNT, aws.region, cluster, service)
    return arn


def ecs_native_deployment_in_flight(
    aws: Emulator, cluster: str, service: str, task_definition: str, stage: str = "PRODUCTION_TRAFFIC_SHIFT"
) -> str:
    """Start a deployment of ``task_definition`` on a service with a native strategy (BLUE_GREEN, LINEAR, CANARY)
    and move it to lifecycle ``stage``, as ECS would be partway through it; returns the service deployment ARN."""
    from . import ecs as ecs_model

    aws.client("ecs").update_service(cluster=cluster, service=service, taskDefinition=task_definition)
    ecs_model.set_lifecycle_stage(ACCOUNT, aws.region, cluster, service, stage)
    deployment = ecs_model.current_deployment(ACCOUNT, aws.region, cluster, service)
    assert deployment is not None
    return deployment.arn


def ecs_alarm(aws: Emulator, alarm: str, cluster: str, service: str, tags: dict[str, str] | None = None) -> str:
    """An alarm on the service's CPU: dimensions ClusterName and ServiceName."""
    return metric_alarm(aws, alarm, "AWS/ECS", "CPUUtilization", {"ClusterName": cluster, "ServiceName": service}, tags)


def pipeline(aws: Emulator, name: str, deploy_provider: str = "ECS", build_shards: int = 1) -> None:
    """Source -> Build -> Deploy, as most pipelines that ship a service look. ``build_shards`` > 1: the Build stage
    also runs Build-2 ... Build-N in parallel (test shards; CodePipeline allows 50 actions in a stage)."""
    shards = [
        {
            "name": f"Build-{n}",
            "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
            "configuration": {"ProjectName": f"{name}-build"},
            "inputArtifacts": [{"name": "source"}],
        }
        for n in range(2, build_shards + 1)
    ]
    aws.client("codepipeline").create_pipeline(
        pipeline={
            "name": name,
            "roleArn": _role(aws, "estate-codepipeline", CODEPIPELINE_TRUST),
            "artifactStore": {"type": "S3", "location": "estate-artifacts"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                            "configuration": {"S3Bucket": "estate-source", "S3ObjectKey": f"{name}.zip"},
                            "outputArtifacts": [{"name": "source"}],
                        }
                    ],
                },
                {
                    "name": "Build",
                    "actions": [
                        {
                            "name": "Build",
                            "actionTypeId": {
                                "category": "Build",
                                "owner": "AWS",
                                "provider": "CodeBuild",
                                "version": "1",
                            },
                            "configuration": {"ProjectName": f"{name}-build"},
                            "inputArtifacts": [{"name": "source"}],
                            "outputArtifacts": [{"name": "image"}],
                        },
                        *shards,
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        {
                            "name": "Deploy",
                            "actionTypeId": {
                                "category": "Deploy",
                                "owner": "AWS",
                                "provider": deploy_provider,
                                "version": "1",
                            },
                            "configuration": {},
                            "inputArtifacts": [{"name": "image"}],
                        }
                    ],
                },
            ],
        }
    )


def pipeline_in_deploy(aws: Emulator, name: str) -> str:
    """Start an execution and move it into the Deploy stage; returns its id."""
    from . import codepipeline

    execution_id: str = aws.client("codepipeline").start_pipeline_execution(name=name)["pipelineExecutionId"]
    codepipeline.advance(ACCOUNT, aws.region, name, execution_id, "Deploy")
    return execution_id


def service_shipped_by_pipeline(
    aws: Emulator, service: str = "web", pipeline_name: str = "web-pipeline", alarm: str = "web-5xx"
) -> tuple[str, str]:
    """An ECS service of cluster prod, tagged as shipped by ``pipeline_name`` (in its Deploy stage now), moving from
    its task definition 1 to 2, with an alarm on it; returns (1, 2)."""
    pipeline(aws, pipeline_name)
    pipeline_in_deploy(aws, pipeline_name)
    one, two = task_definitions(aws, service, 2)
    ecs_service(aws, "prod", service, one, tags={"rollback:pipeline": pipeline_name})
    aws.client("ecs").update_service(cluster="prod", service=service, taskDefinition=two)
    ecs_alarm(aws, alarm, "prod", service)
    return one, two


def codedeploy_group(
    aws: Emulator, application: str, group: str, platform: str, ecs_services: list[dict[str, str]] | None = None
) -> None:
    cd = aws.client("codedeploy")
    cd.create_application(applicationName=application, computePlatform=platform)
    kwargs: dict[str, Any] = {}
    if ecs_services:
        kwargs["ecsServices"] = ecs_services
    cd.create_deployment_group(
        applicationName=application,
        deploymentGroupName=group,
        serviceRoleArn=_role(aws, "estate-codedeploy", CODEDEPLOY_TRUST),
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        **kwargs,
    )


def lambda_appspec(function: str, alias_name: str, current: str, target: str) -> str:
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    function: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": function,
                            "Alias": alias_name,
                            "CurrentVersion": current,
                            "TargetVersion": target,
                        },
                    }
                }
            ],
        }
    )


def ecs_appspec(task_definition: str, container: str) -> str:
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    "TargetService": {
                        "Type": "AWS::ECS::Service",
                        "Properties": {
                            "TaskDefinition": task_definition,
                            "LoadBalancerInfo": {"ContainerName": container, "ContainerPort": 80},
                        },
                    }
                }
            ],
        }
    )


def codedeploy_deployment(aws: Emulator, application: str, group: str, appspec_content: str) -> str:
    """A blue/green deployment, shifting traffic (CodeDeployDefault canary: 10% first)."""
    return str(
        aws.client("codedeploy").create_deployment(
            applicationName=application,
            deploymentGroupName=group,
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec_content}},
        )["deploymentId"]
    )


def alb_split(aws: Emulator, name: str, services: dict[str, int], cluster: str, task_definition: str) -> dict[str, str]:
    """One ALB whose listener splits traffic between a target group per ECS service, by weight."""
    ec2, elb = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{aws.region}{zone}")["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((1, "a"), (2, "b"))
    ]
    balancer = elb.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    groups = {}
    for service in services:
        groups[service] = elb.create_target_group(
            Name=f"{name}-{service}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": groups[s], "Weight": w} for s, w in services.items()]
                },
            }
        ],
    )
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    for service in services:
        ecs.create_service(
            cluster=cluster,
            serviceName=service,
            taskDefinition=task_definition,
            desiredCount=2,
            loadBalancers=[{"targetGroupArn": groups[service], "containerName": service, "containerPort": 80}],
        )
    return groups


def failed_pipeline_execution(aws: Emulator, name: str, stage: str, code: str, message: str, **details: str) -> str:
    """Start an execution of ``name`` and fail the first action of ``stage`` with ``code`` (a FailureType),
    as CodePipeline would; ``details`` are fail_action's summary, url, external_id. Returns the execution id."""
    from . import codepipeline

    execution_id: str = aws.client("codepipeline").start_pipeline_execution(name=name)["pipelineExecutionId"]
    codepipeline.advance(ACCOUNT, aws.region, name, execution_id, stage)
    pipeline = aws.client("codepipeline").get_pipeline(name=name)["pipeline"]
    action = next(s for s in pipeline["stages"] if s["name"] == stage)["actions"][0]["name"]
    codepipeline.fail_action(
        ACCOUNT,
        aws.region,
        name,
        execution_id,
        stage,
        action,
        code,
        message,
        summary=details.get("summary", ""),
        url=details.get("url", ""),
        external_id=details.get("external_id", ""),
    )
    return execution_id


# --- Elastic Beanstalk ------------------------------------------------------------------------------------

BEANSTALK_STACK = "64bit Amazon Linux 2023 v4.6.0 running Python 3.12"


def beanstalk_application(aws: Emulator, application: str, versions: list[str]) -> None:
    """An application with these application versions, their source bundles in Beanstalk's own bucket."""
    eb = aws.client("elasticbeanstalk")
    eb.create_application(ApplicationName=application)
    for label in versions:
        eb.create_application_version(
            ApplicationName=application,
            VersionLabel=label,
            Description=f"release {label}",
            SourceBundle={
                "S3Bucket": f"elasticbeanstalk-{aws.region}-{ACCOUNT}",
                "S3Key": f"{application}/{label}.zip",
            },
        )


def beanstalk_environment(
    aws: Emulator, application: str, environment: str, version: str, tags: dict[str, str] | None = None
) -> str:
    """An environment launched with ``version`` (the launch finished: Ready); returns its ARN."""
    from . import beanstalk

    arn: str = aws.client("elasticbeanstalk").create_environment(
        ApplicationName=application,
        EnvironmentName=environment,
        VersionLabel=version,
        SolutionStackName=BEANSTALK_STACK,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )["EnvironmentArn"]
    beanstalk.finish(ACCOUNT, aws.region, environment)
    patches.drain()  # its "Environment creation successful" reached Track, as it would long before a next deployment
    return arn


def beanstalk_deploy(aws: Emulator, environment: str, version: str, finish: bool = True) -> None:
    """UpdateEnvironment to ``version``, as a deployer would; ``finish``: Elastic Beanstalk completes it now, else the
    update stays in flight (Updating) until a transition or a helper moves it."""
    from . import beanstalk

    aws.client("elasticbeanstalk").update_environment(EnvironmentName=environment, VersionLabel=version)
    if finish:
        beanstalk.finish(ACCOUNT, aws.region, environment)
    patches.drain()  # what Elastic Beanstalk and CloudTrail said reached Track before anything else happens


def beanstalk_moved(
    aws: Emulator,
    application: str = "shop",
    environment: str = "shop-prod",
    versions: tuple[str, ...] = ("v1", "v2"),
    tags: dict[str, str] | None = None,
) -> str:
    """An environment that launched on the first version and moved to each next one, every update completed (what
    Track learns them from); returns its ARN."""
    beanstalk_application(aws, application, list(versions))
    arn = beanstalk_environment(aws, application, environment, versions[0], tags)
    for label in versions[1:]:
        beanstalk_deploy(aws, environment, label)
    return arn


def beanstalk_alarm(aws: Emulator, alarm: str, environment: str, tags: dict[str, str] | None = None) -> str:
    """An alarm on the environment's 5xx responses (enhanced health): dimension EnvironmentName only."""
    return metric_alarm(
        aws, alarm, "AWS/ElasticBeanstalk", "ApplicationRequests5xx", {"EnvironmentName": environment}, tags
    )


# --- CloudFormation stacks ----------------------------------------------------------------------------------------

CLOUDFORMATION_TRUST = TRUST.replace("lambda.amazonaws.com", "cloudformation.amazonaws.com")


def stack_template(name: str, release: str) -> str:
    """What the stack deploys: the release it serves (an SSM parameter, /NAME/release) and its work queue."""
    return json.dumps(
        {
            "Resources": {
                "Release": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": f"/{name}/release", "Type": "String", "Value": release},
                },
                "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-work"}},
            },
            "Outputs": {"Release": {"Value": release}},
        }
    )


def stack(aws: Emulator, name: str, release: str, tags: dict[str, str] | None = None, service_role: bool = True) -> str:
    """A stack whose creation completed, serving ``release``, with a CloudFormation service role (as pipelines deploy
    stacks) unless ``service_role`` is False; returns its ID (the stack ARN)."""
    kwargs: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
    if service_role:
        kwargs["RoleARN"] = _role(aws, "estate-cloudformation", CLOUDFORMATION_TRUST)
    return str(
        aws.client("cloudformation").create_stack(StackName=name, TemplateBody=stack_template(name, release), **kwargs)[
            "StackId"
        ]
    )


def stack_mid_update(aws: Emulator, name: str, release: str, disable_rollback: bool = False) -> None:
    """Start an update of the stack to ``release``: UPDATE_IN_PROGRESS, its resources still the old ones."""
    aws.client("cloudformation").update_stack(
        StackName=name, TemplateBody=stack_template(name, release), DisableRollback=disable_rollback
    )


def stack_update_failed(aws: Emulator, name: str, release: str, resource: str, reason: str) -> None:
    """An update to ``release`` with rollback disabled, whose ``resource`` failed: UPDATE_FAILED."""
    from . import cloudformation

    stack_mid_update(aws, name, release, disable_rollback=True)
    cloudformation.fail_update(ACCOUNT, aws.region, name, resource, reason)


def stack_rolling_back(aws: Emulator, name: str, release: str, resource: str, reason: str) -> None:
    """An update to ``release`` whose ``resource`` failed: CloudFormation rolls it back, UPDATE_ROLLBACK_IN_PROGRESS."""
    from . import cloudformation

    stack_mid_update(aws, name, release)
    cloudformation.fail_update(ACCOUNT, aws.region, name, resource, reason)


def stack_rollback_failed(
    aws: Emulator, name: str, release: str, resource: str, reason: str, persists: bool = False
) -> None:
    """An update to ``release`` that failed, then ``resource`` failed to roll back: UPDATE_ROLLBACK_FAILED.
    ``persists``: a continued rollback fails again at it until it is fixed (``cloudformation.fix``)."""
    from . import cloudformation, progress

    stack_mid_update(aws, name, release)
    with progress.held():  # the rollback fails before it can progress (at a fast clock it would finish first)
        failed = "Resource handler returned message: the update failed"
        cloudformation.fail_update(ACCOUNT, aws.region, name, "Release", failed)
        cloudformation.fail_rollback(ACCOUNT, aws.region, name, resource, reason, persists)


def stack_alarm(aws: Emulator, alarm: str, stack_arn: str, tags: dict[str, str] | None = None) -> str:
    """An alarm on the stack's service, tagged rollback:target with the stack's ARN (no metric names a stack)."""
    return metric_alarm(aws, alarm, "Shop/Orders", "Errors", None, {"rollback:target": stack_arn, **(tags or {})})


# --- CodeDeploy on EC2 / on-premises (compute platform Server) ----------------------------------------------


def auto_scaling_group(aws: Emulator, name: str, instances: int = 2) -> str:
    """An Auto Scaling group with ``instances`` in service (what a Server deployment group deploys to)."""
    ec2, scaling = aws.client("ec2"), aws.client("autoscaling")
    template = f"{name}-template"
    ec2.create_launch_template(
        LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )
    scaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
        MinSize=instances,
        MaxSize=instances,
        DesiredCapacity=instances,
        AvailabilityZones=[f"{aws.region}a"],
    )
    return name


IN_PLACE = {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}


def server_group(
    aws: Emulator,
    application: str,
    group: str,
    auto_scaling_groups: list[str],
    tags: dict[str, str] | None = None,
    deployment_style: dict[str, str] | None = None,
    auto_rollback_on_failure: bool = False,
) -> str:
    """A CodeDeploy application (compute platform Server) and a deployment group over ``auto_scaling_groups``;
    in place unless ``deployment_style`` says otherwise. Returns the group's ARN."""
    cd = aws.client("codedeploy")
    cd.create_application(applicationName=application, computePlatform="Server")
    kwargs: dict[str, Any] = {}
    if auto_rollback_on_failure:
        kwargs["autoRollbackConfiguration"] = {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    cd.create_deployment_group(
        applicationName=application,
        deploymentGroupName=group,
        serviceRoleArn=_role(aws, "estate-codedeploy", CODEDEPLOY_TRUST),
        autoScalingGroups=auto_scaling_groups,
        deploymentStyle=deployment_style or IN_PLACE,
        tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        **kwargs,
    )
    return f"arn:aws:codedeploy:{aws.region}:{ACCOUNT}:deploymentgroup:{application}/{group}"


def s3_revision(aws: Emulator, bucket: str, key: str, body: bytes) -> dict[str, Any]:
    """A revision bundle uploaded to a versioned bucket; the RevisionLocation that names it, version and eTag."""
    s3 = aws.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {
        "revisionType": "S3",
        "s3Location": {
            "bucket": bucket,
            "key": key,
            "bundleType": "zip",
            "version": put["VersionId"],
            "eTag": put["ETag"].strip('"'),
        },
    }


def github_revision(repository: str, commit: str) -> dict[str, Any]:
    return {"revisionType": "GitHub", "gitHubLocation": {"repository": repository, "commitId": commit}}


def server_deployment(aws: Emulator, application: str, group: str, revision: dict[str, Any]) -> str:
    """A deployment of ``revision`` to the group, left where CodeDeploy starts it (Created) until it is moved."""
    return str(
        aws.client("codedeploy").create_deployment(
            applicationName=application, deploymentGroupName=group, revision=revision
        )["deploymentId"]
    )


def server_deployed(aws: Emulator, application: str, group: str, revision: dict[str, Any]) -> str:
    """A deployment of ``revision`` that went through and Succeeded."""
    from . import codedeploy_server

    deployment_id = server_deployment(aws, application, group, revision)
    codedeploy_server.complete(ACCOUNT, aws.region, deployment_id)
    return deployment_id


def server_deployment_in_flight(aws: Emulator, application: str, group: str, revision: dict[str, Any]) -> str:
    """A deployment of ``revision`` that CodeDeploy is deploying to the instances right now (InProgress)."""
    from . import codedeploy_server

    deployment_id = server_deployment(aws, application, group, revision)
    codedeploy_server.start(ACCOUNT, aws.region, deployment_id)
    return deployment_id


def asg_alarm(
    aws: Emulator,
    alarm: str,
    auto_scaling_group_name: str,
    namespace: str = "AWS/EC2",
    tags: dict[str, str] | None = None,
) -> str:
    """An alarm on the CPU of an Auto Scaling group's instances: dimension AutoScalingGroupName."""
    return metric_alarm(
        aws, alarm, namespace, "CPUUtilization", {"AutoScalingGroupName": auto_scaling_group_name}, tags
    )


# --- a V2 pipeline whose stage goes back by RollbackStage ---------------------------------------------------


def release_pipeline(
    aws: Emulator,
    name: str,
    tags: dict[str, str] | None = None,
    rollback_on_failure: bool = False,
    deploy_provider: str = "CloudFormation",
) -> str:
    """A V2 pipeline: Source (a GitHub repository through a connection) -> Build -> Deploy; returns its ARN.
    ``rollback_on_failure``: the Deploy stage's onFailure result is ROLLBACK (CodePipeline rolls it back itself)."""
    deploy: dict[str, Any] = {
        "name": "Deploy",
        "actions": [
            {
                "name": "Deploy",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": deploy_provider, "version": "1"},
                "configuration": {},
                "inputArtifacts": [{"name": "build"}],
            }
        ],
    }
    if rollback_on_failure:
        deploy["onFailure"] = {"result": "ROLLBACK"}
    created = aws.client("codepipeline").create_pipeline(
        pipeline={
            "name": name,
            "pipelineType": "V2",
            "roleArn": _role(aws, "estate-codepipeline", CODEPIPELINE_TRUST),
            "artifactStore": {"type": "S3", "location": "estate-artifacts"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {
                                "category": "Source",
                                "owner": "AWS",
                                "provider": "CodeStarSourceConnection",
                                "version": "1",
                            },
                            "configuration": {
                                "ConnectionArn": f"arn:aws:codeconnections:{aws.region}:{ACCOUNT}:connection/estate",
                                "FullRepositoryId": f"estate/{name}",
                                "BranchName": "main",
                            },
                            "outputArtifacts": [{"name": "source"}],
                        }
                    ],
                },
                {
                    "name": "Build",
                    "actions": [
                        {
                            "name": "Build",
                            "actionTypeId": {
                                "category": "Build",
                                "owner": "AWS",
                                "provider": "CodeBuild",
                                "version": "1",
                            },
                            "configuration": {"ProjectName": f"{name}-build"},
                            "inputArtifacts": [{"name": "source"}],
                            "outputArtifacts": [{"name": "build"}],
                        }
                    ],
                },
                deploy,
            ],
        },
        tags=[{"key": k, "value": v} for k, v in (tags or {}).items()],
    )
    return f"arn:aws:codepipeline:{aws.region}:{ACCOUNT}:{created['pipeline']['name']}"


def release(aws: Emulator, name: str, commit: str, stop_in: str | None = None) -> str:
    """Release ``commit`` through the pipeline: the execution runs every stage and Succeeds (or, with ``stop_in``,
    is left running in that stage). Returns the execution id."""
    from . import codepipeline

    execution_id: str = aws.client("codepipeline").start_pipeline_execution(
        name=name, sourceRevisions=[{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": commit}]
    )["pipelineExecutionId"]
    if stop_in:
        codepipeline.advance(ACCOUNT, aws.region, name, execution_id, stop_in)
    else:
        codepipeline.finish(ACCOUNT, aws.region, name, execution_id)
    return execution_id


def release_history(aws: Emulator, name: str, commits: list[str]) -> list[str]:
    """One release per commit, oldest first, each Succeeded in every stage (the last one is what Deploy runs now:
    the bad one, when an alarm fires after it "succeeded"). Returns the execution ids."""
    return [release(aws, name, commit) for commit in commits]


def rollback_stage(aws: Emulator, name: str, stage: str, to: str) -> str:
    """Someone rolled ``stage`` back to execution ``to`` (RollbackStage), and the rollback Succeeded."""
    from . import codepipeline

    cp = aws.client("codepipeline")
    rollback: str = cp.rollback_stage(pipelineName=name, stageName=stage, targetPipelineExecutionId=to)[
        "pipelineExecutionId"
    ]
    codepipeline.finish(ACCOUNT, aws.region, name, rollback)
    return rollback
