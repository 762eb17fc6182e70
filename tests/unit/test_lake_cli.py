"""`switchyard lake`: the hours a load asks for, and how query results are printed."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from switchyard import constants
from switchyard.cli.lake import render, requested_hours
from switchyard.cli.targets import Target
from switchyard.config.store import ConfigStore
from switchyard.config.workspace import compile_workspace, parse_workspace

REGION = "us-west-2"
NOW = datetime(2026, 11, 30, 12, 20, tzinfo=UTC)
WORKSPACE = """\
workspace: acme
sources:
  - {id: web, name: Web, write_key: wk_web_12345}
  - {id: app, name: App, write_key: wk_app_12345}
  - {id: quiet, name: Quiet, write_key: wk_quiet_123, lake: {enabled: false}}
"""


@pytest.fixture
def target() -> Iterator[Target]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="config",
            KeySchema=[{"AttributeName": constants.CONFIG_PK, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": constants.CONFIG_PK, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ConfigStore("config", dynamodb).save(compile_workspace(parse_workspace(WORKSPACE)), None)
        yield Target(REGION, None, {constants.OUTPUT_CONFIG_TABLE: "config"}, boto3.session.Session(region_name=REGION))


def args(**given: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"source": None, "start": None, "end": None, **given})


def test_by_default_the_last_hour_and_this_one_of_every_source_the_lake_holds(target: Target):
    hours = requested_hours(target, args(), NOW)
    assert [hour.label for hour in hours] == [
        "web 2026-11-30T11",
        "web 2026-11-30T12",
        "app 2026-11-30T11",
        "app 2026-11-30T12",
    ]


def test_a_range_of_one_source_stops_at_now(target: Target):
    hours = requested_hours(target, args(source="app", start="2026-11-30T10:30:00Z", end="2026-12-31T00:00:00Z"), NOW)
    assert [hour.label for hour in hours] == ["app 2026-11-30T10", "app 2026-11-30T11", "app 2026-11-30T12"]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"start": "yesterday"}, "--from and --to are ISO-8601 times"),
        ({"start": "2026-11-30T12:00:00Z", "end": "2026-11-30T10:00:00Z"}, "is after --to"),
        ({"source": "nope"}, "no source 'nope' in the workspace (web, app)"),
    ],
)
def test_what_cannot_be_loaded_is_said(target: Target, given: dict[str, str], problem: str):
    answer = requested_hours(target, args(**given), NOW)
    assert isinstance(answer, str) and problem in answer


def test_results_print_as_a_table_with_nulls_and_times():
    text = render(["event", "n", "at"], [("signed_up", 3, datetime(2026, 11, 30, tzinfo=UTC)), ("x", None, None)])
    lines = text.splitlines()
    assert lines[0].split() == ["event", "n", "at"]
    assert lines[2].split() == ["signed_up", "3", "2026-11-30T00:00:00+00:00"]
    assert lines[3].split() == ["x", "NULL", "NULL"]
    assert lines[-1] == "(2 rows)"
