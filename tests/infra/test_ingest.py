"""The ingest function: Lambda defaults applied, environment for the handler, least privilege."""

from __future__ import annotations

import pytest

from switchyard import constants

from .conftest import Synthesized, base_id, function_policy, named, resources

pytestmark = pytest.mark.infra


def ingest_function(template_json: dict) -> dict:
    return named(template_json, "AWS::Lambda::Function", "IngestFunction")["Properties"]


def test_runs_python_on_arm64_untraced_by_default(template_json: dict) -> None:
    function = ingest_function(template_json)
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["TracingConfig"] == {"Mode": "PassThrough"}  # tracing=off
    assert function["Handler"] == "handler.lambda_handler"


def test_answers_before_api_gateway_gives_up(template_json: dict) -> None:
    function = ingest_function(template_json)
    assert function["Timeout"] == constants.INGEST_LAMBDA_TIMEOUT_SECONDS < 30
    assert function["MemorySize"] == 512


def test_uses_both_shared_layers(template_json: dict) -> None:
    # The shared ones: not the lake's pyarrow layer, which only the lake loader gets.
    layers = {
        k: r for k, r in resources(template_json, "AWS::Lambda::LayerVersion").items() if k.startswith("LambdaDefaults")
    }
    assert len(layers) == 2
    assert sorted(ref["Ref"] for ref in ingest_function(template_json)["Layers"]) == sorted(layers)
    for layer in resources(template_json, "AWS::Lambda::LayerVersion").values():
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]


def test_environment_names_its_stream_table_and_region(template_json: dict, region: str) -> None:
    variables = ingest_function(template_json)["Environment"]["Variables"]
    stream_id = next(iter(resources(template_json, "AWS::Kinesis::Stream")))
    assert variables[constants.ENV_EVENTS_STREAM] == {"Ref": stream_id}
    assert variables[constants.ENV_CONFIG_TABLE]["Ref"].startswith("ConfigTable")
    assert variables[constants.ENV_REGION] == region
    assert variables["POWERTOOLS_SERVICE_NAME"] == constants.SERVICE_NAME
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == constants.METRICS_NAMESPACE
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert constants.ENV_CONFIG_CACHE_SECONDS not in variables


def test_options_reach_the_environment(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        variables = ingest_function(template_json)["Environment"]["Variables"]
        assert variables["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
        assert variables[constants.ENV_CONFIG_CACHE_SECONDS] == "5"


def test_logs_to_its_own_log_group_with_retention(template_json: dict) -> None:
    log_group_id = ingest_function(template_json)["LoggingConfig"]["LogGroup"]["Ref"]
    assert template_json["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30


def test_role_grants_exactly_what_ingest_uses(template_json: dict) -> None:
    assert function_policy(template_json, "IngestFunction") == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): "IngestFunctionLogs",
        ("kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"): "EventsStream",
        ("dynamodb:GetItem",): "ConfigTable",  # no Scan, no Query: see the next test
        ("dynamodb:UpdateItem",): "DeliveryTable",  # discard counts only: see below
    }


def test_ingest_may_only_add_discard_counts_to_the_delivery_table(template_json: dict) -> None:
    variables = ingest_function(template_json)["Environment"]["Variables"]
    assert variables[constants.ENV_DELIVERY_TABLE]["Ref"].startswith("DeliveryTable")
    policy = named(template_json, "AWS::IAM::Policy", "IngestFunctionRoleDefaultPolicy")
    (statement,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "Fn::GetAtt" in s["Resource"] and s["Resource"]["Fn::GetAtt"][0].startswith("DeliveryTable")
    ]
    assert statement["Action"] == "dynamodb:UpdateItem"
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ingest#*"]}}


@pytest.mark.parametrize(
    ("function", "keys"),
    [
        ("IngestFunction", [constants.CONFIG_WORKSPACE_KEY, constants.CONFIG_SUPPRESSIONS_KEY]),
        ("RouterFunction", [constants.CONFIG_WORKSPACE_KEY, constants.CONFIG_SUPPRESSIONS_KEY]),
        ("DeliveryFunction", [constants.CONFIG_WORKSPACE_KEY, constants.CONFIG_SUPPRESSIONS_KEY]),
    ],
)
def test_config_readers_may_get_only_the_workspace_item(template_json: dict, function: str, keys: list[str]) -> None:
    """Ingest, router and delivery also read the suppressed users' item."""
    policy = named(template_json, "AWS::IAM::Policy", f"{function}RoleDefaultPolicy")
    (statement,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "Fn::GetAtt" in s["Resource"] and s["Resource"]["Fn::GetAtt"][0].startswith("ConfigTable")
    ]
    assert statement["Action"] == "dynamodb:GetItem"
    assert statement["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": keys}}


def test_role_has_no_aws_managed_policies(template_json: dict, custom_app: Synthesized, region: str) -> None:
    role = named(template_json, "AWS::IAM::Role", "IngestFunctionRole")["Properties"]
    assert "ManagedPolicyArns" not in role  # tracing=off: no X-Ray policy
    traced = custom_app.json[region]  # tracing=active: the stack's own X-Ray policy only
    role = named(traced, "AWS::IAM::Role", "IngestFunctionRole")["Properties"]
    assert [base_id(arn["Ref"]) for arn in role["ManagedPolicyArns"]] == ["LambdaDefaultsXRayWrite"]
