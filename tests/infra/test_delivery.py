"""Delivery: queue and dead-letter queue, delivery table, and the delivery function's event source."""

from __future__ import annotations

import pytest

from infra.delivery import DELIVERY_MEMORY_MB
from switchyard import constants

from .conftest import DUBLIN, Synthesized, base_id, function_policy, granted_resources, name_stem, named, resources

pytestmark = pytest.mark.infra

FOURTEEN_DAYS = 14 * 24 * 3600


def queues(template_json: dict) -> tuple[dict, dict]:
    """(delivery queue, dead-letter queue) properties (the third queue is replay's lane)."""
    found = resources(template_json, "AWS::SQS::Queue")
    assert {base_id(k) for k in found} == {"DeliveryQueue", "DeliveryDeadLetterQueue", "ReplayQueue"}
    return (
        named(template_json, "AWS::SQS::Queue", "DeliveryQueue")["Properties"],
        named(template_json, "AWS::SQS::Queue", "DeliveryDeadLetterQueue")["Properties"],
    )


def delivery_function(template_json: dict) -> dict:
    return named(template_json, "AWS::Lambda::Function", "DeliveryFunction")["Properties"]


def event_source(template_json: dict, queue: str = "DeliveryQueue") -> dict:
    """The delivery function's event source mapping on `queue` (it has one per lane)."""
    (mapping,) = [
        r["Properties"]
        for k, r in resources(template_json, "AWS::Lambda::EventSourceMapping").items()
        if k.startswith("DeliveryFunctionSqs") and base_id(r["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]) == queue
    ]
    return mapping


def delivery_table(template_json: dict) -> dict:
    return named(template_json, "AWS::DynamoDB::Table", "DeliveryTable")


# Queues.


def test_queues_are_named_encrypted_and_keep_messages_14_days(template_json: dict, region: str) -> None:
    queue, dlq = queues(template_json)
    assert queue["QueueName"] == constants.resource_name(constants.DELIVERY_QUEUE, region)
    assert dlq["QueueName"] == constants.resource_name(constants.DELIVERY_DLQ, region)
    for properties in (queue, dlq):
        assert properties["SqsManagedSseEnabled"] is True
        assert properties["MessageRetentionPeriod"] == FOURTEEN_DAYS
        assert "FifoQueue" not in properties  # standard queues


def test_visibility_outlasts_the_function_as_lambda_advises(template_json: dict) -> None:
    queue, _ = queues(template_json)
    assert queue["VisibilityTimeout"] == constants.DELIVERY_QUEUE_VISIBILITY_SECONDS
    assert queue["VisibilityTimeout"] >= 6 * delivery_function(template_json)["Timeout"]


def test_queue_redrives_to_the_dead_letter_queue_as_a_safety_net(template_json: dict) -> None:
    queue, _ = queues(template_json)
    redrive = queue["RedrivePolicy"]
    assert base_id(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]) == "DeliveryDeadLetterQueue"
    assert redrive["maxReceiveCount"] == constants.DELIVERY_QUEUE_MAX_RECEIVES


def test_both_queues_refuse_requests_without_tls(template_json: dict) -> None:
    policies = resources(template_json, "AWS::SQS::QueuePolicy").values()
    covered = set()
    for policy in policies:
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )
        assert all(s["Effect"] == "Deny" for s in statements)  # no access granted by resource policy
        covered |= {base_id(q["Ref"]) for q in policy["Properties"]["Queues"]}
    assert covered == {"DeliveryQueue", "DeliveryDeadLetterQueue", "ReplayQueue"}


# Table.


def test_delivery_table_keys_ttl_and_billing(template_json: dict, region: str) -> None:
    properties = delivery_table(template_json)["Properties"]
    assert name_stem(properties["TableName"]) == constants.resource_name(constants.DELIVERY_TABLE, region)
    assert properties["KeySchema"] == [
        {"AttributeName": constants.DELIVERY_TABLE_PK, "KeyType": "HASH"},
        {"AttributeName": constants.DELIVERY_TABLE_SK, "KeyType": "RANGE"},
    ]
    assert properties["AttributeDefinitions"] == [
        {"AttributeName": constants.DELIVERY_TABLE_PK, "AttributeType": "S"},
        {"AttributeName": constants.DELIVERY_TABLE_SK, "AttributeType": "S"},
    ]
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": constants.DELIVERY_TABLE_TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_dead_letters_survive_a_destroy_unless_told_otherwise(template_json: dict, custom_app: Synthesized) -> None:
    kept = delivery_table(template_json)
    assert kept["DeletionPolicy"] == "Retain"
    assert kept["Properties"]["DeletionProtectionEnabled"] is True
    disposable = delivery_table(custom_app.json[DUBLIN])
    assert disposable["DeletionPolicy"] == "Delete"
    assert disposable["Properties"]["DeletionProtectionEnabled"] is False


# Function.


def test_runs_with_the_lambda_defaults_outside_any_vpc(template_json: dict) -> None:
    function = delivery_function(template_json)
    assert (function["Runtime"], function["Architectures"]) == ("python3.12", ["arm64"])
    assert function["TracingConfig"] == {"Mode": "PassThrough"}  # tracing=off by default
    assert function["Handler"] == "handler.lambda_handler"
    assert function["Timeout"] == constants.DELIVERY_LAMBDA_TIMEOUT_SECONDS
    assert function["MemorySize"] == DELIVERY_MEMORY_MB == 512
    assert "VpcConfig" not in function  # destinations are on the internet


def test_environment_names_what_delivery_uses(template_json: dict) -> None:
    variables = delivery_function(template_json)["Environment"]["Variables"]
    assert base_id(variables[constants.ENV_CONFIG_TABLE]["Ref"]) == "ConfigTable"
    assert base_id(variables[constants.ENV_DELIVERY_TABLE]["Ref"]) == "DeliveryTable"
    assert constants.ENV_DELIVERY_QUEUE_URL not in variables  # each record's queue comes from its ARN


def test_takes_batches_and_reports_each_message_to_retry(template_json: dict) -> None:
    mapping = event_source(template_json)
    assert base_id(mapping["EventSourceArn"]["Fn::GetAtt"][0]) == "DeliveryQueue"
    # Messages of 10 events: five make the 50 events an invocation's time budget is planned for.
    assert mapping["BatchSize"] == constants.DELIVERY_BATCH_SIZE // constants.DELIVERY_EVENTS_PER_MESSAGE == 5
    assert mapping["MaximumBatchingWindowInSeconds"] == constants.DELIVERY_BATCHING_WINDOW_SECONDS
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 50}


def test_concurrency_comes_from_context(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        assert event_source(template_json)["ScalingConfig"] == {"MaximumConcurrency": 200}


def test_role_grants_exactly_what_delivery_uses(template_json: dict, region: str) -> None:
    credentials = f"arn:aws:ssm:{region}:000000000000:parameter{constants.destination_parameter(region, '*')}"
    assert function_policy(template_json, "DeliveryFunction") == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): "DeliveryFunctionLogs",
        ("dynamodb:GetItem",): "ConfigTable",
        ("ssm:GetParameter",): credentials,
        (
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
        ): "DeliveryTable",
        (  # the replay lane and the dead-letter queue: consumed
            "sqs:ChangeMessageVisibility",  # the retry delay
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ReceiveMessage",
        ): ("DeliveryDeadLetterQueue", "ReplayQueue"),
        # Both lanes, never the dead-letter queue, take the events of a message retried alone
        # (CDK merges the live lane's two grants into one statement).
        ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"): "ReplayQueue",
        (
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ReceiveMessage",
            "sqs:SendMessage",
        ): "DeliveryQueue",
    }


def test_delivery_cannot_touch_the_stream_or_the_archive(template_json: dict) -> None:
    targets = granted_resources(template_json, "DeliveryFunction")
    assert not targets & {"EventsStream", "ArchiveBucket/*", "ArchiveKey", "DedupeTable"}


def test_the_dead_letter_queue_is_drained_into_the_dead_letter_store(template_json: dict) -> None:
    """What SQS gives up on after its receive limit must reach `switchyard dlq list`, not sit unseen."""
    mappings = resources(template_json, "AWS::Lambda::EventSourceMapping")
    drained = [
        m["Properties"]
        for m in mappings.values()
        if "DeliveryDeadLetterQueue" in str(m["Properties"]["EventSourceArn"])
        and "DeliveryFunction" in str(m["Properties"]["FunctionName"])
    ]
    assert len(drained) == 1
    assert drained[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
