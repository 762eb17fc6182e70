"""The regional resources `cdk deploy` creates, created in the emulator with the same names."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from switchyard import constants


@dataclass
class LocalResources:
    region: str
    account: str
    api_endpoint: str

    @property
    def events_stream(self) -> str:
        return constants.resource_name(constants.EVENTS_STREAM, self.region)

    @property
    def config_table(self) -> str:
        return constants.resource_name(constants.CONFIG_TABLE, self.region)

    @property
    def dedupe_table(self) -> str:
        return constants.resource_name(constants.DEDUPE_TABLE, self.region)

    @property
    def archive_bucket(self) -> str:
        return constants.archive_bucket_name(self.region, self.account)

    @property
    def delivery_queue(self) -> str:
        return constants.resource_name(constants.DELIVERY_QUEUE, self.region)

    @property
    def delivery_dlq(self) -> str:
        return constants.resource_name(constants.DELIVERY_DLQ, self.region)

    @property
    def delivery_table(self) -> str:
        return constants.resource_name(constants.DELIVERY_TABLE, self.region)

    delivery_queue_url: str = ""

    def outputs(self) -> dict[str, str]:
        return {
            constants.OUTPUT_DELIVERY_QUEUE: self.delivery_queue_url,
            constants.OUTPUT_DELIVERY_TABLE: self.delivery_table,
            constants.OUTPUT_API_ENDPOINT: self.api_endpoint,
            constants.OUTPUT_EVENTS_STREAM: self.events_stream,
            constants.OUTPUT_CONFIG_TABLE: self.config_table,
            constants.OUTPUT_DEDUPE_TABLE: self.dedupe_table,
            constants.OUTPUT_ARCHIVE_BUCKET: self.archive_bucket,
        }


def create_resources(resources: LocalResources, shard_count: int = 2, endpoint_url: str | None = None) -> None:
    """Create the stream, tables and bucket, and a CloudFormation stack carrying the same outputs
    a deployed stack has, so the CLI finds local resources exactly as it finds deployed ones."""
    session = boto3.session.Session(region_name=resources.region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=resources.events_stream, ShardCount=shard_count)
    kinesis.get_waiter("stream_exists").wait(StreamName=resources.events_stream, WaiterConfig={"Delay": 0.1})

    dynamodb = client("dynamodb")
    for table in (resources.config_table, resources.dedupe_table):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": constants.CONFIG_PK, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": constants.CONFIG_PK, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    dynamodb.update_time_to_live(
        TableName=resources.dedupe_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": constants.DEDUPE_TTL_ATTRIBUTE},
    )

    dynamodb.create_table(
        TableName=resources.delivery_table,
        KeySchema=[
            {"AttributeName": constants.DELIVERY_TABLE_PK, "KeyType": "HASH"},
            {"AttributeName": constants.DELIVERY_TABLE_SK, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": constants.DELIVERY_TABLE_PK, "AttributeType": "S"},
            {"AttributeName": constants.DELIVERY_TABLE_SK, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    sqs = client("sqs")
    dlq_url = sqs.create_queue(QueueName=resources.delivery_dlq)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    resources.delivery_queue_url = sqs.create_queue(
        QueueName=resources.delivery_queue,
        Attributes={
            "VisibilityTimeout": str(constants.DELIVERY_QUEUE_VISIBILITY_SECONDS),
            "MessageRetentionPeriod": str(14 * 24 * 3600),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": constants.DELIVERY_QUEUE_MAX_RECEIVES}
            ),
        },
    )["QueueUrl"]

    s3 = client("s3")
    s3.create_bucket(
        Bucket=resources.archive_bucket,
        CreateBucketConfiguration={"LocationConstraint": resources.region},
    )

    template = {
        "Resources": {
            "LocalStackMarker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": f"/switchyard/{resources.region}/local-stack",
                    "Type": "String",
                    "Value": "1",
                },
            }
        },
        "Outputs": {key: {"Value": value} for key, value in resources.outputs().items()},
    }
    client("cloudformation").create_stack(
        StackName=constants.REGIONS.get(resources.region, f"Switchyard-{resources.region}"),
        TemplateBody=json.dumps(template),
    )
