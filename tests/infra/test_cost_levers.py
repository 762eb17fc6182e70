"""The cost levers (issue 14) as synthesized: tracing, Lambda log levels, API access logs, dedupe
table capacity, router batching, stream compression. Defaults in the default app; `tracing=active`
and the largest router batches in the custom app; the cheapest settings in the lean app (Oregon:
REST API with sampled tracing; Dublin: HTTP API untraced; both without access logs, dedupe writes
provisioned, stream records deflated)."""

from __future__ import annotations

import json

import pytest

from infra.dedupe_table import DEDUPE_READ_CAPACITY, DEDUPE_TARGET_UTILIZATION_PERCENT
from infra.router import router_timeout_seconds
from switchyard import constants

from .conftest import DUBLIN, OREGON, Synthesized, base_id, named, only, resources

pytestmark = pytest.mark.infra

XRAY_POLICY = "LambdaDefaultsXRayWrite"


def functions(template_json: dict) -> dict[str, dict]:
    return {base_id(k): r["Properties"] for k, r in resources(template_json, "AWS::Lambda::Function").items()}


# Managed policies a function has whatever the tracing: the lake loader's CloudWatch read (infra/lake.py).
OWN_MANAGED_POLICIES = {"LakeRouterLagRead", "AlertsVolumeCheckMetrics"}


def managed_policies_of(template_json: dict, function: dict) -> list[str]:
    """A function role's managed policies that tracing decides (its own aside)."""
    role = template_json["Resources"][function["Role"]["Fn::GetAtt"][0]]["Properties"]
    found = [base_id(arn["Ref"]) for arn in role.get("ManagedPolicyArns", [])]
    return [name for name in found if name not in OWN_MANAGED_POLICIES]


def state_machines(template_json: dict) -> list[dict]:
    return [r["Properties"] for r in resources(template_json, "AWS::StepFunctions::StateMachine").values()]


def rest_stage(template_json: dict) -> dict:
    return only(template_json, "AWS::ApiGateway::Stage")["Properties"]


# Tracing.


def test_tracing_is_off_by_default_with_no_xray_anywhere(default_app: Synthesized) -> None:
    for template_json in default_app.json.values():
        found = functions(template_json)
        assert found
        for name, function in found.items():
            assert function["TracingConfig"] == {"Mode": "PassThrough"}, name
            assert XRAY_POLICY not in managed_policies_of(template_json, function), name
        assert not [k for k in resources(template_json, "AWS::IAM::ManagedPolicy") if k.startswith(XRAY_POLICY)]
        assert "xray:" not in json.dumps(template_json)  # no X-Ray action in any policy
        for state_machine in state_machines(template_json):
            assert state_machine["TracingConfiguration"] == {"Enabled": False}
        assert rest_stage(template_json)["TracingEnabled"] is False


def test_active_tracing_traces_every_function_and_workflow(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        for name, function in functions(template_json).items():
            assert function["TracingConfig"] == {"Mode": "Active"}, name
            assert managed_policies_of(template_json, function) == [XRAY_POLICY], name
        assert len(state_machines(template_json)) == 2
        for state_machine in state_machines(template_json):
            assert state_machine["TracingConfiguration"] == {"Enabled": True}
        assert rest_stage(template_json)["TracingEnabled"] is False  # as before the option: Lambda samples


def test_sampled_tracing_traces_the_rest_stage_and_what_ingest_receives_from_it(lean_app: Synthesized) -> None:
    template_json = lean_app.json[OREGON]
    assert rest_stage(template_json)["TracingEnabled"] is True  # X-Ray's default rule: 1/s, then 5%
    found = functions(template_json)
    for name, function in found.items():
        assert function["TracingConfig"] == {"Mode": "PassThrough"}, name
        # Only ingest records traces (those the stage sampled), so only its role may send them.
        expected = [XRAY_POLICY] if name == "IngestFunction" else []
        assert managed_policies_of(template_json, function) == expected, name
    assert {"RouterFunction", "DeliveryFunction", "ReplayWorker", "DeletionWorker"} <= set(found)
    policy = named(template_json, "AWS::IAM::ManagedPolicy", XRAY_POLICY)["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    for state_machine in state_machines(template_json):
        assert state_machine["TracingConfiguration"] == {"Enabled": False}


# Lambda logs.


def test_every_function_logs_json_filtered_by_lambda(default_app: Synthesized, custom_app: Synthesized) -> None:
    for app, application, system in ((default_app, "INFO", "WARN"), (custom_app, "DEBUG", "INFO")):
        for template_json in app.json.values():
            for name, function in functions(template_json).items():
                logging = function["LoggingConfig"]
                assert logging["LogFormat"] == "JSON", name
                assert (logging["ApplicationLogLevel"], logging["SystemLogLevel"]) == (application, system), name
                assert base_id(logging["LogGroup"]["Ref"]) == f"{name}Logs"
                # Powertools' own level stays the option's (Lambda filters at the same level).
                assert function["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == application


# API access logs.


def test_without_access_logs_neither_api_kind_logs_requests_nor_has_a_log_group(lean_app: Synthesized) -> None:
    rest, http = lean_app.json[OREGON], lean_app.json[DUBLIN]
    assert "AccessLogSetting" not in rest_stage(rest)
    assert not resources(rest, "AWS::ApiGatewayV2::Stage")
    assert "AccessLogSettings" not in only(http, "AWS::ApiGatewayV2::Stage")["Properties"]
    assert not resources(http, "AWS::ApiGateway::Stage")
    for template_json in (rest, http):
        assert not [k for k in resources(template_json, "AWS::Logs::LogGroup") if k.startswith("TrackingApiAccessLogs")]


def test_access_logs_are_on_by_default(default_app: Synthesized) -> None:
    for template_json in default_app.json.values():
        assert "AccessLogSetting" in rest_stage(template_json)
        named(template_json, "AWS::Logs::LogGroup", "TrackingApiAccessLogs")


# Dedupe table capacity.


def dedupe_table(template_json: dict) -> dict:
    return named(template_json, "AWS::DynamoDB::Table", "DedupeTable")


def test_dedupe_table_is_on_demand_by_default_without_backups(default_app: Synthesized) -> None:
    for template_json in default_app.json.values():
        properties = dedupe_table(template_json)["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert "ProvisionedThroughput" not in properties
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
        assert not resources(template_json, "AWS::ApplicationAutoScaling::ScalableTarget")


@pytest.mark.parametrize(("app_name", "floor", "ceiling"), [("lean_app", 5, 4000), ("custom_app", 10, 1000)])
def test_provisioned_dedupe_writes_scale_at_70_percent_between_floor_and_ceiling(
    app_name: str, floor: int, ceiling: int, request: pytest.FixtureRequest
) -> None:
    for template_json in request.getfixturevalue(app_name).json.values():
        table = dedupe_table(template_json)
        properties = table["Properties"]
        assert properties["BillingMode"] == "PROVISIONED"
        assert properties["ProvisionedThroughput"] == {
            "ReadCapacityUnits": DEDUPE_READ_CAPACITY,
            "WriteCapacityUnits": floor,
        }
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
        (target,) = resources(template_json, "AWS::ApplicationAutoScaling::ScalableTarget").values()
        target = target["Properties"]
        assert target["ScalableDimension"] == "dynamodb:table:WriteCapacityUnits"  # writes only
        assert (target["MinCapacity"], target["MaxCapacity"]) == (floor, ceiling)
        (policy,) = resources(template_json, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        assert tracking["TargetValue"] == DEDUPE_TARGET_UTILIZATION_PERCENT == 70
        assert tracking["PredefinedMetricSpecification"] == {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"}


# Router batching.


def router_source(template_json: dict) -> dict:
    (mapping,) = [
        m["Properties"]
        for m in resources(template_json, "AWS::Lambda::EventSourceMapping").values()
        if base_id(m["Properties"]["FunctionName"]["Ref"]) == "RouterFunction"
    ]
    return mapping


@pytest.mark.parametrize(
    ("app_name", "batch_size", "window", "timeout"),
    [
        ("default_app", constants.ROUTER_BATCH_SIZE, constants.ROUTER_BATCHING_WINDOW_SECONDS, 120),
        ("custom_app", 10_000, 5, 300),
        ("lean_app", constants.ROUTER_BATCH_SIZE, 0, 120),
    ],
)
def test_router_batches_follow_the_options_with_time_for_the_largest(
    app_name: str, batch_size: int, window: int, timeout: int, request: pytest.FixtureRequest
) -> None:
    for template_json in request.getfixturevalue(app_name).json.values():
        mapping = router_source(template_json)
        assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (batch_size, window)
        assert named(template_json, "AWS::Lambda::Function", "RouterFunction")["Properties"]["Timeout"] == timeout


def test_the_router_time_out_grows_past_4000_records_and_stays_within_lambdas_limit() -> None:
    assert constants.ROUTER_LAMBDA_TIMEOUT_SECONDS == 120
    assert router_timeout_seconds(1) == router_timeout_seconds(500) == router_timeout_seconds(4000) == 120
    assert router_timeout_seconds(4001) == 121
    assert router_timeout_seconds(10_000) == 300 <= 900


# Stream compression.


@pytest.mark.parametrize(("app_name", "switch"), [("default_app", "false"), ("lean_app", "true")])
def test_ingest_deflates_stream_records_only_with_stream_compression(
    app_name: str, switch: str, request: pytest.FixtureRequest
) -> None:
    for template_json in request.getfixturevalue(app_name).json.values():
        ingest = named(template_json, "AWS::Lambda::Function", "IngestFunction")["Properties"]
        assert ingest["Environment"]["Variables"][constants.ENV_STREAM_COMPRESSION] == switch
        # Every reader decodes both forms, so only the writer is told.
        for name, function in functions(template_json).items():
            variables = function.get("Environment", {}).get("Variables", {})
            assert (constants.ENV_STREAM_COMPRESSION in variables) == (name == "IngestFunction"), name


def test_events_per_delivery_message_reach_the_senders_and_size_the_delivery_batches(
    default_app: Synthesized, custom_app: Synthesized
) -> None:
    for app, per_message, batch in ((default_app, "10", 5), (custom_app, "25", 2)):
        for template_json in app.json.values():
            for sender in ("RouterFunction", "ReplayWorker"):
                variables = named(template_json, "AWS::Lambda::Function", sender)["Properties"]["Environment"]
                assert variables["Variables"][constants.ENV_DELIVERY_EVENTS_PER_MESSAGE] == per_message, sender
            mappings = resources(template_json, "AWS::Lambda::EventSourceMapping").values()
            lanes = [m["Properties"] for m in mappings if "Queue" in str(m["Properties"]["EventSourceArn"])]
            sizes = {
                str(m["EventSourceArn"]): m["BatchSize"] for m in lanes if "DeadLetter" not in str(m["EventSourceArn"])
            }
            assert set(sizes.values()) == {batch} and len(sizes) == 2, sizes
