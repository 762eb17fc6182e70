"""The regional resources `cdk deploy` creates, created in the emulator with the same names."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from switchyard import constants


@dataclass(frozen=True)
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

    def outputs(self) -> dict[str, str]:
        return {
            constants.OUTPUT_API_ENDPOINT: self.api_endpoint,
            constants.OUTPUT_EVENTS_STREAM: self.events_stream,
            constants.OUTPUT_CONFIG_TABLE: self.config_table,
            constants.OUTPUT_DEDUPE_TABLE: self.dedupe_table,
            constants.OUTPUT_ARCHIVE_BUCKET: self.archive_bucket,
        }


def create_resources(resources: LocalResources, shard_count: int = 2, session: Any = None) -> None:
    """Create the stream, tables and bucket, and a CloudFormation stack carrying the same outputs
    a deployed stack has, so the CLI finds local resources exactly as it finds deployed ones."""
    session = session or boto3.session.Session(region_name=resources.region)
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName=resources.events_stream, ShardCount=shard_count)
    kinesis.get_waiter("stream_exists").wait(StreamName=resources.events_stream, WaiterConfig={"Delay": 0.1})

    dynamodb = session.client("dynamodb")
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

    s3 = session.client("s3")
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
    session.client("cloudformation").create_stack(
        StackName=constants.REGIONS.get(resources.region, f"Switchyard-{resources.region}"),
        TemplateBody=json.dumps(template),
    )
