"""switchyard apply against moto: atomic config, secrets moved to SSM only when the apply succeeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from switchyard import constants
from switchyard.config.apply import apply_workspace
from switchyard.config.credentials import CachedCredentials, DestinationCredentialStore
from switchyard.config.store import ConcurrentApplyError, ConfigStore
from switchyard.config.workspace import ConfigError
from switchyard.functions.secrets import FunctionSecrets

WORKSPACE = """\
workspace: acme
sources: [{id: billing, name: Billing, write_key: wk_billing_123}]
functions:
  - {id: hook, kind: source, file: hook.py, source: billing, secrets: {api_key: SECRET}}
"""


class RacingStore(ConfigStore):
    """Another apply wins between our read and our write."""

    def save(self, workspace, expected_version):  # type: ignore[no-untyped-def]
        raise ConcurrentApplyError("another apply changed the workspace meanwhile")


def config_table() -> Any:
    """The config table, as the stack creates it (inside mock_aws)."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="config",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def write(folder: Path, secret: str, name: str = "Billing") -> Path:
    (folder / "hook.py").write_text("def on_request(request, settings):\n    pass\n")
    path = folder / "workspace.yaml"
    path.write_text(WORKSPACE.replace("SECRET", secret).replace("name: Billing", f"name: {name}"))
    return path


@mock_aws
def test_secrets_go_to_ssm_and_the_config_keeps_only_their_names(tmp_path: Path):
    dynamodb = config_table()
    ssm = boto3.client("ssm")
    secrets = FunctionSecrets(ssm, "us-west-2")
    apply_workspace(write(tmp_path, "first"), ConfigStore("config", dynamodb), secrets)
    parameter = constants.function_parameter("us-west-2", "hook", "secrets")
    assert json.loads(ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]) == {
        "api_key": "first"
    }
    stored = ConfigStore("config", dynamodb).current()
    assert stored.function("hook").secret_names == ("api_key",)
    assert "first" not in json.dumps(stored.to_document())

    with pytest.raises(ConcurrentApplyError):
        changed = write(tmp_path, "second", name="Billing (renamed)")
        apply_workspace(changed, RacingStore("config", dynamodb), secrets)
    value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    assert json.loads(value) == {"api_key": "first"}, "a refused apply changes no secret"

    apply_workspace(write(tmp_path, "second"), ConfigStore("config", dynamodb), secrets)
    value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    assert json.loads(value) == {"api_key": "second"}, "a changed secret applies even if the config is the same"


DESTINATIONS = """\
workspace: acme
sources: [{id: web, name: Web, write_key: wk_web_12345}]
destinations:
  - id: hook
    type: webhook
    sources: [web]
    settings:
      url: https://hooks.example.com/in
      secret: {env: HOOK_SIGNING_SECRET}
      headers: {Authorization: Bearer tok_literal_123}
  - id: plain
    type: webhook
    sources: [web]
    settings: {url: "https://plain.example.com/in"}
"""


@mock_aws
def test_destination_credentials_go_to_ssm_and_never_into_the_config_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HOOK_SIGNING_SECRET", "whsec_from_the_environment")
    dynamodb = config_table()
    ssm = boto3.client("ssm")
    path = tmp_path / "workspace.yaml"
    path.write_text(DESTINATIONS)
    credentials = DestinationCredentialStore(ssm, "us-west-2")
    apply_workspace(path, ConfigStore("config", dynamodb), None, credentials)

    parameter = ssm.get_parameter(Name=constants.destination_parameter("us-west-2", "hook"), WithDecryption=True)
    assert parameter["Parameter"]["Type"] == "SecureString"
    assert json.loads(parameter["Parameter"]["Value"]) == {
        "secret": "whsec_from_the_environment",
        "headers": {"Authorization": "Bearer tok_literal_123"},
    }
    item = dynamodb.scan(TableName="config")["Items"][0]
    raw = json.dumps(ConfigStore("config", dynamodb).current().to_document()) + str(item)
    assert "whsec_from_the_environment" not in raw and "tok_literal_123" not in raw
    assert ConfigStore("config", dynamodb).current().destination("hook").credentials == ("headers", "secret")
    assert CachedCredentials(ssm, "us-west-2").get("plain") == {}

    # A destination removed from the file takes its credentials with it.
    path.write_text(DESTINATIONS.split("  - id: hook")[0] + "  - id: plain" + DESTINATIONS.split("  - id: plain")[1])
    apply_workspace(path, ConfigStore("config", dynamodb), None, credentials)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=constants.destination_parameter("us-west-2", "hook"))


def test_a_workspace_with_destination_credentials_is_refused_without_ssm(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOOK_SIGNING_SECRET", "whsec_from_the_environment")
    path = tmp_path / "workspace.yaml"
    path.write_text(DESTINATIONS)
    with pytest.raises(ConfigError, match="needs access to SSM"):
        apply_workspace(path, ConfigStore("config", object()), None, None)
