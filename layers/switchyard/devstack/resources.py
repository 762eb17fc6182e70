"""The regional resources `cdk deploy` creates, created in the emulator with the same names."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from switchyard import constants
from switchyard.alerts.names import ALERTS_TOPIC, OUTPUT_ALERT_TOPIC
from switchyard.devstack.stepfunctions import placeholder_zip
from switchyard.privacy.deletion import definition as deletion_definition
from switchyard.replay import definition


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

    @property
    def replay_queue(self) -> str:
        return constants.resource_name(constants.REPLAY_QUEUE, self.region)

    @property
    def replay_state_machine(self) -> str:
        return constants.resource_name(constants.REPLAY_STATE_MACHINE, self.region)

    @property
    def deletion_state_machine(self) -> str:
        return constants.resource_name(constants.DELETION_STATE_MACHINE, self.region)

    def function_name(self, handler: str) -> str:
        """Local Lambda names for the functions the workflows and the CLI invoke."""
        return constants.resource_name(handler.replace("_", "-"), self.region)

    def function_arn(self, handler: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name(handler)}"

    delivery_queue_url: str = ""
    replay_queue_url: str = ""
    delivery_dlq_url: str = ""
    replay_state_machine_arn: str = ""
    deletion_state_machine_arn: str = ""
    alert_topic_arn: str = ""
    archive_retention_days: int = 365

    def outputs(self) -> dict[str, str]:
        return {
            constants.OUTPUT_DELIVERY_QUEUE: self.delivery_queue_url,
            constants.OUTPUT_REPLAY_QUEUE: self.replay_queue_url,
            constants.OUTPUT_REPLAY_STATE_MACHINE: self.replay_state_machine_arn,
            constants.OUTPUT_DELETION_STATE_MACHINE: self.deletion_state_machine_arn,
            constants.OUTPUT_ARCHIVE_RETENTION_DAYS: str(self.archive_retention_days),
            constants.OUTPUT_DELIVERY_TABLE: self.delivery_table,
            constants.OUTPUT_API_ENDPOINT: self.api_endpoint,
            constants.OUTPUT_EVENTS_STREAM: self.events_stream,
            constants.OUTPUT_CONFIG_TABLE: self.config_table,
            constants.OUTPUT_DEDUPE_TABLE: self.dedupe_table,
            constants.OUTPUT_ARCHIVE_BUCKET: self.archive_bucket,
            constants.OUTPUT_LAKE_DATABASE: constants.LAKE_DATABASE,
            constants.OUTPUT_LAKE_LOADER: self.function_name(LAKE_LOADER_HANDLER),
            OUTPUT_ALERT_TOPIC: self.alert_topic_arn,
        }


def create_resources(
    resources: LocalResources,
    shard_count: int = 2,
    endpoint_url: str | None = None,
    visibility_seconds: int = constants.DELIVERY_QUEUE_VISIBILITY_SECONDS,
) -> None:
    """Create the stream, tables and bucket, and a CloudFormation stack carrying the same outputs
    a deployed stack has, so the CLI finds local resources exactly as it finds deployed ones.
    `visibility_seconds`: the delivery path queues' visibility time-out (a soak shortens it)."""
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

    create_delivery_table(dynamodb, resources.delivery_table)

    sqs = client("sqs")
    dlq_url = resources.delivery_dlq_url = sqs.create_queue(
        QueueName=resources.delivery_dlq,
        Attributes={"VisibilityTimeout": str(visibility_seconds)},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    resources.delivery_queue_url = create_lane_queue(sqs, resources.delivery_queue, dlq_arn, visibility_seconds)
    resources.replay_queue_url = create_lane_queue(sqs, resources.replay_queue, dlq_arn, visibility_seconds)
    _create_workflows(resources, client)

    s3 = client("s3")
    s3.create_bucket(
        Bucket=resources.archive_bucket,
        CreateBucketConfiguration={"LocationConstraint": resources.region},
    )
    # Versioned, as deployed (infra/archive.py): a user deletion must remove older versions too.
    s3.put_bucket_versioning(Bucket=resources.archive_bucket, VersioningConfiguration={"Status": "Enabled"})
    # The lake's catalog; locally `switchyard lake query` runs DuckDB instead of Athena (no workgroup).
    client("glue").create_database(DatabaseInput={"Name": constants.LAKE_DATABASE})
    # The topic workspace alerts notify (`switchyard apply` manages the alarms and e-mail addresses).
    resources.alert_topic_arn = client("sns").create_topic(
        Name=constants.resource_name(ALERTS_TOPIC, resources.region)
    )["TopicArn"]

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


REPLAY_HANDLERS = ("replay_plan", "replay_worker", "replay_report")
DELETION_HANDLERS = ("deletion_plan", "deletion_worker", "deletion_finish")
LAKE_LOADER_HANDLER = "lake_loader"


def _create_workflows(resources: LocalResources, client: Any) -> None:
    """The workflows' functions (placeholders: the local adapter runs the real handlers) and state
    machines, from the same definition texts CDK deploys, with the same substitutions."""
    role = client("iam").create_role(
        RoleName=f"switchyard-local-{resources.region}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lambda_client = client("lambda")
    for handler in (*REPLAY_HANDLERS, *DELETION_HANDLERS, LAKE_LOADER_HANDLER):
        lambda_client.create_function(
            FunctionName=resources.function_name(handler),
            Runtime="python3.12",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": placeholder_zip()},
            Architectures=["arm64"],
        )
    stepfunctions = client("stepfunctions")

    def state_machine(name: str, rendered: str) -> str:
        return stepfunctions.create_state_machine(name=name, definition=rendered, roleArn=role, type="STANDARD")[
            "stateMachineArn"
        ]

    resources.replay_state_machine_arn = state_machine(
        resources.replay_state_machine,
        definition.render(
            {
                definition.PLAN_FUNCTION: resources.function_arn("replay_plan"),
                definition.WORKER_FUNCTION: resources.function_arn("replay_worker"),
                definition.REPORT_FUNCTION: resources.function_arn("replay_report"),
                definition.ARCHIVE_BUCKET: resources.archive_bucket,
            }
        ),
    )
    resources.deletion_state_machine_arn = state_machine(
        resources.deletion_state_machine,
        deletion_definition.render(
            {
                deletion_definition.PLAN_FUNCTION: resources.function_arn("deletion_plan"),
                deletion_definition.WORKER_FUNCTION: resources.function_arn("deletion_worker"),
                deletion_definition.FINISH_FUNCTION: resources.function_arn("deletion_finish"),
                deletion_definition.ARCHIVE_BUCKET: resources.archive_bucket,
            }
        ),
    )


def create_delivery_table(dynamodb: Any, name: str) -> None:
    """The delivery table's key schema (pk, sk), as infra/delivery.py declares it."""
    dynamodb.create_table(
        TableName=name,
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


def create_lane_queue(
    sqs: Any, name: str, dead_letter_arn: str, visibility_seconds: int = constants.DELIVERY_QUEUE_VISIBILITY_SECONDS
) -> str:
    """A queue of the delivery path (live or replay lane), as infra/delivery.py's lane_queue; its URL."""
    return sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_seconds),
            "MessageRetentionPeriod": str(14 * 24 * 3600),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": constants.DELIVERY_QUEUE_MAX_RECEIVES}
            ),
        },
    )["QueueUrl"]
