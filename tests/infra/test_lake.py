"""The lake (issue 11): the Glue database, the loader with its pyarrow layer and exact grants, the hourly
schedule, the alarm, the Athena workgroup and the outputs, in each region and naming only that region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.dependencies_layer import DESCRIPTION as DEPENDENCIES_DESCRIPTION
from infra.lake import (
    CATALOG_ACTIONS,
    LAKE_FILE_ACTIONS,
    LAYER_DESCRIPTION,
    LOADER_MEMORY_MB,
    workgroup_name,
)
from infra.paths import FUNCTIONS_DIR
from switchyard import constants

from .conftest import DUBLIN, OREGON, Synthesized, base_id, named, resources
from .test_data_residency import ARN, REGION, strings
from .test_deletion import NO_CONDITION, WORKSPACE_ONLY, Grant, grants
from .test_iam import as_list, identity_statements
from .test_observability import alarms
from .test_replay import target

pytestmark = pytest.mark.infra

LOADER = "LakeLoader"
LOADER_POLICY = "LakeLoaderRoleDefaultPolicy"
ROUTER_LAG_POLICY = "LakeRouterLagRead"
SCHEDULE_ROLE = "LakeScheduleRole"
ACCOUNT_PLACEHOLDER = "000000000000"


def loader(template_json: dict) -> dict:
    return named(template_json, "AWS::Lambda::Function", LOADER)["Properties"]


def loader_id(template_json: dict) -> str:
    (logical_id,) = [k for k in resources(template_json, "AWS::Lambda::Function") if base_id(k) == LOADER]
    return logical_id


def schedule(template_json: dict) -> dict:
    return named(template_json, "AWS::Scheduler::Schedule", "LakeSchedule")["Properties"]


def workgroup(template_json: dict) -> dict:
    return named(template_json, "AWS::Athena::WorkGroup", "LakeWorkGroup")["Properties"]


def glue_arn(region: str, account: str, resource: str) -> str:
    return f"arn:aws:glue:{region}:{account}:{resource}"


def expected_loader_grants(region: str, account: str) -> list[Grant]:
    """What infra/lake.py's docstring lists, statement by statement."""
    via_s3 = json.dumps(
        {
            "StringEquals": {
                "kms:ViaService": {"Fn::Join": ["", [f"s3.{region}.", {"Ref": "AWS::URLSuffix"}]]},
                "kms:EncryptionContext:aws:s3:arn": {"Fn::GetAtt": ["ArchiveBucket49F1AC64", "Arn"]},
            }
        }
    )
    granted: list[Grant] = [
        (("logs:CreateLogStream", "logs:PutLogEvents"), frozenset({"LakeLoaderLogs"}), NO_CONDITION),
        (("dynamodb:GetItem",), frozenset({"ConfigTable"}), WORKSPACE_ONLY),
        # No prefix condition: a GetObject of a missing load record must answer 404, not 403.
        (("s3:ListBucket",), frozenset({"ArchiveBucket"}), NO_CONDITION),
        (
            ("s3:ListBucketVersions",),
            frozenset({"ArchiveBucket"}),
            json.dumps({"StringLike": {"s3:prefix": "lake/*"}}),
        ),
        (("s3:DeleteObject", "s3:GetObject"), frozenset({"ArchiveBucket/source_id=*"}), NO_CONDITION),
        (("s3:PutObject",), frozenset({"ArchiveBucket/source_id=*/compacted-*"}), NO_CONDITION),
        (tuple(sorted(LAKE_FILE_ACTIONS)), frozenset({"ArchiveBucket/lake/*"}), NO_CONDITION),
        (("s3:DeleteObject", "s3:GetObject", "s3:PutObject"), frozenset({"ArchiveBucket/_lake_loads/*"}), NO_CONDITION),
        (("kms:Decrypt", "kms:GenerateDataKey"), frozenset({"ArchiveKey"}), via_s3),
        (
            tuple(sorted(CATALOG_ACTIONS)),
            frozenset(
                {
                    glue_arn(region, account, "catalog"),
                    glue_arn(region, account, f"database/{constants.LAKE_DATABASE}"),
                    glue_arn(region, account, f"table/{constants.LAKE_DATABASE}/*"),
                }
            ),
            NO_CONDITION,
        ),
    ]
    return sorted(granted, key=repr)


# The database.


def test_one_lake_database_in_the_account_catalog(template_json: dict) -> None:
    database = named(template_json, "AWS::Glue::Database", "LakeDatabase")["Properties"]
    assert database["DatabaseInput"]["Name"] == constants.LAKE_DATABASE == "switchyard_lake"
    assert database["CatalogId"] == ACCOUNT_PLACEHOLDER
    assert "LocationUri" not in database["DatabaseInput"]  # each table names its own location
    # The loader creates the tables: none is declared in the template besides the archive's.
    assert [t["Properties"]["DatabaseName"] for t in resources(template_json, "AWS::Glue::Table").values()] == [
        "switchyard"
    ]


# The loader.


def test_loader_runs_with_the_lambda_defaults_2_gb_and_15_minutes(template_json: dict) -> None:
    properties = loader(template_json)
    assert (properties["Runtime"], properties["Architectures"]) == ("python3.12", ["arm64"])
    assert properties["Handler"] == "handler.lambda_handler"
    assert properties["TracingConfig"] == {"Mode": "PassThrough"}  # tracing=off by default
    assert (properties["MemorySize"], properties["Timeout"]) == (LOADER_MEMORY_MB, 900) == (2048, 900)
    assert base_id(properties["LoggingConfig"]["LogGroup"]["Ref"]) == "LakeLoaderLogs"
    assert "FunctionName" not in properties  # like the other pipeline functions: the output names it
    assert "VpcConfig" not in properties


def test_loader_has_the_shared_layers_and_the_pyarrow_layer(template_json: dict) -> None:
    layers = {base_id(layer["Ref"]) for layer in loader(template_json)["Layers"]}
    assert layers == {"LambdaDefaultsDependenciesLayer", "LambdaDefaultsDomainLayer", "LakePyarrowLayer"}
    pyarrow = named(template_json, "AWS::Lambda::LayerVersion", "LakePyarrowLayer")["Properties"]
    assert pyarrow["Description"] == LAYER_DESCRIPTION
    assert (pyarrow["CompatibleRuntimes"], pyarrow["CompatibleArchitectures"]) == (["python3.12"], ["arm64"])
    dependencies = named(template_json, "AWS::Lambda::LayerVersion", "LambdaDefaultsDependenciesLayer")
    assert dependencies["Properties"]["Description"] == DEPENDENCIES_DESCRIPTION  # unchanged by the new option


def test_only_the_loader_gets_the_pyarrow_layer(template_json: dict) -> None:
    for logical_id, function in resources(template_json, "AWS::Lambda::Function").items():
        layers = {base_id(layer["Ref"]) for layer in function["Properties"].get("Layers", [])}
        assert ("LakePyarrowLayer" in layers) == (base_id(logical_id) == LOADER), logical_id


def test_loader_packages_its_own_handler(default_app: Synthesized) -> None:
    asset_hash = loader(default_app.json[DUBLIN])["Code"]["S3Key"].removesuffix(".zip")
    staged = Path(default_app.report_dir) / f"asset.{asset_hash}" / "handler.py"
    assert staged.read_text() == (FUNCTIONS_DIR / "lake_loader" / "handler.py").read_text()


def test_loader_environment(template_json: dict, region: str) -> None:
    variables = loader(template_json)["Environment"]["Variables"]
    assert {key: target(value) for key, value in variables.items()} == {
        "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        constants.ENV_REGION: region,
        constants.ENV_ARCHIVE_BUCKET: "ArchiveBucket",
        constants.ENV_ARCHIVE_RETENTION_DAYS: "365",
        constants.ENV_CONFIG_TABLE: "ConfigTable",
        constants.ENV_ROUTER_FUNCTION: "RouterFunction",  # a function's Ref is its name
    }


def test_loader_environment_follows_the_options(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        variables = loader(template_json)["Environment"]["Variables"]
        assert variables[constants.ENV_ARCHIVE_RETENTION_DAYS] == "60"
        assert variables[constants.ENV_CONFIG_CACHE_SECONDS] == "5"


def test_loader_has_exactly_its_grants(template_json: dict, region: str) -> None:
    assert grants(template_json, LOADER_POLICY) == expected_loader_grants(region, ACCOUNT_PLACEHOLDER)


def test_loader_grants_name_the_custom_account(custom_app: Synthesized) -> None:
    for region, template_json in custom_app.json.items():
        account = custom_app.stacks[region].account
        assert account != ACCOUNT_PLACEHOLDER
        assert grants(template_json, LOADER_POLICY) == expected_loader_grants(region, account)


def test_loader_reads_the_router_lag_through_its_own_managed_policy(template_json: dict) -> None:
    role_id = loader(template_json)["Role"]["Fn::GetAtt"][0]
    role = template_json["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "Policies" not in role
    (managed,) = role["ManagedPolicyArns"]  # tracing=off: not the X-Ray policy
    assert base_id(managed["Ref"]) == ROUTER_LAG_POLICY
    policy = named(template_json, "AWS::IAM::ManagedPolicy", ROUTER_LAG_POLICY)["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("cloudwatch:GetMetricStatistics", "*")
    assert not {"Roles", "Users", "Groups"} & set(policy)
    attached = [
        k
        for k, r in resources(template_json, "AWS::IAM::Role").items()
        if managed in r["Properties"].get("ManagedPolicyArns", [])
    ]
    assert attached == [role_id]
    policies = [
        base_id(k)
        for k, r in resources(template_json, "AWS::IAM::Policy").items()
        if {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    assert policies == [LOADER_POLICY]


def test_only_the_loader_writes_the_lake_and_deletes_event_objects(template_json: dict) -> None:
    """No other role writes the lake or its load records, or deletes objects without a version."""
    for policy, statement in identity_statements(template_json):
        text = json.dumps(statement)
        actions = as_list(statement["Action"])
        if "/lake/" in text and any(a != "s3:GetObject" for a in actions):
            assert base_id(policy) == LOADER_POLICY, policy
        if "/_lake_loads/" in text or "s3:DeleteObject" in actions:
            assert base_id(policy) == LOADER_POLICY, policy


# The schedule.


def test_hourly_at_minute_10_utc_with_an_empty_event(template_json: dict) -> None:
    properties = schedule(template_json)
    assert properties["ScheduleExpression"] == "cron(10 * * * ? *)"
    assert properties["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert properties["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert properties["State"] == "ENABLED"
    scheduled = properties["Target"]
    assert scheduled["Arn"] == {"Fn::GetAtt": [loader_id(template_json), "Arn"]}
    assert json.loads(scheduled["Input"]) == {}  # the scheduled run: the hours due
    assert scheduled["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert base_id(scheduled["RoleArn"]["Fn::GetAtt"][0]) == SCHEDULE_ROLE


def test_the_schedule_waits_for_the_database(template_json: dict) -> None:
    resource = named(template_json, "AWS::Scheduler::Schedule", "LakeSchedule")
    assert "LakeDatabase" in {base_id(d) for d in resource["DependsOn"]}


def test_the_schedule_role_may_only_invoke_the_loader(template_json: dict, region: str) -> None:
    role = named(template_json, "AWS::IAM::Role", SCHEDULE_ROLE)["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": ACCOUNT_PLACEHOLDER,
            "aws:SourceArn": f"arn:aws:scheduler:{region}:{ACCOUNT_PLACEHOLDER}:schedule-group/default",
        }
    }
    assert not {"Policies", "ManagedPolicyArns"} & set(role)
    (role_id,) = [k for k in resources(template_json, "AWS::IAM::Role") if base_id(k) == SCHEDULE_ROLE]
    attached = [
        k
        for k, r in resources(template_json, "AWS::IAM::Policy").items()
        if {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    assert [base_id(k) for k in attached] == [f"{SCHEDULE_ROLE}DefaultPolicy"]
    (statement,) = template_json["Resources"][attached[0]]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == {"Fn::GetAtt": [loader_id(template_json), "Arn"]}, "the exact ARN, no `:*`"


def test_nothing_but_the_schedule_and_the_deletion_may_invoke_the_loader(template_json: dict) -> None:
    function_id = loader_id(template_json)
    invokers = set()
    for policy, statement in identity_statements(template_json):
        if "lambda:InvokeFunction" in as_list(statement["Action"]) and function_id in json.dumps(statement):
            invokers.add(base_id(policy))
    assert invokers == {f"{SCHEDULE_ROLE}DefaultPolicy", "DeletionFinishRoleDefaultPolicy"}
    permissions = resources(template_json, "AWS::Lambda::Permission").values()
    assert not [p for p in permissions if function_id in json.dumps(p["Properties"]["FunctionName"])]


# The alarm.


def test_alarm_on_any_failed_run_in_an_hour(template_json: dict, region: str) -> None:
    found = alarms(template_json)
    alarm = found["LakeLoadsFailed"]
    (metric,) = alarm["Metrics"]
    stat = metric["MetricStat"]
    assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("AWS/Lambda", "Errors")
    (dimension,) = stat["Metric"]["Dimensions"]
    assert (dimension["Name"], base_id(dimension["Value"]["Ref"])) == ("FunctionName", LOADER)
    assert (stat["Stat"], stat["Period"]) == ("Sum", 3600)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == alarm["OKActions"] == found["DeletionExecutionsFailed"]["AlarmActions"]
    description = alarm["AlarmDescription"]
    assert f"switchyard lake load --region {region} --from " in description
    assert "--to " in description


# The workgroup.


def test_workgroup_keeps_encrypted_results_in_the_archive_bucket(template_json: dict, region: str) -> None:
    properties = workgroup(template_json)
    assert properties["Name"] == workgroup_name(region) == f"switchyard-{region}"
    assert properties["RecursiveDeleteOption"] is True
    configuration = properties["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True  # clients cannot send results elsewhere
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    assert "EngineVersion" not in configuration  # Athena's default engine
    results = configuration["ResultConfiguration"]
    location = results["OutputLocation"]["Fn::Join"][1]
    assert [target(part) for part in location] == ["s3://", "ArchiveBucket", f"/{constants.ATHENA_RESULTS_PREFIX}"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert target(results["EncryptionConfiguration"]["KmsKey"]) == "ArchiveKey"


# Outputs.


def test_outputs_for_the_cli(template_json: dict) -> None:
    outputs = template_json["Outputs"]
    assert outputs[constants.OUTPUT_LAKE_DATABASE]["Value"] == constants.LAKE_DATABASE
    assert base_id(outputs[constants.OUTPUT_LAKE_LOADER]["Value"]["Ref"]) == LOADER  # the function's name
    assert base_id(outputs[constants.OUTPUT_ATHENA_WORKGROUP]["Value"]["Ref"]) == "LakeWorkGroup"  # its name
    for key in (constants.OUTPUT_LAKE_DATABASE, constants.OUTPUT_LAKE_LOADER, constants.OUTPUT_ATHENA_WORKGROUP):
        assert "Export" not in outputs[key]


# Data residency.


def lake_resources(template_json: dict) -> dict[str, Any]:
    found = {k: r for k, r in template_json["Resources"].items() if k.startswith(("Lake", "ObservabilityLake"))}
    assert {base_id(k) for k in found} >= {
        "LakeDatabase",
        "LakeLoader",
        "LakeLoaderRole",
        "LakeLoaderRoleDefaultPolicy",
        "LakeRouterLagRead",
        "LakePyarrowLayer",
        "LakeSchedule",
        "LakeScheduleRole",
        "LakeScheduleRoleDefaultPolicy",
        "LakeWorkGroup",
        "ObservabilityLakeLoadsFailed",
    }
    return found


@pytest.mark.parametrize("app_name", ["default_app", "custom_app"])
def test_the_lake_of_a_region_names_only_that_region(app_name: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(app_name)
    for region in (OREGON, DUBLIN):
        for logical_id, resource in lake_resources(synthesized.json[region]).items():
            for path, text in strings(resource):
                assert set(REGION.findall(text)) <= {region}, (logical_id, path, text)
                for match in ARN.finditer(text):
                    assert match["region"] in ("", region), (logical_id, path, text)


def test_the_dublin_lake_is_in_eu_west_1(default_app: Synthesized) -> None:
    found = lake_resources(default_app.json[DUBLIN])
    named_regions = {m for resource in found.values() for _, text in strings(resource) for m in REGION.findall(text)}
    assert named_regions == {DUBLIN}  # the catalog and schedule-group ARNs, the workgroup's name, ...
    assert workgroup(default_app.json[DUBLIN])["Name"] == "switchyard-eu-west-1"
    assert loader(default_app.json[DUBLIN])["Environment"]["Variables"][constants.ENV_REGION] == DUBLIN
    manifest = json.loads(
        (Path(default_app.report_dir) / f"{default_app.stacks[DUBLIN].stack_name}.assets.json").read_text()
    )
    layer_hash = named(default_app.json[DUBLIN], "AWS::Lambda::LayerVersion", "LakePyarrowLayer")["Properties"][
        "Content"
    ]["S3Key"].removesuffix(".zip")
    (asset,) = [a for key, a in manifest["files"].items() if key == layer_hash]
    assert {d["region"] for d in asset["destinations"].values()} == {DUBLIN}
