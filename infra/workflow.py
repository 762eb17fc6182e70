"""The state machine of a workflow over the archive (replay, user deletion): a Standard workflow
whose definition text is deployed verbatim with CloudFormation substitutions, its role, logs and
tracing.

- It has a fixed name, so its role can name the state machine's own ARN (a Distributed Map starts
  its batches as child executions of it) without a reference from the role to the state machine,
  which would be circular.
- **Logs**: level ALL (every state transition, as cdk-nag asks), without execution data: states'
  inputs and outputs, and errors' causes, can hold archived events or the ids of deleted users,
  which must never land in logs with their own retention. The log group is
  `/aws/vendedlogs/states/<state machine>-<stack id suffix>` (infra/names.py): under that prefix
  the account's CloudWatch Logs resource policy needs no statement per group. The log-delivery and
  X-Ray actions, which take no resource, sit alone in a managed policy of their own, set on the
  role through escape hatches rather than CDK's `logs`/`tracing_enabled`, which would put them in
  the role's default policy among the narrow grants.
- **Tracing**: X-Ray with `tracing=active` only; otherwise off, and the policy has no X-Ray actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.archive import Archive
from infra.names import vended_log_group_name
from infra.options import StackOptions

# Step Functions' logging to CloudWatch Logs goes through the vended log delivery API, and its
# tracing through X-Ray: none of these actions supports resource-level permissions.
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
STATE_MACHINE_XRAY_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]


@dataclass(frozen=True)
class Workflow:
    state_machine: sfn.StateMachine
    role: iam.Role
    log_group: logs.LogGroup
    logs_and_tracing_policy: iam.ManagedPolicy
    state_machine_arn: str
    child_executions_arn: str


def archive_workflow(
    scope: Construct,
    *,
    name: str,
    title: str,
    template: str,
    substitutions: dict[str, str],
    functions: Sequence[lambda_.Function],
    manifests: str,
    archive: Archive,
    options: StackOptions,
) -> Workflow:
    """The state machine `name`, invoking `functions`, its Distributed Maps reading the manifests
    at `manifests` (a key pattern of the archive bucket). Its children have fixed ids in `scope`."""
    stack = Stack.of(scope)
    state_machine_arn = stack.format_arn(
        service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    # Distributed Map child executions: `execution:<name>/<map run>:<id>`.
    child_executions_arn = stack.format_arn(
        service="states", resource="execution", resource_name=f"{name}/*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    log_group = logs.LogGroup(
        scope,
        "StateMachineLogs",
        log_group_name=vended_log_group_name(scope, "states", name),
        retention=options.log_retention,
        removal_policy=options.removal_policy_except_on_create,
    )
    # Traced with `tracing=active` only (`sampled` traces the tracking API path alone).
    traced = options.tracing == "active"
    logs_and_tracing_policy = iam.ManagedPolicy(
        scope,
        "StateMachineLogsAndTracing",
        description=f"Lets the Switchyard {title} workflow deliver its logs" + (" and X-Ray traces" if traced else ""),
        statements=[
            iam.PolicyStatement(
                actions=[*LOG_DELIVERY_ACTIONS, *(STATE_MACHINE_XRAY_ACTIONS if traced else [])], resources=["*"]
            )
        ],
    )
    nag.acknowledge_state_machine_logs_and_tracing(logs_and_tracing_policy, traced=traced)
    # A managed policy of the role: CloudFormation attaches it before creating the state machine,
    # which checks at creation that its role may deliver logs.
    role = iam.Role(
        scope,
        "StateMachineRole",
        assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
        description=f"Runs the {name} workflow: its functions, its manifests, its own child executions",
        managed_policies=[logs_and_tracing_policy],
    )
    iam.Grant.add_to_principal(
        grantee=role,
        actions=["lambda:InvokeFunction"],
        # Unqualified ARNs, as the definition invokes them: no versions or aliases.
        resource_arns=[function.function_arn for function in functions],
    )
    # The Distributed Maps' ItemReader reads the plan's manifest.
    iam.Grant.add_to_principal(
        grantee=role, actions=["s3:GetObject"], resource_arns=[archive.bucket.arn_for_objects(manifests)]
    )
    archive.key.grant(role, "kms:Decrypt")
    # A Distributed Map runs each batch as a child execution of this state machine.
    iam.Grant.add_to_principal(grantee=role, actions=["states:StartExecution"], resource_arns=[state_machine_arn])
    iam.Grant.add_to_principal(
        grantee=role,
        actions=["states:DescribeExecution", "states:StopExecution"],
        resource_arns=[child_executions_arn],
    )

    state_machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_name=name,
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_string(template),
        definition_substitutions=substitutions,
        role=role,
        removal_policy=RemovalPolicy.DESTROY,  # its records live in the delivery table
    )
    # Logs and tracing on the resource itself: `logs=` and `tracing_enabled=` would add the
    # wildcard statements of the managed policy above to the role's default policy.
    cfn = state_machine.node.default_child
    if not isinstance(cfn, sfn.CfnStateMachine):
        raise TypeError(f"unexpected state machine resource {cfn!r}")
    cfn.logging_configuration = sfn.CfnStateMachine.LoggingConfigurationProperty(
        level=sfn.LogLevel.ALL.value,
        include_execution_data=False,
        destinations=[
            sfn.CfnStateMachine.LogDestinationProperty(
                cloud_watch_logs_log_group=sfn.CfnStateMachine.CloudWatchLogsLogGroupProperty(
                    log_group_arn=log_group.log_group_arn
                )
            )
        ],
    )
    cfn.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(enabled=traced)
    if not traced:
        nag.acknowledge_untraced_workflow(state_machine)
    return Workflow(state_machine, role, log_group, logs_and_tracing_policy, state_machine_arn, child_executions_arn)
