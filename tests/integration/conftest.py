"""Handlers in-process against moto (no server): the same AWS calls, no network."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from switchyard import constants
from switchyard.config.store import ConfigStore
from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.devstack.http_api import to_http_api_event
from switchyard.devstack.lambda_runtime import LocalLambdaContext, load_handler_module
from switchyard.devstack.resources import LocalResources, create_resources
from tests.support.streams import StreamReader

REGION = "us-west-2"
WORKSPACE = """\
workspace: integration
sources:
  - {id: web, name: Website, write_key: wk_int_web_123}
  - {id: dormant, name: Disabled, write_key: wk_int_off_456, enabled: false}
"""


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalResources]:
    resources = LocalResources(REGION, "000000000000", "https://api.example")
    with mock_aws():
        create_resources(resources, shard_count=2)
        ConfigStore(resources.config_table).save(compile_workspace(parse_workspace(WORKSPACE)), None)
        monkeypatch.setenv(constants.ENV_EVENTS_STREAM, resources.events_stream)
        monkeypatch.setenv(constants.ENV_CONFIG_TABLE, resources.config_table)
        monkeypatch.setenv(constants.ENV_DELIVERY_TABLE, resources.delivery_table)
        monkeypatch.setenv(constants.ENV_REGION, REGION)
        yield resources


@pytest.fixture
def ingest(aws: LocalResources) -> ModuleType:
    return load_handler_module("ingest")


@pytest.fixture
def stream(aws: LocalResources) -> StreamReader:
    return StreamReader(boto3.client("kinesis"), aws.events_stream)


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = "wk_int_web_123",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event, built from a real HTTP request by the local adapter."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key:
        all_headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    builder = EnvironBuilder(
        path=path,
        method=method,
        data=data,
        headers=all_headers,
        query_string=query,
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    return to_http_api_event(Request(builder.get_environ()), data)


def invoke(target: ModuleType | Callable[..., Any], event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """Call the ingest handler of a module, or a handler built with `lambda_handler_for`."""
    handler = getattr(target, "lambda_handler", target)
    result = handler(event, LocalLambdaContext("ingest"))
    body = result["body"]
    if result.get("isBase64Encoded"):
        return result["statusCode"], base64.b64decode(body), result["headers"]
    return result["statusCode"], json.loads(body) if body else None, result["headers"]
