"""Events stream, config table, dedupe table and archive: encrypted, named, retained as intended."""

from __future__ import annotations

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from app import cdk_json_context
from infra.archive import Archive, archive_transitions
from infra.options import StackOptions
from switchyard import constants

from .conftest import DUBLIN, Synthesized, base_id, name_stem, only, resources

pytestmark = pytest.mark.infra


# Events stream.


def test_stream_is_on_demand_kms_encrypted_and_keeps_a_week(template_json: dict, region: str) -> None:
    stream = only(template_json, "AWS::Kinesis::Stream")
    assert stream["Properties"] == {
        "Name": constants.resource_name(constants.EVENTS_STREAM, region),
        "RetentionPeriodHours": 168,
        "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
        "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
        "Tags": [{"Key": "project", "Value": "switchyard"}],
    }


def test_stream_can_be_provisioned_with_shards(custom_app: Synthesized) -> None:
    stream = only(custom_app.json[DUBLIN], "AWS::Kinesis::Stream")["Properties"]
    assert stream["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["ShardCount"] == 2


# Tables.


def table(template_json: dict, kind: str) -> dict:
    return next(
        r
        for r in resources(template_json, "AWS::DynamoDB::Table").values()
        if name_stem(r["Properties"]["TableName"]).startswith(f"switchyard-{kind}-")
    )


@pytest.mark.parametrize("kind", [constants.CONFIG_TABLE, constants.DEDUPE_TABLE])
def test_tables_are_on_demand_and_encrypted_the_config_with_point_in_time_recovery(
    template_json: dict, kind: str
) -> None:
    properties = table(template_json, kind)["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    # The dedupe table's claims are worth nothing after the window, and a restore would revive stale ones.
    recovery = kind == constants.CONFIG_TABLE
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": recovery}
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]


def test_config_table_is_kept_and_protected_by_default(template_json: dict) -> None:
    config = table(template_json, constants.CONFIG_TABLE)
    assert config["DeletionPolicy"] == "Retain"
    assert config["Properties"]["DeletionProtectionEnabled"] is True


def test_config_table_can_be_made_disposable(custom_app: Synthesized) -> None:
    config = table(custom_app.json[DUBLIN], constants.CONFIG_TABLE)
    assert config["DeletionPolicy"] == "Delete"
    assert config["Properties"]["DeletionProtectionEnabled"] is False


def test_dedupe_claims_expire_through_ttl(template_json: dict) -> None:
    dedupe = table(template_json, constants.DEDUPE_TABLE)
    assert dedupe["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": constants.DEDUPE_TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert dedupe["DeletionPolicy"] == "Delete"


def test_exactly_three_tables_and_no_global_tables(template_json: dict) -> None:
    assert len(resources(template_json, "AWS::DynamoDB::Table")) == 3  # config, dedupe, delivery
    assert not resources(template_json, "AWS::DynamoDB::GlobalTable")


# Archive.


def buckets(template_json: dict) -> tuple[dict, dict]:
    all_buckets = resources(template_json, "AWS::S3::Bucket")
    assert len(all_buckets) == 2
    archive = next(b for b in all_buckets.values() if "BucketName" in b["Properties"])
    logs = next(b for b in all_buckets.values() if "BucketName" not in b["Properties"])
    return archive, logs


def test_archive_is_kms_encrypted_with_its_own_rotated_key(template_json: dict) -> None:
    archive, _ = buckets(template_json)
    rule = archive["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["BucketKeyEnabled"] is True
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key_id = rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    assert template_json["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True


def test_archive_is_versioned_private_and_logged(template_json: dict) -> None:
    archive, logs = buckets(template_json)
    properties = archive["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    log_bucket_id = properties["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert template_json["Resources"][log_bucket_id] is logs
    assert archive["DeletionPolicy"] == "Retain"
    assert "BucketName" not in logs["Properties"]  # named by CloudFormation: kept, never in the way


def test_the_archive_is_named_for_its_region_account_and_stack(template_json: dict, region: str) -> None:
    archive, _ = buckets(template_json)
    stem = name_stem(archive["Properties"]["BucketName"])
    assert stem == f"switchyard-archive-{region}-000000000000"
    assert len(stem) + 1 + 8 <= 63  # S3's limit, with the 8 hex digits of the stack id


def test_every_bucket_refuses_requests_without_tls(template: Template, template_json: dict) -> None:
    policies = resources(template_json, "AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_access_logs_bucket_is_private_encrypted_and_expires(template_json: dict) -> None:
    _, logs = buckets(template_json)
    properties = logs["Properties"]
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }  # the only kind S3 logging accepts
    assert properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert properties["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30


def test_archive_lifecycle_tiers_then_expires(template_json: dict) -> None:
    archive, _ = buckets(template_json)
    # S3 transitions nothing under 128 KB: small objects stay in S3 Standard until they expire, never
    # monitored by Intelligent-Tiering nor billed as 128 KB by Glacier IR (stated, not S3's default).
    assert archive["Properties"]["LifecycleConfiguration"]["TransitionDefaultMinimumObjectSize"] == (
        "all_storage_classes_128K"
    )
    rules = {rule["Id"]: rule for rule in archive["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert not [rule for rule in rules.values() if "ObjectSizeGreaterThan" in rule or "ObjectSizeLessThan" in rule]
    main = rules["tier-and-expire"]
    assert main["ExpirationInDays"] == 365
    assert main["Transitions"] == [
        {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30},
        {"StorageClass": "GLACIER_IR", "TransitionInDays": 90},
    ]
    assert main["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules["remove-expired-delete-markers"]["ExpiredObjectDeleteMarker"] is True


def test_archive_retention_comes_from_context(custom_app: Synthesized) -> None:
    archive, _ = buckets(custom_app.json[DUBLIN])
    rules = {rule["Id"]: rule for rule in archive["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["tier-and-expire"]["ExpirationInDays"] == 60
    assert rules["tier-and-expire"]["Transitions"] == [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30}]


@pytest.mark.parametrize(
    ("retention_days", "classes"),
    [
        (7, []),
        (30, []),
        (31, ["INTELLIGENT_TIERING"]),
        (179, ["INTELLIGENT_TIERING"]),  # Glacier IR would be billed 90 days for objects deleted sooner
        (180, ["INTELLIGENT_TIERING", "GLACIER_IR"]),
    ],
)
def test_transitions_only_when_they_pay_off_before_expiry(retention_days: int, classes: list[str]) -> None:
    assert [t.storage_class.to_string() for t in archive_transitions(retention_days)] == classes


def test_archive_grants_for_later_capabilities_have_no_wildcard_actions() -> None:
    app = App(context=cdk_json_context())  # the feature flags the app runs with
    stack = Stack(app, "Probe", env=Environment(account="123456789012", region=DUBLIN))
    archive = Archive(stack, "Archive", options=StackOptions(region=DUBLIN))
    writer = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    reader = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    archive.grant_write_objects(writer)
    archive.grant_read_objects(reader)
    policies = {
        base_id(logical_id).removesuffix("DefaultPolicy"): sorted(
            action
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        )
        for logical_id, resource in resources(Template.from_stack(stack).to_json(), "AWS::IAM::Policy").items()
    }
    assert policies == {
        "Writer": ["kms:Decrypt", "kms:GenerateDataKey", "s3:PutObject"],
        "Reader": ["kms:Decrypt", "s3:GetObject", "s3:ListBucket"],
    }


def test_archive_grants_narrow_to_a_key_pattern_and_a_listing_prefix() -> None:
    app = App(context=cdk_json_context())
    stack = Stack(app, "Probe", env=Environment(account="123456789012", region=DUBLIN))
    archive = Archive(stack, "Archive", options=StackOptions(region=DUBLIN))
    role = iam.Role(stack, "Narrow", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    archive.grant_list_objects(role, prefix_like="source_id=*")
    archive.grant_get_objects(role, "source_id=*")
    archive.grant_write_objects(role, "_replays/*")
    (policy,) = resources(Template.from_stack(stack).to_json(), "AWS::IAM::Policy").values()
    statements = {
        statement["Action"] if isinstance(statement["Action"], str) else tuple(statement["Action"]): statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    assert statements["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": "source_id=*"}}
    assert statements["s3:GetObject"]["Resource"]["Fn::Join"][1][1] == "/source_id=*"
    assert statements["s3:PutObject"]["Resource"]["Fn::Join"][1][1] == "/_replays/*"
