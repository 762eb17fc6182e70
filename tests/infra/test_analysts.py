"""The analysts' managed policy: read the archive's Athena table, its event objects and their key; read
the lake's tables and files; run queries in the stack's workgroup and keep their results in its location."""

from __future__ import annotations

import pytest

from infra.analysts import ATHENA_QUERY_ACTIONS, GLUE_READ_ACTIONS, LAKE_GLUE_READ_ACTIONS, analysts_policy_name
from infra.archive_catalog import DATABASE_NAME, TABLE_NAME
from switchyard import constants

from .conftest import Synthesized, base_id, named, resources

pytestmark = pytest.mark.infra

ARCHIVE_BUCKET = {"Fn::GetAtt": ["ArchiveBucket49F1AC64", "Arn"]}


def analysts_policy(template_json: dict) -> dict:
    return named(template_json, "AWS::IAM::ManagedPolicy", "AnalystsPolicy")["Properties"]


def statements(template_json: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in analysts_policy(template_json)["PolicyDocument"]["Statement"]}


def test_the_policy_is_an_output_under_a_name_per_region(template_json: dict, region: str) -> None:
    policy = analysts_policy(template_json)
    assert policy["ManagedPolicyName"] == analysts_policy_name(region) == f"switchyard-archive-analysts-{region}"
    output = template_json["Outputs"][constants.OUTPUT_ANALYSTS_POLICY]["Value"]
    assert base_id(output["Ref"]) == "AnalystsPolicy"  # a managed policy's Ref is its ARN


def test_it_reads_the_archive_table_in_the_glue_catalog(template_json: dict, region: str) -> None:
    table = statements(template_json)["ArchiveTable"]
    assert sorted(table["Action"]) == sorted(GLUE_READ_ACTIONS)
    prefix = f"arn:aws:glue:{region}:000000000000:"
    assert table["Resource"] == [
        f"{prefix}catalog",
        f"{prefix}database/{DATABASE_NAME}",
        f"{prefix}table/{DATABASE_NAME}/{TABLE_NAME}",
    ]


def test_it_lists_and_reads_only_the_event_objects(template_json: dict) -> None:
    found = statements(template_json)
    assert (found["ArchiveBucket"]["Action"], found["ArchiveBucket"]["Resource"]) == (
        "s3:GetBucketLocation",
        ARCHIVE_BUCKET,
    )
    listing = found["ListEventObjects"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", ARCHIVE_BUCKET)
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "source_id=*"}}  # not _replays/, _deletions/
    reading = found["ReadEventObjects"]
    assert reading["Action"] == "s3:GetObject"
    assert reading["Resource"] == {"Fn::Join": ["", [ARCHIVE_BUCKET, "/source_id=*"]]}


def test_it_decrypts_with_the_archive_key_only_through_s3_for_the_archive(template_json: dict, region: str) -> None:
    decrypt = statements(template_json)["DecryptEventObjects"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert base_id(decrypt["Resource"]["Fn::GetAtt"][0]) == "ArchiveKey"
    conditions = decrypt["Condition"]["StringEquals"]
    assert conditions["kms:ViaService"] == {"Fn::Join": ["", [f"s3.{region}.", {"Ref": "AWS::URLSuffix"}]]}
    # With the S3 Bucket Key, the encryption context is the bucket's ARN.
    assert conditions["kms:EncryptionContext:aws:s3:arn"] == ARCHIVE_BUCKET


def test_it_reads_the_lake_tables_in_the_glue_catalog(template_json: dict, region: str) -> None:
    tables = statements(template_json)["LakeTables"]
    assert sorted(tables["Action"]) == sorted(LAKE_GLUE_READ_ACTIONS)
    assert set(LAKE_GLUE_READ_ACTIONS) - set(GLUE_READ_ACTIONS) == {"glue:GetTables"}  # tables appear at run time
    prefix = f"arn:aws:glue:{region}:000000000000:"
    assert tables["Resource"] == [
        f"{prefix}catalog",
        f"{prefix}database/{constants.LAKE_DATABASE}",
        f"{prefix}table/{constants.LAKE_DATABASE}/*",
    ]


def test_it_lists_and_reads_only_the_lake_files(template_json: dict) -> None:
    found = statements(template_json)
    listing = found["ListLakeFiles"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", ARCHIVE_BUCKET)
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "lake/*"}}  # not _lake_loads/
    reading = found["ReadLakeFiles"]
    assert reading["Action"] == "s3:GetObject"
    assert reading["Resource"] == {"Fn::Join": ["", [ARCHIVE_BUCKET, "/lake/*"]]}


def test_it_runs_queries_in_the_stack_workgroup_only(template_json: dict, region: str) -> None:
    workgroup = statements(template_json)["AthenaWorkGroup"]
    assert sorted(workgroup["Action"]) == sorted(ATHENA_QUERY_ACTIONS)
    assert set(ATHENA_QUERY_ACTIONS) == {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
        "athena:GetWorkGroup",
    }
    assert workgroup["Resource"] == f"arn:aws:athena:{region}:000000000000:workgroup/switchyard-{region}"


def test_it_reads_and_writes_query_results_in_the_workgroup_location_only(template_json: dict, region: str) -> None:
    found = statements(template_json)
    listing = found["ListQueryResults"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", ARCHIVE_BUCKET)
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "_athena/*"}}
    results = found["QueryResults"]
    assert sorted(results["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert results["Resource"] == {"Fn::Join": ["", [ARCHIVE_BUCKET, "/_athena/*"]]}
    encrypt = found["EncryptQueryResults"]
    assert encrypt["Action"] == "kms:GenerateDataKey"
    assert base_id(encrypt["Resource"]["Fn::GetAtt"][0]) == "ArchiveKey"
    # The same conditions as the decrypt: through S3 in this region, for this bucket only.
    assert encrypt["Condition"] == found["DecryptEventObjects"]["Condition"]
    assert encrypt["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Join": ["", [f"s3.{region}.", {"Ref": "AWS::URLSuffix"}]]
    }


def test_it_grants_nothing_else_and_is_attached_to_no_one(template_json: dict) -> None:
    assert set(statements(template_json)) == {
        "ArchiveTable",
        "ArchiveBucket",
        "ListEventObjects",
        "ReadEventObjects",
        "DecryptEventObjects",
        "LakeTables",
        "ListLakeFiles",
        "ReadLakeFiles",
        "AthenaWorkGroup",
        "ListQueryResults",
        "QueryResults",
        "EncryptQueryResults",
    }
    for sid, statement in statements(template_json).items():
        assert statement["Effect"] == "Allow"
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert not [a for a in actions if "Delete" in a or "*" in a or a.startswith(("glue:Create", "glue:Update"))]
        if sid != "QueryResults":  # the only write: query results, in the workgroup's location
            assert not [a for a in actions if "Put" in a], sid
    policy = analysts_policy(template_json)
    assert not {"Roles", "Users", "Groups"} & set(policy)  # the operator attaches it to analysts
    policy_id = next(k for k in resources(template_json, "AWS::IAM::ManagedPolicy") if k.startswith("AnalystsPolicy"))
    for role in resources(template_json, "AWS::IAM::Role").values():
        assert {"Ref": policy_id} not in role["Properties"].get("ManagedPolicyArns", [])


def test_the_custom_app_names_its_own_account(custom_app: Synthesized) -> None:
    for region, template_json in custom_app.json.items():
        table = statements(template_json)["ArchiveTable"]
        assert table["Resource"][0] == f"arn:aws:glue:{region}:123456789012:catalog"
