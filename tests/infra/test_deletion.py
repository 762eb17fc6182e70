"""User deletion: the three functions, the state machine that runs the shared definition verbatim,
each step's least-privilege grants, the alarm and the output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.deletion import (
    FINISH_MEMORY_MB,
    FINISH_TABLE_ACTIONS,
    FINISH_TABLE_KEYS,
    PLAN_MEMORY_MB,
    WORKER_MEMORY_MB,
)
from infra.paths import FUNCTIONS_DIR
from infra.workflow import LOG_DELIVERY_ACTIONS, STATE_MACHINE_XRAY_ACTIONS
from switchyard import constants
from switchyard.privacy.deletion import definition

from .conftest import DUBLIN, OREGON, SKIP_BUNDLING, Synthesized, base_id, name_stem, named, resources, synthesize
from .test_iam import as_list, identity_statements
from .test_observability import alarms
from .test_replay import target
from .test_user_functions import user_functions, write_workspace

pytestmark = pytest.mark.infra

FUNCTIONS = {  # logical id prefix -> (code folder, timeout, memory)
    "DeletionPlan": ("deletion_plan", constants.DELETION_PLAN_TIMEOUT_SECONDS, PLAN_MEMORY_MB),
    "DeletionWorker": ("deletion_worker", constants.DELETION_WORKER_TIMEOUT_SECONDS, WORKER_MEMORY_MB),
    "DeletionFinish": ("deletion_finish", constants.DELETION_FINISH_TIMEOUT_SECONDS, FINISH_MEMORY_MB),
}
POLICIES = {f"{prefix}RoleDefaultPolicy" for prefix in FUNCTIONS}
STATE_MACHINE_POLICY = "DeletionStateMachineRoleDefaultPolicy"

ARCHIVE_KEY = frozenset({"ArchiveKey"})
ARCHIVE_OBJECTS = frozenset({"ArchiveBucket/source_id=*"})
RECORDS = frozenset({"ArchiveBucket/_deletions/*"})
DEBUGGER_OBJECTS = frozenset({"ArchiveBucket/_debugger/*"})
NO_CONDITION = json.dumps(None)
SUPPRESSIONS_ONLY = json.dumps(
    {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [constants.CONFIG_SUPPRESSIONS_KEY]}}
)
WORKSPACE_ONLY = json.dumps({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [constants.CONFIG_WORKSPACE_KEY]}})
EVENT_PREFIXES = json.dumps({"StringLike": {"s3:prefix": "source_id=*"}})
# The finish step asks the lake loader to reload the hours the deletion rewrote.
LAKE_RELOAD = (("lambda:InvokeFunction",), frozenset({"LakeLoader"}), NO_CONDITION)
RECORD_PREFIXES = json.dumps({"StringLike": {"s3:prefix": "_deletions/*"}})
DEBUGGER_PREFIXES = json.dumps({"StringLike": {"s3:prefix": "_debugger/*"}})


def deletion_state_machine(template_json: dict) -> dict:
    return named(template_json, "AWS::StepFunctions::StateMachine", "DeletionStateMachine")


def state_machine(template_json: dict) -> dict:
    return deletion_state_machine(template_json)["Properties"]


def function(template_json: dict, prefix: str) -> dict:
    return named(template_json, "AWS::Lambda::Function", prefix)["Properties"]


def account_of(app: Synthesized, region: str) -> str:
    return app.stacks[region].account


def credentials_arn(region: str, account: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter{constants.destination_parameter(region, '*')}"


Grant = tuple[tuple[str, ...], frozenset[str], str]  # sorted actions, targets, JSON of the condition


def grants(template_json: dict, policy_prefix: str) -> list[Grant]:
    """One identity policy's statements, sorted (test_replay's `grants` keys them by actions alone,
    but the plan has two UpdateItem statements: the suppressed users' item, the audit record)."""
    policy = named(template_json, "AWS::IAM::Policy", policy_prefix)
    found = []
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "Principal"} & set(statement), policy_prefix
        actions = tuple(sorted(as_list(statement["Action"])))
        targets = frozenset(target(r) for r in as_list(statement["Resource"]))
        found.append((actions, targets, json.dumps(statement.get("Condition"))))
    return sorted(found, key=repr)


def expected_grants(prefix: str, region: str, account: str) -> list[Grant]:
    """What infra/deletion.py's docstring says each step does."""
    logs: Grant = (("logs:CreateLogStream", "logs:PutLogEvents"), frozenset({f"{prefix}Logs"}), NO_CONDITION)
    key: Grant = (("kms:Decrypt", "kms:GenerateDataKey"), ARCHIVE_KEY, NO_CONDITION)
    suppress: Grant = (("dynamodb:UpdateItem",), frozenset({"ConfigTable"}), SUPPRESSIONS_ONLY)
    list_versions: Grant = (("s3:ListBucketVersions",), frozenset({"ArchiveBucket"}), EVENT_PREFIXES)
    write_records: Grant = (("s3:PutObject",), RECORDS, NO_CONDITION)
    if prefix == "DeletionPlan":
        granted = [
            logs,
            suppress,
            list_versions,
            write_records,
            (("dynamodb:UpdateItem",), frozenset({"DeliveryTable"}), NO_CONDITION),
            key,
        ]
    elif prefix == "DeletionWorker":
        granted = [
            logs,
            suppress,
            list_versions,
            (
                ("s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"),
                ARCHIVE_OBJECTS,
                NO_CONDITION,
            ),
            write_records,
            (("dynamodb:BatchWriteItem",), frozenset({"DedupeTable"}), NO_CONDITION),
            (("dynamodb:GetItem", "dynamodb:UpdateItem"), frozenset({"DeliveryTable"}), NO_CONDITION),
            key,
        ]
    else:
        assert prefix == "DeletionFinish"
        granted = [
            logs,
            (("dynamodb:GetItem",), frozenset({"ConfigTable"}), WORKSPACE_ONLY),
            (
                tuple(sorted(FINISH_TABLE_ACTIONS)),
                frozenset({"DeliveryTable"}),
                json.dumps({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(FINISH_TABLE_KEYS)}}),
            ),
            (("s3:ListBucket",), frozenset({"ArchiveBucket"}), RECORD_PREFIXES),
            (("s3:GetObject", "s3:PutObject"), RECORDS, NO_CONDITION),
            # The debugger's samples, cleared whole: listed and deleted, never read.
            (("s3:ListBucketVersions",), frozenset({"ArchiveBucket"}), DEBUGGER_PREFIXES),
            (("s3:DeleteObjectVersion",), DEBUGGER_OBJECTS, NO_CONDITION),
            (("ssm:GetParameter",), frozenset({credentials_arn(region, account)}), NO_CONDITION),
            LAKE_RELOAD,
            key,
        ]
    return sorted(granted, key=repr)


def statements_of(template_json: dict, policy_prefix: str) -> list[dict[str, Any]]:
    return named(template_json, "AWS::IAM::Policy", policy_prefix)["Properties"]["PolicyDocument"]["Statement"]


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
    assert base_id(properties["LoggingConfig"]["LogGroup"]["Ref"]) == f"{prefix}Logs"


def test_timeouts_fit_lambda_and_the_worker_has_the_most_memory() -> None:
    for _, timeout, _ in FUNCTIONS.values():
        assert 0 < timeout <= 900
    assert max(PLAN_MEMORY_MB, FINISH_MEMORY_MB) < WORKER_MEMORY_MB  # gunzip and JSON of whole objects


@pytest.mark.parametrize("prefix", sorted(FUNCTIONS))
def test_functions_package_their_own_handler(default_app: Synthesized, prefix: str) -> None:
    folder, _, _ = FUNCTIONS[prefix]
    asset_hash = function(default_app.json[DUBLIN], prefix)["Code"]["S3Key"].removesuffix(".zip")
    staged = Path(default_app.report_dir) / f"asset.{asset_hash}" / "handler.py"
    assert staged.read_text() == (FUNCTIONS_DIR / folder / "handler.py").read_text()


@pytest.mark.parametrize("prefix", sorted(FUNCTIONS))
def test_environment_names_the_archive_and_the_three_tables(template_json: dict, region: str, prefix: str) -> None:
    variables = function(template_json, prefix)["Environment"]["Variables"]
    assert base_id(variables[constants.ENV_ARCHIVE_BUCKET]["Ref"]) == "ArchiveBucket"
    assert base_id(variables[constants.ENV_DELIVERY_TABLE]["Ref"]) == "DeliveryTable"
    assert base_id(variables[constants.ENV_CONFIG_TABLE]["Ref"]) == "ConfigTable"
    assert base_id(variables[constants.ENV_DEDUPE_TABLE]["Ref"]) == "DedupeTable"
    assert variables[constants.ENV_REGION] == region
    for other in (constants.ENV_EVENTS_STREAM, constants.ENV_DELIVERY_QUEUE_URL, constants.ENV_REPLAY_QUEUE_URL):
        assert other not in variables, other
    if prefix == "DeletionFinish":  # the lake's hours to reload: the loader's name (its Ref)
        assert base_id(variables[constants.ENV_LAKE_LOADER_FUNCTION]["Ref"]) == "LakeLoader"
    else:
        assert constants.ENV_LAKE_LOADER_FUNCTION not in variables


def test_finish_may_invoke_the_lake_loader_and_no_other_pipeline_function(template_json: dict) -> None:
    (invoke,) = [
        s for s in statements_of(template_json, "DeletionFinishRoleDefaultPolicy") if "lambda:" in json.dumps(s)
    ]
    assert invoke["Action"] == "lambda:InvokeFunction"
    (loader_id,) = [k for k in resources(template_json, "AWS::Lambda::Function") if base_id(k) == "LakeLoader"]
    assert invoke["Resource"] == {"Fn::GetAtt": [loader_id, "Arn"]}, "the exact ARN, no `:*`"
    for prefix in ("DeletionPlan", "DeletionWorker"):
        assert "lambda:" not in json.dumps(statements_of(template_json, f"{prefix}RoleDefaultPolicy"))


# Least privilege: exactly what infra/deletion.py's docstring lists.


@pytest.mark.parametrize("prefix", sorted(FUNCTIONS))
def test_each_step_has_exactly_its_grants(
    template_json: dict, region: str, default_app: Synthesized, prefix: str
) -> None:
    assert grants(template_json, f"{prefix}RoleDefaultPolicy") == expected_grants(
        prefix, region, account_of(default_app, region)
    )


@pytest.mark.parametrize("prefix", sorted(FUNCTIONS))
def test_each_role_trusts_lambda_and_has_no_other_policy(template_json: dict, prefix: str) -> None:
    role_id = function(template_json, prefix)["Role"]["Fn::GetAtt"][0]
    assert base_id(role_id) == f"{prefix}Role"
    role = template_json["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "Policies" not in role
    assert "ManagedPolicyArns" not in role  # tracing=off: not even the X-Ray write policy
    attached = [
        base_id(logical_id)
        for logical_id, resource in resources(template_json, "AWS::IAM::Policy").items()
        if {"Ref": role_id} in resource["Properties"]["Roles"]
    ]
    assert attached == [f"{prefix}RoleDefaultPolicy"]


def test_no_resource_policy_names_a_deletion_role(template_json: dict) -> None:
    """The bucket, key and table policies grant nothing beyond the roles' own policies."""
    roles = {function(template_json, prefix)["Role"]["Fn::GetAtt"][0] for prefix in FUNCTIONS}
    roles.add(state_machine(template_json)["RoleArn"]["Fn::GetAtt"][0])
    for logical_id, resource in template_json["Resources"].items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::Lambda::Function", "AWS::StepFunctions::StateMachine"):
            continue
        text = json.dumps(resource.get("Properties", {}))
        assert not [role for role in roles if f'"{role}"' in text], logical_id


def test_only_the_finish_step_reads_the_workspace(template_json: dict) -> None:
    for prefix in FUNCTIONS:
        for statement in statements_of(template_json, f"{prefix}RoleDefaultPolicy"):
            if target(statement["Resource"]) != "ConfigTable":
                continue
            leading_keys = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
            if prefix == "DeletionFinish":
                assert (as_list(statement["Action"]), leading_keys) == (["dynamodb:GetItem"], ["workspace"])
            else:  # ADD to the suppressed users' item: never the workspace, never a read
                assert (as_list(statement["Action"]), leading_keys) == (["dynamodb:UpdateItem"], ["suppressions"])


def test_only_the_worker_deletes_and_only_versions_of_event_objects(template_json: dict) -> None:
    deleting = []
    for policy in (*sorted(POLICIES), STATE_MACHINE_POLICY):
        for statement in statements_of(template_json, policy):
            actions = as_list(statement["Action"])
            assert not [a for a in actions if "*" in a], policy
            removals = [a for a in actions if ":Delete" in a and a.startswith("s3:")]
            if removals:
                deleting.append((policy, removals, {target(r) for r in as_list(statement["Resource"])}))
    # No s3:DeleteObject: a plain delete only adds a marker on top of the versions that hold the data.
    # The finish step deletes the debugger's samples, by version too.
    assert deleting == [
        ("DeletionFinishRoleDefaultPolicy", ["s3:DeleteObjectVersion"], set(DEBUGGER_OBJECTS)),
        ("DeletionWorkerRoleDefaultPolicy", ["s3:DeleteObjectVersion"], set(ARCHIVE_OBJECTS)),
    ]


def test_no_step_reaches_the_archive_beyond_event_objects_and_its_records(template_json: dict) -> None:
    for policy in sorted(POLICIES):
        for statement in statements_of(template_json, policy):
            for each in as_list(statement["Resource"]):
                resolved = target(each)
                if resolved.startswith("ArchiveBucket/"):
                    assert resolved in ARCHIVE_OBJECTS | RECORDS | DEBUGGER_OBJECTS, (policy, resolved)
                if resolved == "ArchiveBucket":  # listings, only under their own prefixes
                    listed = json.dumps(statement["Condition"])
                    assert listed in (EVENT_PREFIXES, RECORD_PREFIXES, DEBUGGER_PREFIXES), policy


def test_workflow_role_invokes_its_functions_reads_manifests_and_runs_its_own_children(
    template_json: dict, region: str, default_app: Synthesized
) -> None:
    account = account_of(default_app, region)
    name = constants.resource_name(constants.DELETION_STATE_MACHINE, region)
    expected: list[Grant] = [
        (("lambda:InvokeFunction",), frozenset(FUNCTIONS), NO_CONDITION),
        (("s3:GetObject",), RECORDS, NO_CONDITION),
        (("kms:Decrypt",), ARCHIVE_KEY, NO_CONDITION),
        (
            ("states:StartExecution",),
            frozenset({f"arn:aws:states:{region}:{account}:stateMachine:{name}"}),
            NO_CONDITION,
        ),
        (
            ("states:DescribeExecution", "states:StopExecution"),
            frozenset({f"arn:aws:states:{region}:{account}:execution:{name}/*"}),
            NO_CONDITION,
        ),
    ]
    assert grants(template_json, STATE_MACHINE_POLICY) == sorted(expected, key=repr)


def test_workflow_role_trusts_step_functions_and_holds_the_wildcards_apart(template_json: dict) -> None:
    role = named(template_json, "AWS::IAM::Role", "DeletionStateMachineRole")["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    (managed,) = role["ManagedPolicyArns"]
    assert base_id(managed["Ref"]) == "DeletionStateMachineLogsAndTracing"
    policy = named(template_json, "AWS::IAM::ManagedPolicy", "DeletionStateMachineLogsAndTracing")["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == "*"
    assert sorted(statement["Action"]) == sorted(LOG_DELIVERY_ACTIONS)  # tracing=off: no X-Ray actions
    attached = [
        r
        for r in resources(template_json, "AWS::IAM::Role").values()
        if managed in r["Properties"].get("ManagedPolicyArns", [])
    ]
    assert len(attached) == 1


def test_nothing_outside_the_deletion_may_start_it_or_read_its_records(template_json: dict) -> None:
    """Only the workflow's own role names the state machine; only the deletion's roles name `_deletions/`."""
    name = state_machine(template_json)["StateMachineName"]
    (logical_id,) = [k for k in template_json["Resources"] if base_id(k) == "DeletionStateMachine"]
    for policy, statement in identity_statements(template_json):
        text = json.dumps(statement)
        if name in text or f'"{logical_id}"' in text:
            assert base_id(policy) == STATE_MACHINE_POLICY, policy
        if "/_deletions/" in text:
            assert base_id(policy) in POLICIES | {STATE_MACHINE_POLICY}, policy
        actions = as_list(statement["Action"])
        if any(a in ("states:StartExecution", "states:*", "*") for a in actions):
            assert "*" not in as_list(statement["Resource"]), policy


def test_only_the_workflow_invokes_the_deletion_functions(template_json: dict) -> None:
    function_ids = {k for k in resources(template_json, "AWS::Lambda::Function") if base_id(k) in FUNCTIONS}
    assert len(function_ids) == 3
    for policy, statement in identity_statements(template_json):
        invokes = any(a.startswith("lambda:") for a in as_list(statement["Action"]))
        named_targets = [f for f in function_ids if f'"{f}"' in json.dumps(statement["Resource"])]
        if invokes and named_targets:
            assert base_id(policy) == STATE_MACHINE_POLICY, policy
    for kind in ("AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping", "AWS::Lambda::Url"):
        for logical_id, resource in resources(template_json, kind).items():
            text = json.dumps(resource["Properties"])
            assert not [f for f in function_ids if f'"{f}"' in text], logical_id


# The state machine.


def test_state_machine_is_a_named_standard_workflow(template_json: dict, region: str) -> None:
    properties = state_machine(template_json)
    assert properties["StateMachineName"] == constants.resource_name(constants.DELETION_STATE_MACHINE, region)
    assert properties["StateMachineName"] == f"switchyard-user-deletion-{region}"
    assert properties["StateMachineType"] == "STANDARD"
    assert base_id(properties["RoleArn"]["Fn::GetAtt"][0]) == "DeletionStateMachineRole"


def test_cdk_deploys_the_shared_definition_verbatim(template_json: dict) -> None:
    properties = state_machine(template_json)
    assert properties["DefinitionString"] == definition.DEFINITION_TEMPLATE
    assert "Definition" not in properties and "DefinitionS3Location" not in properties
    substitutions = properties["DefinitionSubstitutions"]
    assert set(substitutions) == set(definition.VARIABLES)
    assert set(re.findall(r"\$\{(\w+)\}", definition.DEFINITION_TEMPLATE)) == set(definition.VARIABLES)
    assert {key: target(value) for key, value in substitutions.items()} == {
        definition.PLAN_FUNCTION: "DeletionPlan",
        definition.WORKER_FUNCTION: "DeletionWorker",
        definition.FINISH_FUNCTION: "DeletionFinish",
        definition.ARCHIVE_BUCKET: "ArchiveBucket",
    }
    assert [value["Fn::GetAtt"][1] for value in substitutions.values() if "Fn::GetAtt" in value] == ["Arn"] * 3
    assert "Ref" in substitutions[definition.ARCHIVE_BUCKET]  # a bucket's Ref is its name


def test_the_deployed_definition_renders_to_valid_json(template_json: dict) -> None:
    rendered = definition.render(
        {variable: f"<{variable}>" for variable in definition.VARIABLES},
        state_machine(template_json)["DefinitionString"],
    )
    assert "${" not in rendered
    states = json.loads(rendered)["States"]
    assert states["Plan"]["Parameters"]["FunctionName"] == f"<{definition.PLAN_FUNCTION}>"
    assert states["Finish"]["Parameters"]["FunctionName"] == f"<{definition.FINISH_FUNCTION}>"
    for name in ("Scan", "Rewrite"):
        assert states[name]["ItemReader"]["Parameters"]["Bucket"] == f"<{definition.ARCHIVE_BUCKET}>"
        processor = states[name]["ItemProcessor"]
        assert processor["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        (batch,) = processor["States"].values()
        assert batch["Parameters"]["FunctionName"] == f"<{definition.WORKER_FUNCTION}>"


def test_logs_every_transition_without_execution_data(template_json: dict, region: str) -> None:
    logging = state_machine(template_json)["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False  # states' data names the deleted users
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert base_id(log_group_id) == "DeletionStateMachineLogs"
    log_group = template_json["Resources"][log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 30
    name = constants.resource_name(constants.DELETION_STATE_MACHINE, region)
    assert name_stem(log_group["Properties"]["LogGroupName"]) == f"/aws/vendedlogs/states/{name}"
    assert (log_group["DeletionPolicy"], log_group["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


def test_tracing_follows_the_option(template_json: dict, custom_app: Synthesized, region: str) -> None:
    assert state_machine(template_json)["TracingConfiguration"] == {"Enabled": False}  # tracing=off
    traced = custom_app.json[region]  # tracing=active
    assert state_machine(traced)["TracingConfiguration"] == {"Enabled": True}
    policy = named(traced, "AWS::IAM::ManagedPolicy", "DeletionStateMachineLogsAndTracing")["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(LOG_DELIVERY_ACTIONS + STATE_MACHINE_XRAY_ACTIONS)


def test_created_after_its_role_can_deliver_logs(template_json: dict) -> None:
    resource = deletion_state_machine(template_json)
    assert {base_id(d) for d in resource["DependsOn"]} == {
        "DeletionStateMachineRole",
        "DeletionStateMachineRoleDefaultPolicy",
    }
    # The role carries the log-delivery policy, so depending on the role is depending on it.
    role_id = resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    managed = template_json["Resources"][role_id]["Properties"]["ManagedPolicyArns"]
    assert [base_id(arn["Ref"]) for arn in managed] == ["DeletionStateMachineLogsAndTracing"]


# Destination functions' on_delete: invoked by the finish step only when the workspace has some.

WORKSPACE = """\
workspace: acme
sources:
  - id: billing
    name: Billing
    write_key: billing-write-key
destinations:
  - id: warehouse
    type: function
    function: to-warehouse
    insert_function: enrich
    sources: [billing]
functions:
  - id: stripe-events
    kind: source
    file: functions/stripe_events.py
    source: billing
  - id: enrich
    kind: insert
    file: functions/enrich.py
  - id: to-warehouse
    kind: destination
    file: functions/to_warehouse.py
"""
FILES = {
    "stripe_events.py": "def on_request(request, settings):\n    pass\n",
    "enrich.py": "def on_track(event, settings):\n    return event\n",
    "to_warehouse.py": "def on_track(event, settings):\n    pass\n\n\ndef on_delete(user_ids, settings):\n    pass\n",
}


@pytest.fixture(scope="module")
def workspace_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    path = write_workspace(tmp_path_factory.mktemp("deletion-workspace"), WORKSPACE, FILES)
    return synthesize({**SKIP_BUNDLING, "workspace": str(path)})


def test_finish_invokes_exactly_the_destination_functions(workspace_app: Synthesized) -> None:
    for region in (OREGON, DUBLIN):
        template_json = workspace_app.json[region]
        found = user_functions(template_json)
        assert set(found) == {"stripe-events", "enrich", "to-warehouse"}
        (destination_id, _) = found["to-warehouse"]
        expected = [
            grant
            for grant in expected_grants("DeletionFinish", region, account_of(workspace_app, region))
            if grant != LAKE_RELOAD
        ]
        # One statement (IAM policy minimization): the destination function and the lake loader.
        invoke_grant: Grant = (
            ("lambda:InvokeFunction",),
            frozenset({base_id(destination_id), "LakeLoader"}),
            NO_CONDITION,
        )
        assert grants(template_json, "DeletionFinishRoleDefaultPolicy") == sorted([*expected, invoke_grant], key=repr)
        (invoke,) = [
            s for s in statements_of(template_json, "DeletionFinishRoleDefaultPolicy") if "lambda:" in json.dumps(s)
        ]
        (loader_id,) = [k for k in resources(template_json, "AWS::Lambda::Function") if base_id(k) == "LakeLoader"]
        assert sorted(invoke["Resource"], key=json.dumps) == sorted(
            [{"Fn::GetAtt": [destination_id, "Arn"]}, {"Fn::GetAtt": [loader_id, "Arn"]}], key=json.dumps
        ), "the exact ARNs, no `:*`"
        # The other steps gain nothing from the workspace.
        for prefix in ("DeletionPlan", "DeletionWorker"):
            assert grants(template_json, f"{prefix}RoleDefaultPolicy") == expected_grants(
                prefix, region, account_of(workspace_app, region)
            )


# Observability and outputs.


def test_alarm_on_any_deletion_that_did_not_complete(template_json: dict) -> None:
    found = alarms(template_json)
    alarm = found["DeletionExecutionsFailed"]
    (metric,) = alarm["Metrics"]
    stat = metric["MetricStat"]
    assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    (dimension,) = stat["Metric"]["Dimensions"]
    assert dimension["Name"] == "StateMachineArn"
    assert base_id(dimension["Value"]["Ref"]) == "DeletionStateMachine"
    assert stat["Stat"] == "Sum"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == found["ReplayExecutionsFailed"]["AlarmActions"]  # the stack's alarm topic


@pytest.mark.parametrize("prefix", sorted(FUNCTIONS))
def test_each_function_has_an_errors_alarm(template_json: dict, prefix: str) -> None:
    alarm = alarms(template_json)[f"Deletion{prefix.removeprefix('Deletion').lower()}Errors"]
    (metric,) = alarm["Metrics"]
    (dimension,) = metric["MetricStat"]["Metric"]["Dimensions"]
    assert base_id(dimension["Value"]["Ref"]) == prefix


def test_output_for_the_cli(template_json: dict) -> None:
    output = template_json["Outputs"][constants.OUTPUT_DELETION_STATE_MACHINE]
    assert base_id(output["Value"]["Ref"]) == "DeletionStateMachine"
