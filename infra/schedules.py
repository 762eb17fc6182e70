"""EventBridge Scheduler invoking one function: the lake's hourly load and the alerts' volume check."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct


def invoking_schedule(
    scope: Construct,
    *,
    function: lambda_.IFunction,
    schedule: scheduler.ScheduleExpression,
    retry_attempts: int,
    role_description: str,
    description: str,
) -> tuple[scheduler.Schedule, iam.Role]:
    """A schedule (`Schedule`) invoking `function` with `{}` through a role (`ScheduleRole`) that may
    invoke that function and nothing else. Scheduler assumes the role for schedules of this account's
    default group only (the confused-deputy conditions Scheduler documents); the grant names the
    function's exact ARN (`grant_invoke`, which the target would call, adds `<arn>:*` too)."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "ScheduleRole",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com",
            conditions={
                "StringEquals": {
                    "aws:SourceAccount": stack.account,
                    "aws:SourceArn": stack.format_arn(
                        service="scheduler", resource="schedule-group", resource_name="default"
                    ),
                }
            },
        ),
        description=role_description,
    )
    role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn]))
    created = scheduler.Schedule(
        scope,
        "Schedule",
        schedule=schedule,
        target=scheduler_targets.LambdaInvoke(
            function,
            input=scheduler.ScheduleTargetInput.from_object({}),
            retry_attempts=retry_attempts,
            role=role.without_policy_updates(),
        ),
        description=description,
    )
    return created, role
