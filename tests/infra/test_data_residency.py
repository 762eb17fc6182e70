"""Data residency: a regional template names no other region, and nothing replicates elsewhere."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Synthesized

pytestmark = pytest.mark.infra

REGION = re.compile(
    r"\b(?:us-gov|us|eu|ap|sa|ca|me|af|il|mx|cn)-"
    r"(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}\b"
)
ARN = re.compile(r"arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):")
ENDPOINT = re.compile(r"[a-z0-9.-]+\.amazonaws\.com(?:\.cn)?")
CROSS_REGION_TYPES = (
    "AWS::DynamoDB::GlobalTable",
    "AWS::CloudFormation::StackSet",
    "Custom::CrossRegionExportReader",
    "Custom::CrossRegionExportWriter",
    "AWS::S3::MultiRegionAccessPoint",
    "AWS::Route53RecoveryReadiness::Cell",
)


def strings(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, (*path, key))
    elif isinstance(node, list):
        for value in node:
            yield from strings(value, path)


@pytest.fixture(scope="module")
def every_app(
    default_app: Synthesized, custom_app: Synthesized, http_api_app: Synthesized, lean_app: Synthesized
) -> list[Synthesized]:
    """Both API kinds: a REST API behind AWS WAF (default, custom) and the HTTP API (`waf=false`), and
    the cost levers (lean: auto-scaled dedupe writes, sampled tracing)."""
    return [default_app, custom_app, http_api_app, lean_app]


def templates(apps: list[Synthesized]) -> Iterator[tuple[str, dict]]:
    for synthesized in apps:
        yield from synthesized.json.items()


def test_no_other_region_is_named(every_app: list[Synthesized]) -> None:
    for region, template_json in templates(every_app):
        named = {match for _, text in strings(template_json) for match in REGION.findall(text)}
        assert named == {region}


def test_every_arn_is_global_or_in_the_region(every_app: list[Synthesized]) -> None:
    for region, template_json in templates(every_app):
        for path, text in strings(template_json):
            for match in ARN.finditer(text):
                assert match["region"] in ("", region), (path, text)


def test_every_endpoint_is_in_the_region(every_app: list[Synthesized]) -> None:
    for region, template_json in templates(every_app):
        for path, text in strings(template_json):
            if path[-2:] == ("Principal", "Service") or path[-1] == "Principal":
                continue  # a service principal names who, not where
            if ":role/aws-service-role/" in text:
                continue  # a service-linked role's path names its service (auto-scaling of the dedupe table)
            for endpoint in ENDPOINT.findall(text):
                assert region in endpoint, (path, text)


def test_every_bucket_named_is_in_the_region(every_app: list[Synthesized]) -> None:
    for region, template_json in templates(every_app):
        for path, text in strings(template_json):
            if path and path[-1] in ("S3Bucket", "BucketName", "DestinationBucketName"):
                assert text.endswith(region) or region in text, (path, text)


def test_nothing_replicates_or_exports_across_regions(every_app: list[Synthesized]) -> None:
    for _, template_json in templates(every_app):
        text = json.dumps(template_json)
        for marker in (
            "ReplicationConfiguration",
            "Replicas",
            "Fn::ImportValue",
            "CrossRegion",
            "ReplicaRegion",
            "DestinationRegion",
        ):
            assert marker not in text, marker
        assert not [r for r in template_json["Resources"].values() if r["Type"] in CROSS_REGION_TYPES]
        assert not [o for o in template_json.get("Outputs", {}).values() if "Export" in o]


def test_assets_are_published_to_the_region_only(default_app: Synthesized) -> None:
    for region, stack in default_app.stacks.items():
        manifest = json.loads((Path(default_app.report_dir) / f"{stack.stack_name}.assets.json").read_text())
        destinations = [
            d
            for kind in ("files", "dockerImages")
            for asset in manifest.get(kind, {}).values()
            for d in asset["destinations"].values()
        ]
        assert destinations
        assert {d["region"] for d in destinations} == {region}
