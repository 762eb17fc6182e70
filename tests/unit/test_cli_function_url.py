"""`switchyard functions url`: the webhook URL of either kind of tracking API."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from switchyard import constants
from switchyard.cli import functions
from switchyard.cli.targets import Target

HOST = "https://abc123.execute-api.eu-west-1.amazonaws.com"


class Ssm:
    class exceptions:  # noqa: N801 - boto3's shape
        ParameterNotFound = KeyError

    def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, Any]:  # noqa: N803
        assert WithDecryption and Name == constants.function_parameter("eu-west-1", "stripe", "token")
        return {"Parameter": {"Value": "tok_123"}}


def url_for(outputs: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    target = Target("eu-west-1", None, outputs)
    monkeypatch.setattr(functions, "resolve_target", lambda region, endpoint_url: target)
    monkeypatch.setattr(Target, "client", lambda self, name: Ssm())
    args = argparse.Namespace(functions_command="url", region="eu-west-1", endpoint_url=None, function_id="stripe")
    assert functions.functions_command(args, fail=lambda message: pytest.fail(message)) == 0
    return capsys.readouterr().out.strip()


def test_behind_the_rest_api_webhooks_are_below_v1(monkeypatch: pytest.MonkeyPatch, capsys):
    outputs = {constants.OUTPUT_API_ENDPOINT: HOST, constants.OUTPUT_FUNCTION_WEBHOOKS: f"{HOST}/v1/functions"}
    assert url_for(outputs, monkeypatch, capsys) == f"{HOST}/v1/functions/stripe?token=tok_123"


def test_on_the_http_api_webhooks_are_at_the_root(monkeypatch: pytest.MonkeyPatch, capsys):
    outputs = {constants.OUTPUT_API_ENDPOINT: HOST, constants.OUTPUT_FUNCTION_WEBHOOKS: f"{HOST}/functions"}
    assert url_for(outputs, monkeypatch, capsys) == f"{HOST}/functions/stripe?token=tok_123"


def test_without_the_output_the_api_endpoints_root(monkeypatch: pytest.MonkeyPatch, capsys):
    """The local stack and stacks deployed before the output was added: the HTTP API's layout."""
    outputs = {constants.OUTPUT_API_ENDPOINT: "http://127.0.0.1:8080/"}
    assert url_for(outputs, monkeypatch, capsys) == "http://127.0.0.1:8080/functions/stripe?token=tok_123"
