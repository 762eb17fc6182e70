"""Least privilege: no wildcard actions or resources in identity policies, nothing public."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.lambda_defaults import XRAY_WRITE_ACTIONS
from infra.workflow import LOG_DELIVERY_ACTIONS, STATE_MACHINE_XRAY_ACTIONS

from .conftest import Synthesized, base_id

pytestmark = pytest.mark.infra

# (policy logical id prefix, actions): statements allowed to use `Resource: *`, with the reason.
WILDCARD_RESOURCE_ALLOWED = {
    (
        "LambdaDefaultsXRayWrite",
        tuple(sorted(XRAY_WRITE_ACTIONS)),
    ): "X-Ray's write actions support no resource types; Resource * is the only scope IAM accepts.",
    (
        "RouterFunctionRoleDefaultPolicy",
        ("s3:PutObject",),
    ): "Archive object keys derive from the data (source, date, hour, shard); objects of one bucket only.",
    (
        "ReplayStateMachineLogsAndTracing",
        tuple(sorted(LOG_DELIVERY_ACTIONS + STATE_MACHINE_XRAY_ACTIONS)),
    ): "Vended log delivery and X-Ray actions support no resource types; alone in their managed policy.",
    # The same policies with `tracing` off or sampled: the log-delivery actions alone (a subset of the
    # entries above, no new wildcard).
    (
        "ReplayStateMachineLogsAndTracing",
        tuple(sorted(LOG_DELIVERY_ACTIONS)),
    ): "Vended log delivery actions support no resource types; alone in their managed policy (workflow untraced).",
    (
        "DeletionStateMachineLogsAndTracing",
        tuple(sorted(LOG_DELIVERY_ACTIONS)),
    ): "Vended log delivery actions support no resource types; alone in their managed policy (workflow untraced).",
    ("ReplayPlanRoleDefaultPolicy", ("s3:PutObject",)): "Replay manifests, `_replays/<replay id>/...`: ids are made "
    "at run time.",
    ("ReplayWorkerRoleDefaultPolicy", ("s3:GetObject",)): "The archive's event objects (`source_id=*`): keys derive "
    "from the data and are listed at run time.",
    ("ReplayStateMachineRoleDefaultPolicy", ("s3:GetObject",)): "The Distributed Map reads the replay's manifest "
    "(`_replays/*`).",
    (
        "ReplayStateMachineRoleDefaultPolicy",
        ("states:DescribeExecution", "states:StopExecution"),
    ): "The Distributed Map's child executions of this one state machine, named at run time.",
    ("DeliveryFunctionRoleDefaultPolicy", ("ssm:GetParameter",)): "Destination credentials "
    "(`/switchyard/<region>/destinations/*/credentials`): destinations are added by `switchyard apply` at run time.",
    (
        "DeletionStateMachineLogsAndTracing",
        tuple(sorted(LOG_DELIVERY_ACTIONS + STATE_MACHINE_XRAY_ACTIONS)),
    ): "Vended log delivery and X-Ray actions support no resource types; alone in their managed policy.",
    ("DeletionPlanRoleDefaultPolicy", ("s3:PutObject",)): "Deletion manifests, `_deletions/<deletion id>/...`: ids "
    "are made at run time.",
    ("DeletionWorkerRoleDefaultPolicy", ("s3:PutObject",)): "Each batch's list of changed objects, under "
    "`_deletions/<deletion id>/objects/`.",
    (
        "DeletionWorkerRoleDefaultPolicy",
        ("s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"),
    ): "The archive's event objects (`source_id=*`): a deletion rewrites whichever of them hold the users.",
    ("DeletionFinishRoleDefaultPolicy", ("s3:GetObject", "s3:PutObject")): "The deletion's parts and report, "
    "`_deletions/<deletion id>/...`.",
    ("DeletionFinishRoleDefaultPolicy", ("ssm:GetParameter",)): "Destination credentials, for the destinations' "
    "delete calls.",
    ("DeletionFinishRoleDefaultPolicy", ("s3:DeleteObjectVersion",)): "The debugger's samples (`_debugger/*`), "
    "written by the router at run time, cleared by every user deletion.",
    ("AnalystsPolicy", ("s3:GetObject",)): "The archive's event objects (`source_id=*`) and the lake's files "
    "(`lake/*`), which Athena reads with the analyst's credentials: tables' partitions, named from the data.",
    ("DeletionStateMachineRoleDefaultPolicy", ("s3:GetObject",)): "The Distributed Maps read the deletion's manifest "
    "(`_deletions/*`).",
    (
        "DeletionStateMachineRoleDefaultPolicy",
        ("states:DescribeExecution", "states:StopExecution"),
    ): "The Distributed Maps' child executions of this one state machine, named at run time.",
    # The lake (infra/lake.py): keys and tables derive from the data and appear at run time.
    ("LakeLoaderRoleDefaultPolicy", ("s3:DeleteObject", "s3:GetObject")): "The archive's event objects "
    "(`source_id=*`): it reads the hours it loads and deletes the small objects compaction merged.",
    ("LakeLoaderRoleDefaultPolicy", ("s3:PutObject",)): "Each closed hour's `source_id=*/compacted-*` "
    "objects, and nothing else among the event objects.",
    (
        "LakeLoaderRoleDefaultPolicy",
        ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:PutObject"),
    ): "The lake's Parquet files (`lake/*`), one per table, source and hour, and their older versions.",
    ("LakeLoaderRoleDefaultPolicy", ("s3:DeleteObject", "s3:GetObject", "s3:PutObject")): "The loads' records, "
    "`_lake_loads/*`, one per source and hour (and a failure record, deleted once the hour loads).",
    (
        "LakeLoaderRoleDefaultPolicy",
        ("glue:CreateTable", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"),
    ): "The lake's tables (`table/switchyard_lake/*`), created by the loader as events arrive.",
    ("LakeRouterLagRead", ("cloudwatch:GetMetricStatistics",)): "CloudWatch metric reads support no resource "
    "types; alone in their managed policy (the router's iterator age).",
    ("AlertsVolumeCheckMetrics", ("cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData")): "The alerts' volume "
    "check: metric reads support no resource types; alone in their managed policy.",
    ("AlertsVolumeCheckMetrics", ("cloudwatch:PutMetricData",)): "Its own metric: PutMetricData supports no "
    "resource types; limited to the Switchyard namespace by condition.",
    ("AnalystsPolicy", ("s3:GetObject", "s3:PutObject")): "Athena query results under `_athena/`, the workgroup's "
    "enforced location, named by query ids made at run time.",
    (
        "AnalystsPolicy",
        (
            "glue:BatchGetPartition",
            "glue:GetDatabase",
            "glue:GetPartition",
            "glue:GetPartitions",
            "glue:GetTable",
            "glue:GetTables",
        ),
    ): "The lake's tables (`table/switchyard_lake/*`), created by the loader at run time: read only.",
}


def identity_statements(template_json: dict) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template_json["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [properties["PolicyDocument"]]
        elif resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        else:
            continue
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def all_templates(default_app: Synthesized, custom_app: Synthesized, lean_app: Synthesized | None = None) -> list[dict]:
    return [*default_app.json.values(), *custom_app.json.values(), *(lean_app.json.values() if lean_app else [])]


def test_no_wildcard_actions(default_app: Synthesized, custom_app: Synthesized, lean_app: Synthesized) -> None:
    for template_json in all_templates(default_app, custom_app, lean_app):
        for logical_id, statement in identity_statements(template_json):
            wildcards = [a for a in as_list(statement["Action"]) if "*" in a]
            assert not wildcards, f"{logical_id}: {wildcards}"


def test_no_wildcard_resources_outside_the_allowlist(
    default_app: Synthesized, custom_app: Synthesized, lean_app: Synthesized
) -> None:
    for template_json in all_templates(default_app, custom_app, lean_app):
        for logical_id, statement in identity_statements(template_json):
            literal = [r for r in as_list(statement["Resource"]) if isinstance(r, str) and "*" in r]
            joined = [r for r in as_list(statement["Resource"]) if not isinstance(r, str) and "*" in json.dumps(r)]
            if not literal and not joined:
                continue
            key = (base_id(logical_id), tuple(sorted(as_list(statement["Action"]))))
            assert key in WILDCARD_RESOURCE_ALLOWED, f"{logical_id}: {statement}"


def test_no_identity_policy_uses_not_action_or_not_resource(default_app: Synthesized) -> None:
    for template_json in default_app.json.values():
        for logical_id, statement in identity_statements(template_json):
            assert not {"NotAction", "NotResource"} & set(statement), logical_id


def test_no_resource_policy_allows_everyone(default_app: Synthesized, custom_app: Synthesized) -> None:
    for template_json in all_templates(default_app, custom_app):
        for logical_id, resource in template_json["Resources"].items():
            document = resource.get("Properties", {}).get("PolicyDocument") or resource.get("Properties", {}).get(
                "KeyPolicy"
            )
            if not document or resource["Type"].startswith("AWS::IAM::"):
                continue
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow":
                    assert statement["Principal"] not in ("*", {"AWS": "*"}), logical_id


def test_every_function_has_its_own_role(default_app: Synthesized) -> None:
    for template_json in default_app.json.values():
        roles = [
            r["Properties"]["Role"]["Fn::GetAtt"][0]
            for r in template_json["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
        ]
        assert len(roles) == len(set(roles))
