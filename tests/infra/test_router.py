"""The router function: Kinesis event source that loses nothing, environment, least privilege."""

from __future__ import annotations

import pytest

from infra.router import ROUTER_MEMORY_MB
from switchyard import constants

from .conftest import Synthesized, base_id, function_policy, named, resources

pytestmark = pytest.mark.infra


def router_function(template_json: dict) -> dict:
    return named(template_json, "AWS::Lambda::Function", "RouterFunction")["Properties"]


def event_source(template_json: dict) -> dict:
    return named(template_json, "AWS::Lambda::EventSourceMapping", "RouterFunctionKinesis")["Properties"]


def test_the_functions_and_their_event_sources(template_json: dict) -> None:
    functions = {base_id(k) for k in resources(template_json, "AWS::Lambda::Function")}
    assert functions == {
        "IngestFunction",
        "RouterFunction",
        "DeliveryFunction",
        "ReplayPlan",
        "ReplayWorker",
        "ReplayReport",
        "DeletionPlan",
        "DeletionWorker",
        "DeletionFinish",
        "LakeLoader",
        "AlertsForwarder",
        "AlertsVolumeCheck",
    }
    mappings = resources(template_json, "AWS::Lambda::EventSourceMapping").values()
    assert sorted(base_id(m["Properties"]["FunctionName"]["Ref"]) for m in mappings) == [
        "DeliveryFunction",  # the delivery queue
        "DeliveryFunction",  # the replay queue
        "DeliveryFunction",  # the dead-letter queue, drained into the dead-letter store
        "RouterFunction",
    ]


def test_runs_with_the_lambda_defaults_and_its_own_size(template_json: dict) -> None:
    function = router_function(template_json)
    assert (function["Runtime"], function["Architectures"]) == ("python3.12", ["arm64"])
    assert function["TracingConfig"] == {"Mode": "PassThrough"}  # tracing=off by default
    assert function["Handler"] == "handler.lambda_handler"
    assert function["Timeout"] == constants.ROUTER_LAMBDA_TIMEOUT_SECONDS
    assert function["MemorySize"] == ROUTER_MEMORY_MB == 1024
    assert len(function["Layers"]) == 2


def test_reads_the_events_stream_in_batches_from_the_oldest_record(template_json: dict) -> None:
    mapping = event_source(template_json)
    assert mapping["EventSourceArn"]["Fn::GetAtt"][0].startswith("EventsStream")
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BatchSize"] == constants.ROUTER_BATCH_SIZE
    assert mapping["MaximumBatchingWindowInSeconds"] == constants.ROUTER_BATCHING_WINDOW_SECONDS
    assert mapping["ParallelizationFactor"] == 1


def test_failed_batches_are_bisected_reported_and_retried_until_they_succeed(template_json: dict) -> None:
    mapping = event_source(template_json)
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Unset means -1 to Lambda: retry until the record leaves the stream, never discard.
    assert mapping.get("MaximumRetryAttempts", -1) == -1
    assert mapping.get("MaximumRecordAgeInSeconds", -1) == -1
    assert "DestinationConfig" not in mapping  # nothing is sent aside as failed either


def test_parallelization_comes_from_context(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        assert event_source(template_json)["ParallelizationFactor"] == 4


def test_environment_names_what_the_router_uses(template_json: dict, region: str) -> None:
    variables = router_function(template_json)["Environment"]["Variables"]
    assert base_id(variables[constants.ENV_CONFIG_TABLE]["Ref"]) == "ConfigTable"
    assert base_id(variables[constants.ENV_DEDUPE_TABLE]["Ref"]) == "DedupeTable"
    assert variables[constants.ENV_DEDUPE_WINDOW_HOURS] == "24"
    assert base_id(variables[constants.ENV_ARCHIVE_BUCKET]["Ref"]) == "ArchiveBucket"
    assert base_id(variables[constants.ENV_DELIVERY_QUEUE_URL]["Ref"]) == "DeliveryQueue"  # Ref: URL
    assert base_id(variables[constants.ENV_DELIVERY_TABLE]["Ref"]) == "DeliveryTable"
    assert variables[constants.ENV_REGION] == region


def test_role_grants_exactly_what_the_router_uses(template_json: dict) -> None:
    assert function_policy(template_json, "RouterFunction") == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): "RouterFunctionLogs",
        ("dynamodb:GetItem",): "ConfigTable",
        ("dynamodb:PutItem",): "DedupeTable",  # conditional claims; never a read
        ("dynamodb:PutItem", "dynamodb:UpdateItem"): "DeliveryTable",  # its own items: see the next test
        ("dynamodb:GetItem", "dynamodb:UpdateItem"): "DeliveryTable",  # usage items (test_debugger_usage.py)
        ("s3:PutObject",): "ArchiveBucket/*",
        ("kms:Decrypt", "kms:GenerateDataKey"): "ArchiveKey",
        ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"): "DeliveryQueue",
        (
            "kinesis:DescribeStream",
            "kinesis:DescribeStreamConsumer",
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
            "kinesis:ListStreams",
            "kinesis:SubscribeToShard",
        ): "EventsStream",
    }


def test_router_cannot_write_the_stream_read_claims_or_read_the_archive(template_json: dict) -> None:
    grants = function_policy(template_json, "RouterFunction")
    on_dedupe = {a for actions, target in grants.items() if target == "DedupeTable" for a in actions}
    assert on_dedupe == {"dynamodb:PutItem"}  # no dynamodb:GetItem: the condition reads server-side
    granted = {action for actions in grants for action in actions}
    assert not granted & {
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:DeleteObject",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
    }


def test_the_router_writes_only_its_own_items_of_the_delivery_table(template_json: dict) -> None:
    policy = named(template_json, "AWS::IAM::Policy", "RouterFunctionRoleDefaultPolicy")
    (statement,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "Fn::GetAtt" in s["Resource"]
        and s["Resource"]["Fn::GetAtt"][0].startswith("DeliveryTable")
        and "dynamodb:PutItem" in s["Action"]
    ]
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["violations#*", "violation-samples#*", "pii#*"]}
    }
