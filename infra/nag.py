"""cdk-nag (AwsSolutions) acknowledgements, each with the reason a security reviewer would ask for.

Each one is attached to the narrowest construct it concerns, never to the whole stack, so a new
finding elsewhere still fails the synth.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

XRAY_WILDCARD = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    reason="xray:PutTraceSegments and xray:PutTelemetryRecords support no resource types (AWS Service "
    "Authorization Reference), so Resource '*' is the narrowest scope IAM allows. The statement "
    "sits alone in this customer-managed policy with only those two write actions; functions get "
    "nothing else through it.",
)

PINNED_RUNTIME = Acknowledgment(
    id="AwsSolutions::AwsSolutions-L1",
    reason="The runtime is pinned on purpose to the interpreter the dependencies layer is built and "
    "tested for (cp312 / aarch64 wheels, infra/bundling.py LAMBDA_PYTHON_VERSION). python3.12 is "
    "a supported Lambda runtime; moving to a newer one is a deliberate change of RUNTIME and "
    "LAMBDA_PYTHON_VERSION together, with the layer test re-run.",
)

WRITE_KEY_AUTH = Acknowledgment(
    id="AwsSolutions::AwsSolutions-APIG4",
    reason="Public Segment-compatible tracking endpoint: the unmodified Segment SDKs (browsers included) "
    "authenticate with the source's write key, sent as the HTTP Basic user name or as writeKey in "
    "the body, which IAM, JWT or Cognito authorizers cannot express. The ingest function checks "
    "every request against the config table and answers 401/403 for unknown or disabled keys; a "
    "Lambda authorizer would run the same check in a second invocation. Stage throttling bounds "
    "abuse.",
)

# The id names the archive bucket's logical id; archive_objects() fills it in.
ARCHIVE_OBJECTS = Acknowledgment(
    id="AwsSolutions::AwsSolutions-IAM5[Resource::<ArchiveBucket.Arn>/*]",
    reason="Archive object keys are computed per batch from the data (source_id=<id>/date=<day>/"
    "hour=<hour>/<shard>-<sequence>.jsonl.gz), and sources are added at any time through the "
    "workspace config, so no fixed list of prefixes or keys exists at deploy time. The wildcard "
    "covers only the objects of the one regional archive bucket, for only the object actions the "
    "function uses (router: s3:PutObject, no read, list or delete), with the archive key granted "
    "for those objects only.",
)

ALL = (XRAY_WILDCARD, PINNED_RUNTIME, WRITE_KEY_AUTH, ARCHIVE_OBJECTS)


def acknowledge_xray_policy(policy: iam.ManagedPolicy) -> None:
    Validations.of(policy).acknowledge(XRAY_WILDCARD)


def acknowledge_pinned_runtime(function: lambda_.Function) -> None:
    Validations.of(function).acknowledge(PINNED_RUNTIME)


def acknowledge_write_key_routes(api: apigwv2.HttpApi) -> None:
    """The routes of the tracking API only (a later API with an authorizer is still checked)."""
    for child in api.node.children:
        if isinstance(child, apigwv2.HttpRoute):
            Validations.of(child).acknowledge(WRITE_KEY_AUTH)


def acknowledge_archive_objects(function: lambda_.Function, bucket: s3.IBucket) -> None:
    """The `<archive bucket>/*` object grant, on the function's role policy only."""
    assert function.role is not None
    policy = function.role.node.find_child("DefaultPolicy")
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, CfnResource)
    logical_id = Stack.of(bucket).resolve(Stack.of(bucket).get_logical_id(cfn_bucket))
    Validations.of(policy).acknowledge(
        Acknowledgment(
            id=ARCHIVE_OBJECTS.id.replace("<ArchiveBucket.Arn>", f"<{logical_id}.Arn>"),
            reason=ARCHIVE_OBJECTS.reason,
        )
    )


def acknowledged(construct: IConstruct) -> list[dict[str, str]]:
    """The acknowledgements recorded on one construct (for tests and reviews)."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found = []
    for entry in construct.node.metadata:
        if entry.type == key:
            data = entry.data
            found.extend(data if isinstance(data, list) else [data])
    return found
