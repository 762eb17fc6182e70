"""Replay: the replay lane (queue and event source), the three functions, the state machine that runs
the shared definition verbatim, its least-privilege grants, dashboard, alarm and outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.paths import FUNCTIONS_DIR
from infra.replay import PLAN_MEMORY_MB, REPORT_MEMORY_MB, WORKER_MEMORY_MB
from infra.workflow import LOG_DELIVERY_ACTIONS, STATE_MACHINE_XRAY_ACTIONS
from switchyard import constants
from switchyard.replay import definition

from .conftest import DUBLIN, Synthesized, base_id, name_stem, named, only, resources
from .test_delivery import event_source
from .test_observability import alarms, dashboard, graphed

pytestmark = pytest.mark.infra

FUNCTIONS = {  # logical id prefix -> (code folder, timeout, memory)
    "ReplayPlan": ("replay_plan", constants.REPLAY_PLAN_TIMEOUT_SECONDS, PLAN_MEMORY_MB),
    "ReplayWorker": ("replay_worker", constants.REPLAY_WORKER_TIMEOUT_SECONDS, WORKER_MEMORY_MB),
    "ReplayReport": ("replay_report", constants.REPLAY_REPORT_TIMEOUT_SECONDS, REPORT_MEMORY_MB),
}


def replay_state_machine(template_json: dict) -> dict:
    return named(template_json, "AWS::StepFunctions::StateMachine", "ReplayStateMachine")


def state_machine(template_json: dict) -> dict:
    return replay_state_machine(template_json)["Properties"]


def function(template_json: dict, prefix: str) -> dict:
    return named(template_json, "AWS::Lambda::Function", prefix)["Properties"]


def target(resource: Any) -> str:
    """A reference as `<base logical id>[suffix]`, or the literal string."""
    if isinstance(resource, str):
        return resource
    if "Fn::GetAtt" in resource:
        return base_id(resource["Fn::GetAtt"][0])
    if "Ref" in resource:
        return base_id(resource["Ref"])
    parts = resource["Fn::Join"][1]
    return "".join(base_id(p["Fn::GetAtt"][0]) if isinstance(p, dict) else p for p in parts)


def grants(template_json: dict, policy_prefix: str) -> dict[tuple[str, ...], tuple[frozenset[str], str]]:
    """sorted actions -> (targets, JSON of the condition) of one identity policy's statements."""
    policy = named(template_json, "AWS::IAM::Policy", policy_prefix)
    granted = {}
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        key = tuple(sorted(actions))
        assert key not in granted, f"{policy_prefix}: {key} granted twice"
        granted[key] = (frozenset(target(r) for r in targets), json.dumps(statement.get("Condition")))
    return granted


# The replay lane.


def test_replay_queue_is_named_encrypted_and_set_like_the_delivery_queue(template_json: dict, region: str) -> None:
    replay = named(template_json, "AWS::SQS::Queue", "ReplayQueue")
    delivery = named(template_json, "AWS::SQS::Queue", "DeliveryQueue")["Properties"]
    properties = replay["Properties"]
    assert properties["QueueName"] == constants.resource_name(constants.REPLAY_QUEUE, region)
    assert "FifoQueue" not in properties
    for key in ("SqsManagedSseEnabled", "MessageRetentionPeriod", "VisibilityTimeout"):
        assert properties[key] == delivery[key], key
    assert replay["DeletionPolicy"] == "Delete"  # transient messages; the archive keeps every event


def test_replay_queue_shares_the_delivery_dead_letter_queue(template_json: dict) -> None:
    redrive = named(template_json, "AWS::SQS::Queue", "ReplayQueue")["Properties"]["RedrivePolicy"]
    assert base_id(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]) == "DeliveryDeadLetterQueue"
    assert redrive["maxReceiveCount"] == constants.DELIVERY_QUEUE_MAX_RECEIVES


def test_the_delivery_function_consumes_the_replay_queue_in_a_lane_of_its_own(template_json: dict) -> None:
    live, replay = event_source(template_json), event_source(template_json, "ReplayQueue")
    assert base_id(replay["FunctionName"]["Ref"]) == "DeliveryFunction"
    assert (
        replay["BatchSize"]
        == live["BatchSize"]
        == constants.delivery_messages_per_batch(constants.DELIVERY_EVENTS_PER_MESSAGE)
    )
    assert replay["MaximumBatchingWindowInSeconds"] == constants.DELIVERY_BATCHING_WINDOW_SECONDS
    assert replay["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Each lane has its own ceiling: replays cannot take the live lane's delivery functions.
    assert replay["ScalingConfig"] == {"MaximumConcurrency": 10}
    assert live["ScalingConfig"] == {"MaximumConcurrency": 50}


def test_replay_concurrency_comes_from_context(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        assert event_source(template_json, "ReplayQueue")["ScalingConfig"] == {"MaximumConcurrency": 20}
        assert event_source(template_json)["ScalingConfig"] == {"MaximumConcurrency": 200}


# Functions.


@pytest.mark.parametrize("prefix", sorted(FUNCTIONS))
def test_functions_run_with_the_lambda_defaults_and_their_own_size(template_json: dict, prefix: str) -> None:
    _, timeout, memory = FUNCTIONS[prefix]
    properties = function(template_json, prefix)
    assert (properties["Runtime"], properties["Architectures"]) == ("python3.12", ["arm64"])
    assert properties["TracingConfig"] == {"Mode": "PassThrough"}  # tracing=off by default
    assert properties["Handler"] == "handler.lambda_handler"
    assert (properties["Timeout"], properties["MemorySize"]) == (timeout, memory)
    assert len(properties["Layers"]) == 2
    assert "VpcConfig" not in properties


@pytest.mark.parametrize("prefix", sorted(FUNCTIONS))
def test_functions_package_their_own_handler(default_app: Synthesized, prefix: str) -> None:
    folder, _, _ = FUNCTIONS[prefix]
    asset_hash = function(default_app.json[DUBLIN], prefix)["Code"]["S3Key"].removesuffix(".zip")
    staged = Path(default_app.report_dir) / f"asset.{asset_hash}" / "handler.py"
    assert staged.read_text() == (FUNCTIONS_DIR / folder / "handler.py").read_text()


@pytest.mark.parametrize("prefix", sorted(FUNCTIONS))
def test_environment_names_the_archive_the_table_and_the_replay_queue(template_json: dict, prefix: str) -> None:
    variables = function(template_json, prefix)["Environment"]["Variables"]
    assert base_id(variables[constants.ENV_ARCHIVE_BUCKET]["Ref"]) == "ArchiveBucket"
    assert base_id(variables[constants.ENV_DELIVERY_TABLE]["Ref"]) == "DeliveryTable"
    assert base_id(variables[constants.ENV_REPLAY_QUEUE_URL]["Ref"]) == "ReplayQueue"
    assert constants.ENV_CONFIG_TABLE not in variables, "replay tasks never read the workspace"


# Least privilege.

ARCHIVE_KEY = frozenset({"ArchiveKey"})
NO_CONDITION = json.dumps(None)


def test_plan_lists_the_event_partitions_and_writes_only_manifests(template_json: dict) -> None:
    assert grants(template_json, "ReplayPlanRoleDefaultPolicy") == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): (frozenset({"ReplayPlanLogs"}), NO_CONDITION),
        ("s3:ListBucket",): (
            frozenset({"ArchiveBucket"}),
            json.dumps({"StringLike": {"s3:prefix": "source_id=*"}}),
        ),
        ("s3:PutObject",): (frozenset({"ArchiveBucket/_replays/*"}), NO_CONDITION),
        ("kms:Decrypt", "kms:GenerateDataKey"): (ARCHIVE_KEY, NO_CONDITION),
        ("dynamodb:UpdateItem",): (frozenset({"DeliveryTable"}), NO_CONDITION),
    }


def test_worker_reads_event_objects_and_sends_to_the_replay_lane_only(template_json: dict) -> None:
    assert grants(template_json, "ReplayWorkerRoleDefaultPolicy") == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): (frozenset({"ReplayWorkerLogs"}), NO_CONDITION),
        ("s3:GetObject",): (frozenset({"ArchiveBucket/source_id=*"}), NO_CONDITION),
        ("kms:Decrypt",): (ARCHIVE_KEY, NO_CONDITION),
        ("sqs:SendMessage",): (frozenset({"ReplayQueue"}), NO_CONDITION),
        ("dynamodb:GetItem", "dynamodb:UpdateItem"): (frozenset({"DeliveryTable"}), NO_CONDITION),
    }


def test_report_only_updates_the_replay_record(template_json: dict) -> None:
    assert grants(template_json, "ReplayReportRoleDefaultPolicy") == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): (frozenset({"ReplayReportLogs"}), NO_CONDITION),
        ("dynamodb:GetItem", "dynamodb:UpdateItem"): (frozenset({"DeliveryTable"}), NO_CONDITION),
    }


def test_workflow_role_invokes_its_functions_reads_manifests_and_runs_its_own_children(
    template_json: dict, region: str, default_app: Synthesized
) -> None:
    account = default_app.stacks[region].account
    name = constants.resource_name(constants.REPLAY_STATE_MACHINE, region)
    assert grants(template_json, "ReplayStateMachineRoleDefaultPolicy") == {
        ("lambda:InvokeFunction",): (frozenset({"ReplayPlan", "ReplayWorker", "ReplayReport"}), NO_CONDITION),
        ("s3:GetObject",): (frozenset({"ArchiveBucket/_replays/*"}), NO_CONDITION),
        ("kms:Decrypt",): (ARCHIVE_KEY, NO_CONDITION),
        ("states:StartExecution",): (
            frozenset({f"arn:aws:states:{region}:{account}:stateMachine:{name}"}),
            NO_CONDITION,
        ),
        ("states:DescribeExecution", "states:StopExecution"): (
            frozenset({f"arn:aws:states:{region}:{account}:execution:{name}/*"}),
            NO_CONDITION,
        ),
    }


def test_workflow_role_trusts_step_functions_and_holds_the_wildcards_apart(template_json: dict) -> None:
    role = named(template_json, "AWS::IAM::Role", "ReplayStateMachineRole")["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    (managed,) = role["ManagedPolicyArns"]
    assert base_id(managed["Ref"]) == "ReplayStateMachineLogsAndTracing"
    policy = named(template_json, "AWS::IAM::ManagedPolicy", "ReplayStateMachineLogsAndTracing")["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == "*"
    assert sorted(statement["Action"]) == sorted(LOG_DELIVERY_ACTIONS)  # tracing=off: no X-Ray actions
    # Only the workflow's role has it.
    attached = [
        r
        for r in resources(template_json, "AWS::IAM::Role").values()
        if managed in r["Properties"].get("ManagedPolicyArns", [])
    ]
    assert len(attached) == 1


def test_nothing_else_may_start_or_read_replays(template_json: dict) -> None:
    """Only the workflow's own role names the state machine or the manifests."""
    replay_state_machine_name = state_machine(template_json)["StateMachineName"]
    for logical_id, resource in template_json["Resources"].items():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        text = json.dumps(resource["Properties"]["PolicyDocument"])
        if replay_state_machine_name in text or "/_replays/" in text:
            assert base_id(logical_id) in ("ReplayStateMachineRoleDefaultPolicy", "ReplayPlanRoleDefaultPolicy"), (
                logical_id
            )


# The state machine.


def test_state_machine_is_a_named_standard_workflow(template_json: dict, region: str) -> None:
    properties = state_machine(template_json)
    assert properties["StateMachineName"] == constants.resource_name(constants.REPLAY_STATE_MACHINE, region)
    assert properties["StateMachineType"] == "STANDARD"
    assert base_id(properties["RoleArn"]["Fn::GetAtt"][0]) == "ReplayStateMachineRole"


def test_cdk_deploys_the_shared_definition_verbatim(template_json: dict) -> None:
    """Half of the proof that the local stack runs what deploys: the template's text is the
    shared constant, unchanged, and CloudFormation substitutes exactly its variables."""
    properties = state_machine(template_json)
    assert properties["DefinitionString"] == definition.DEFINITION_TEMPLATE
    assert "Definition" not in properties and "DefinitionS3Location" not in properties
    substitutions = properties["DefinitionSubstitutions"]
    assert set(substitutions) == set(definition.VARIABLES)
    assert set(re.findall(r"\$\{(\w+)\}", definition.DEFINITION_TEMPLATE)) == set(definition.VARIABLES)
    assert {key: target(value) for key, value in substitutions.items()} == {
        definition.PLAN_FUNCTION: "ReplayPlan",
        definition.WORKER_FUNCTION: "ReplayWorker",
        definition.REPORT_FUNCTION: "ReplayReport",
        definition.ARCHIVE_BUCKET: "ArchiveBucket",
    }
    assert [value["Fn::GetAtt"][1] for value in substitutions.values() if "Fn::GetAtt" in value] == ["Arn"] * 3
    assert "Ref" in substitutions[definition.ARCHIVE_BUCKET]  # a bucket's Ref is its name


def test_the_deployed_definition_renders_to_valid_json(template_json: dict) -> None:
    rendered = definition.render(
        {variable: f"<{variable}>" for variable in definition.VARIABLES},
        state_machine(template_json)["DefinitionString"],
    )
    states = json.loads(rendered)["States"]
    assert states["Plan"]["Parameters"]["FunctionName"] == f"<{definition.PLAN_FUNCTION}>"
    assert states["Replay"]["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"


def test_logs_every_transition_without_execution_data(template_json: dict, region: str) -> None:
    logging = state_machine(template_json)["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False  # states' data can hold archived events
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert base_id(log_group_id) == "ReplayStateMachineLogs"
    log_group = template_json["Resources"][log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 30
    # Vended logs' prefix: no statement per group in the account's CloudWatch Logs resource policy.
    name = constants.resource_name(constants.REPLAY_STATE_MACHINE, region)
    assert name_stem(log_group["Properties"]["LogGroupName"]) == f"/aws/vendedlogs/states/{name}"
    # Kept by `cdk destroy` (a name of its own stack); deleted if its creation rolls back.
    assert (log_group["DeletionPolicy"], log_group["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


def test_tracing_follows_the_option(template_json: dict, custom_app: Synthesized, region: str) -> None:
    assert state_machine(template_json)["TracingConfiguration"] == {"Enabled": False}  # tracing=off
    traced = custom_app.json[region]  # tracing=active
    assert state_machine(traced)["TracingConfiguration"] == {"Enabled": True}
    policy = named(traced, "AWS::IAM::ManagedPolicy", "ReplayStateMachineLogsAndTracing")["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(LOG_DELIVERY_ACTIONS + STATE_MACHINE_XRAY_ACTIONS)


def test_created_after_its_role_can_deliver_logs(template_json: dict) -> None:
    resource = replay_state_machine(template_json)
    assert {base_id(d) for d in resource["DependsOn"]} == {
        "ReplayStateMachineRole",
        "ReplayStateMachineRoleDefaultPolicy",
    }


# Observability and outputs.


@pytest.mark.parametrize(
    "metric",
    ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut"],
)
def test_dashboard_graphs_replay_executions(template_json: dict, metric: str) -> None:
    assert ("AWS/States", metric) in graphed(template_json)[0]


def test_dashboard_graphs_the_replay_queue(template_json: dict) -> None:
    titles = {w["properties"].get("title") for w in dashboard(template_json)["widgets"]}
    assert {"Replay executions", "Replay queue: messages", "Replay queue: age of oldest message (s)"} <= titles
    body = json.dumps(only(template_json, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
    assert "ReplayQueue" in body


def test_alarm_on_any_failed_replay(template_json: dict) -> None:
    alarm = alarms(template_json)["ReplayExecutionsFailed"]
    (metric,) = alarm["Metrics"]
    stat = metric["MetricStat"]
    assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    (dimension,) = stat["Metric"]["Dimensions"]
    assert dimension["Name"] == "StateMachineArn"
    assert base_id(dimension["Value"]["Ref"]) == "ReplayStateMachine"
    assert stat["Stat"] == "Sum"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["TreatMissingData"] == "notBreaching"


def test_outputs_for_the_cli(template_json: dict, custom_app: Synthesized) -> None:
    outputs = template_json["Outputs"]
    assert base_id(outputs[constants.OUTPUT_REPLAY_STATE_MACHINE]["Value"]["Ref"]) == "ReplayStateMachine"
    assert base_id(outputs[constants.OUTPUT_REPLAY_QUEUE]["Value"]["Ref"]) == "ReplayQueue"
    assert outputs[constants.OUTPUT_ARCHIVE_RETENTION_DAYS]["Value"] == "365"
    for custom in custom_app.json.values():
        assert custom["Outputs"][constants.OUTPUT_ARCHIVE_RETENTION_DAYS]["Value"] == "60"
