"""The delivery role may put events on exactly the workspace's EventBridge buses and records on
exactly its Firehose streams, by exact ARN, with cdk-nag clean.

One small app, synthesized once for the module: a stack per region, each with a role granted from a
workspace with AWS-native destinations, one granted from a workspace without any, and one from no
workspace at all. Until the catalog lists the two types, the workspace is read with them registered
here (the same models `switchyard.config.workspace` builds from the catalog).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Union

import pytest
import yaml
from aws_cdk import Acknowledgment, App, Environment, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from pydantic import Field, ValidationError

import switchyard.config.workspace as workspace_module
from app import PLACEHOLDER_ACCOUNT, cdk_json_context
from infra.destination_grants import (
    PUT_EVENTS,
    PUT_RECORD_BATCH,
    DestinationTargets,
    destination_targets,
    grant_destination_access,
)
from infra.options import OptionError
from switchyard.destinations.catalog import TOOLS
from switchyard.destinations.eventbridge import EVENTBRIDGE
from switchyard.destinations.firehose import FIREHOSE

from .conftest import DUBLIN, OREGON, resources
from .test_iam import as_list

pytestmark = pytest.mark.infra

WORKSPACE = """\
workspace: acme
sources:
  - id: web
    name: Web
    write_key: web-write-key
destinations:
  - id: bus
    type: eventbridge
    sources: [web]
    settings: {event_bus_name: analytics}
  - id: bus-again
    type: eventbridge
    sources: [web]
    settings: {event_bus_name: analytics, detail_type: "{event}"}
  - id: default-bus
    type: eventbridge
    enabled: false
    settings: {event_bus_name: default, source: com.acme.web}
  - id: lake
    type: firehose
    sources: [web]
    settings: {delivery_stream_name: events-to-s3}
  - id: hook
    type: webhook
    sources: [web]
    settings: {url: "https://hooks.example.com/in"}
"""
NO_AWS_DESTINATIONS = """\
workspace: acme
destinations:
  - id: hook
    type: webhook
    settings: {url: "https://hooks.example.com/in"}
"""
BUSES = ("analytics", "default")  # sorted, each once; a disabled destination's too
STREAMS = ("events-to-s3",)
# cdk-nag reports nothing at all when it finds nothing: one acknowledged finding shows it ran.
CANARY_OBJECTS = "arn:aws:s3:::nag-canary/*"


def _with_aws_types() -> type[workspace_module.WorkspaceSpec]:
    kinds = {**TOOLS, EVENTBRIDGE.name: EVENTBRIDGE, FIREHOSE.name: FIREHOSE}
    specs = (workspace_module.FunctionDestinationSpec, *(workspace_module._tool_spec(kind) for kind in kinds.values()))

    class WorkspaceWithAwsTypes(workspace_module.WorkspaceSpec):
        destinations: list[Annotated[Union[specs], Field(discriminator="type")]] = Field(  # noqa: UP007
            default_factory=list
        )

    return WorkspaceWithAwsTypes


WORKSPACE_MODEL = _with_aws_types()


def load_with_aws_types(path: str | Path) -> workspace_module.WorkspaceSpec:
    try:
        return WORKSPACE_MODEL.model_validate(yaml.safe_load(Path(path).read_text()))
    except ValidationError as error:
        raise workspace_module.ConfigError(str(error)) from error


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("workspace")
    with_aws = write(directory, "workspace.yaml", WORKSPACE)
    without_aws = write(directory, "webhooks-only.yaml", NO_AWS_DESTINATIONS)
    app = App(context=cdk_json_context())
    stacks: dict[str, Stack] = {}
    targets: dict[str, DestinationTargets] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(workspace_module, "load_workspace", load_with_aws_types)
        for region in (OREGON, DUBLIN):
            stack = Stack(app, f"Grants-{region}", env=Environment(account=PLACEHOLDER_ACCOUNT, region=region))
            for role_id, workspace in (("Delivery", with_aws), ("WebhooksOnly", without_aws), ("NoWorkspace", None)):
                role = iam.Role(stack, role_id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
                targets[f"{region}/{role_id}"] = grant_destination_access(role, workspace)
            add_nag_canary(stack)
            stacks[region] = stack
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()  # cdk-nag raises here on any unacknowledged finding
    return {
        "templates": {
            region: assembly.get_stack_by_name(stack.stack_name).template for region, stack in stacks.items()
        },
        "targets": targets,
        "report": json.loads((Path(assembly.directory) / "validation-report.json").read_text()),
    }


def add_nag_canary(stack: Stack) -> None:
    canary = iam.Role(stack, "NagCanary", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    canary.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[CANARY_OBJECTS]))
    Validations.of(canary.node.find_child("DefaultPolicy")).acknowledge(
        Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{CANARY_OBJECTS}]", reason="The test's canary.")
    )


def role_statements(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    roles = [key for key in resources(template, "AWS::IAM::Role") if key.startswith(role_prefix)]
    assert len(roles) == 1, roles
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": roles[0]} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize("region", [OREGON, DUBLIN])
def test_put_on_exactly_the_workspaces_buses_and_streams(synthesized: dict[str, Any], region: str):
    statements = role_statements(synthesized["templates"][region], "Delivery")
    granted = {statement["Action"]: sorted(as_list(statement["Resource"])) for statement in statements}
    account = PLACEHOLDER_ACCOUNT
    assert granted == {
        PUT_EVENTS: [f"arn:aws:events:{region}:{account}:event-bus/{bus}" for bus in BUSES],
        PUT_RECORD_BATCH: [f"arn:aws:firehose:{region}:{account}:deliverystream/{stream}" for stream in STREAMS],
    }
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "Condition"} & set(statement)
        assert "*" not in json.dumps(statement)


@pytest.mark.parametrize("region", [OREGON, DUBLIN])
def test_nothing_without_aws_native_destinations(synthesized: dict[str, Any], region: str):
    template = synthesized["templates"][region]
    assert role_statements(template, "WebhooksOnly") == []
    assert role_statements(template, "NoWorkspace") == []
    assert synthesized["targets"][f"{region}/WebhooksOnly"] == DestinationTargets()
    assert synthesized["targets"][f"{region}/NoWorkspace"] == DestinationTargets()


def test_nag_finds_nothing_and_nothing_is_acknowledged(synthesized: dict[str, Any]):
    (plugin,) = synthesized["report"]["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    acknowledged = {violation["acknowledgedAt"] for violation in plugin["suppressedViolations"]}
    assert acknowledged == {f"Grants-{region}/NagCanary/DefaultPolicy" for region in (OREGON, DUBLIN)}


def test_targets_are_named_once_and_sorted(synthesized: dict[str, Any]):
    assert synthesized["targets"][f"{OREGON}/Delivery"] == DestinationTargets(
        event_buses=BUSES, delivery_streams=STREAMS
    )


def test_a_workspace_the_types_refuse_is_an_option_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(workspace_module, "load_workspace", load_with_aws_types)
    arn = f"arn:aws:events:{OREGON}:{PLACEHOLDER_ACCOUNT}:event-bus/analytics"
    path = write(
        tmp_path, "workspace.yaml", WORKSPACE.replace("{event_bus_name: analytics}", f"{{event_bus_name: '{arn}'}}")
    )
    with pytest.raises(OptionError, match="event_bus_name"):
        destination_targets(path)


def test_a_role_is_required():
    with pytest.raises(ValueError, match="no role"):
        grant_destination_access(None, None)
