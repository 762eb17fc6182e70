"""Workspace functions: one isolated Lambda each, whose role reaches nothing of the pipeline, invoked
by exactly the pipeline functions that run them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_lambda as lambda_

from app import PLACEHOLDER_ACCOUNT, build_app
from infra import bundling
from infra.lambda_defaults import XRAY_WRITE_ACTIONS
from infra.options import OptionError, StackOptions
from infra.paths import ROOT
from infra.user_functions import (
    ENV_FUNCTION_ID,
    ENV_FUNCTION_KIND,
    HANDLER_DIR,
    USER_FUNCTION_MEMORY_MB,
    user_function_code,
)
from switchyard import constants

from .conftest import DUBLIN, OREGON, SKIP_BUNDLING, Synthesized, base_id, resources, synthesize
from .test_iam import WILDCARD_RESOURCE_ALLOWED, as_list, identity_statements
from .test_nag import report

pytestmark = pytest.mark.infra

WORKSPACE = """\
workspace: acme
sources:
  - id: billing
    name: Billing
    write_key: billing-write-key
destinations:
  - id: warehouse
    type: function
    function: to-warehouse
    insert_function: enrich
    sources: [billing]
functions:
  - id: stripe-events
    kind: source
    file: functions/stripe_events.py
    source: billing
    timeout_seconds: 7
  - id: enrich
    kind: insert
    file: functions/enrich.py
  - id: to-warehouse
    kind: destination
    file: functions/to_warehouse.py
    timeout_seconds: 20
    secrets: {api_key: not-in-any-template}
"""
FILES = {
    "stripe_events.py": "from switchyard.functions import track\n\n\ndef on_request(request, settings):\n"
    "    track(user_id='u1', event='Invoice Paid')\n",
    "enrich.py": "def on_track(event, settings):\n    event['properties']['plan'] = 'pro'\n    return event\n",
    "to_warehouse.py": "def on_track(event, settings):\n    pass\n",
}
# id -> (kind, file, timeout_seconds)
FUNCTIONS = {
    "stripe-events": ("source", "stripe_events.py", 7),
    "enrich": ("insert", "enrich.py", 5),  # the default
    "to-warehouse": ("destination", "to_warehouse.py", 20),
}
INGEST_INVOKES = {"stripe-events"}
DELIVERY_INVOKES = {"enrich", "to-warehouse"}
DELETION_INVOKES = {"to-warehouse"}  # destination functions' on_delete

# What a user function's role may do, and nothing else.
ALLOWED_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents", "ssm:GetParameter", *XRAY_WRITE_ACTIONS}
# Resource types of the pipeline a user function must not reach.
PIPELINE_TYPES = (
    "AWS::Kinesis::Stream",
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::Lambda::Function",
    "AWS::Lambda::LayerVersion",
    "AWS::KMS::Key",
    "AWS::SNS::Topic",
    "AWS::StepFunctions::StateMachine",
    "AWS::Logs::LogGroup",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::Athena::WorkGroup",
)


def write_workspace(directory: Path, text: str = WORKSPACE, files: dict[str, str] = FILES) -> Path:
    (directory / "functions").mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / "functions" / name).write_text(content)
    path = directory / "workspace.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def workspace_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("workspace"))


@pytest.fixture(scope="module")
def workspace_app(workspace_path: Path) -> Synthesized:
    """Both regions with the workspace's functions; cdk-nag runs in the synth and raises on a finding."""
    # Oregon traces every function; Dublin samples the tracking API only, which leaves user functions out.
    return synthesize(
        {
            **SKIP_BUNDLING,
            "workspace": str(workspace_path),
            f"tracing:{OREGON}": "active",
            f"tracing:{DUBLIN}": "sampled",
        }
    )


@pytest.fixture(scope="module", params=[OREGON, DUBLIN])
def with_functions(workspace_app: Synthesized, request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, workspace_app.json[request.param]


def user_functions(template_json: dict) -> dict[str, tuple[str, dict]]:
    """Function id -> (logical id, resource) of each user function's Lambda."""
    found = {}
    for logical_id, resource in resources(template_json, "AWS::Lambda::Function").items():
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if ENV_FUNCTION_ID in variables:
            found[variables[ENV_FUNCTION_ID]] = (logical_id, resource)
    return found


def pipeline_function(template_json: dict, prefix: str) -> str:
    (logical_id,) = [k for k in resources(template_json, "AWS::Lambda::Function") if k.startswith(prefix)]
    return logical_id


def role_of(template_json: dict, function_logical_id: str) -> str:
    return template_json["Resources"][function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]


def role_statements(template_json: dict, role: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(policy logical id, statement) of every identity policy a role has: inline, attached, managed."""
    role_resource = template_json["Resources"][role]
    for policy in role_resource["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            yield role, statement
    managed = {arn["Ref"] for arn in role_resource["Properties"].get("ManagedPolicyArns", [])}
    for logical_id, resource in template_json["Resources"].items():
        properties = resource.get("Properties", {})
        attached = resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in properties.get("Roles", [])
        if attached or logical_id in managed:
            for statement in properties["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def references(value: Any) -> set[str]:
    """Logical ids a CloudFormation value refers to (Ref, Fn::GetAtt, anywhere inside)."""
    if isinstance(value, dict):
        found = set()
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for inner in value.values():
            found |= references(inner)
        return found
    if isinstance(value, list):
        return set().union(*(references(item) for item in value)) if value else set()
    return set()


def secrets_arn(region: str, function_id: str) -> str:
    name = constants.function_parameter(region, function_id, "secrets")
    return f"arn:aws:ssm:{region}:{PLACEHOLDER_ACCOUNT}:parameter{name}"


# One Lambda per function, as the handler and the pipeline expect it.


def test_one_lambda_per_function_named_for_its_region(with_functions: tuple[str, dict]) -> None:
    region, template_json = with_functions
    found = user_functions(template_json)
    assert set(found) == set(FUNCTIONS)
    # The shared layers (not the lake's pyarrow layer, which only the lake loader gets).
    layers = sorted(k for k in resources(template_json, "AWS::Lambda::LayerVersion") if k.startswith("LambdaDefaults"))
    for function_id, (_, resource) in found.items():
        kind, _, timeout_seconds = FUNCTIONS[function_id]
        properties = resource["Properties"]
        assert properties["FunctionName"] == constants.user_function_name(function_id, region)
        assert properties["Environment"]["Variables"][ENV_FUNCTION_KIND] == kind
        assert properties["Timeout"] == timeout_seconds + constants.USER_FUNCTION_LAMBDA_MARGIN_SECONDS
        assert properties["MemorySize"] == USER_FUNCTION_MEMORY_MB == 256
        assert properties["Runtime"] == "python3.12"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Handler"] == "handler.lambda_handler"
        assert properties["TracingConfig"] == {"Mode": "Active" if region == OREGON else "PassThrough"}
        role = template_json["Resources"][properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        managed = [base_id(arn["Ref"]) for arn in role.get("ManagedPolicyArns", [])]
        assert managed == (["LambdaDefaultsXRayWrite"] if region == OREGON else [])
        # The shared layers are code (the runtime and orjson), not permissions.
        assert sorted(layer["Ref"] for layer in properties["Layers"]) == layers


def test_environment_names_no_pipeline_resource(with_functions: tuple[str, dict]) -> None:
    region, template_json = with_functions
    for function_id, (_, resource) in user_functions(template_json).items():
        variables = resource["Properties"]["Environment"]["Variables"]
        assert variables[ENV_FUNCTION_ID] == function_id
        assert variables[constants.ENV_REGION] == region
        assert all(isinstance(value, str) for value in variables.values()), "no resource reference"
        pipeline_names = {
            constants.ENV_EVENTS_STREAM,
            constants.ENV_CONFIG_TABLE,
            constants.ENV_DEDUPE_TABLE,
            constants.ENV_ARCHIVE_BUCKET,
            constants.ENV_DELIVERY_QUEUE_URL,
            constants.ENV_DELIVERY_TABLE,
            constants.ENV_REPLAY_QUEUE_URL,
        }
        assert not pipeline_names & set(variables)


def test_secrets_never_reach_the_template(workspace_app: Synthesized) -> None:
    for template_json in workspace_app.json.values():
        assert "not-in-any-template" not in json.dumps(template_json)


# Isolation: the infra test.


def test_each_function_role_has_no_permission_on_pipeline_resources(with_functions: tuple[str, dict]) -> None:
    region, template_json = with_functions
    all_resources = template_json["Resources"]
    pipeline = {k for k, r in all_resources.items() if r["Type"] in PIPELINE_TYPES}
    found = user_functions(template_json)
    roles = {role_of(template_json, logical_id) for logical_id, _ in found.values()}
    assert len(roles) == len(found), "each function has its own role"
    for function_id, (logical_id, resource) in found.items():
        role = role_of(template_json, logical_id)
        own_log_group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        trust = all_resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]
        statements = list(role_statements(template_json, role))
        assert statements, function_id
        granted_secrets = False
        for policy, statement in statements:
            assert statement["Effect"] == "Allow"
            assert not {"NotAction", "NotResource", "Condition"} & set(statement)
            actions = set(as_list(statement["Action"]))
            assert actions <= ALLOWED_ACTIONS, f"{function_id}: {actions - ALLOWED_ACTIONS}"
            referenced = references(statement["Resource"])
            assert not referenced & (pipeline - {own_log_group}), f"{function_id} reaches {referenced}"
            assert referenced <= {own_log_group}, f"{function_id}: {referenced}"
            literal = {r for r in as_list(statement["Resource"]) if isinstance(r, str)}
            if literal == {"*"}:  # X-Ray only, from the one shared, acknowledged managed policy
                assert policy.startswith("LambdaDefaultsXRayWrite")
                assert actions == set(XRAY_WRITE_ACTIONS)
            elif literal:
                assert literal == {secrets_arn(region, function_id)}
                assert actions == {"ssm:GetParameter"}
                granted_secrets = True
            else:
                assert referenced == {own_log_group}
                assert actions == {"logs:CreateLogStream", "logs:PutLogEvents"}
        assert granted_secrets, f"{function_id} can read its own secrets parameter"


def test_no_resource_policy_names_a_function_role(with_functions: tuple[str, dict]) -> None:
    """Bucket, queue, key or topic policies could grant what the role's own policies do not."""
    _, template_json = with_functions
    roles = {role_of(template_json, logical_id) for logical_id, _ in user_functions(template_json).values()}
    for logical_id, resource in template_json["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function" or logical_id in roles:
            continue
        if resource["Type"] == "AWS::IAM::Policy" and references(resource["Properties"].get("Roles", [])) <= roles:
            continue  # the roles' own policies, checked above
        assert not references(resource.get("Properties", {})) & roles, logical_id


def test_pipeline_invokes_exactly_the_right_functions(with_functions: tuple[str, dict]) -> None:
    _, template_json = with_functions
    found = user_functions(template_json)
    ids_by_logical = {logical_id: function_id for function_id, (logical_id, _) in found.items()}
    invokers: dict[str, set[str]] = {}
    for policy, statement in identity_statements(template_json):
        actions = as_list(statement["Action"])
        if not any(action.startswith("lambda:Invoke") for action in actions):
            continue
        for target in as_list(statement["Resource"]):
            if not references(target) & set(ids_by_logical):
                continue  # the workflows invoking their own steps
            assert actions == ["lambda:InvokeFunction"]
            assert target.keys() == {"Fn::GetAtt"} and target["Fn::GetAtt"][1] == "Arn", "the exact ARN, no `:*`"
            invokers.setdefault(policy, set()).add(ids_by_logical[target["Fn::GetAtt"][0]])
    ingest_policy = next(p for p in invokers if p.startswith("IngestFunctionRoleDefaultPolicy"))
    delivery_policy = next(p for p in invokers if p.startswith("DeliveryFunctionRoleDefaultPolicy"))
    deletion_policy = next(p for p in invokers if p.startswith("DeletionFinishRoleDefaultPolicy"))
    assert invokers == {
        ingest_policy: INGEST_INVOKES,
        delivery_policy: DELIVERY_INVOKES,
        deletion_policy: DELETION_INVOKES,
    }
    for policy, role in (
        (ingest_policy, role_of(template_json, pipeline_function(template_json, "IngestFunction"))),
        (delivery_policy, role_of(template_json, pipeline_function(template_json, "DeliveryFunction"))),
        (deletion_policy, role_of(template_json, pipeline_function(template_json, "DeletionFinish"))),
    ):
        assert template_json["Resources"][policy]["Properties"]["Roles"] == [{"Ref": role}]
    # No resource-based permission lets anything else (API Gateway, another account) invoke them.
    for permission in resources(template_json, "AWS::Lambda::Permission").values():
        assert not references(permission["Properties"]["FunctionName"]) & set(ids_by_logical)


def test_no_wildcards_beyond_the_allowlist(workspace_app: Synthesized) -> None:
    for template_json in workspace_app.json.values():
        for logical_id, statement in identity_statements(template_json):
            assert not [a for a in as_list(statement["Action"]) if "*" in a], logical_id
            if "*" in json.dumps(statement["Resource"]):
                key = (base_id(logical_id), tuple(sorted(as_list(statement["Action"]))))
                assert key in WILDCARD_RESOURCE_ALLOWED, f"{logical_id}: {statement}"


def test_nag_stays_clean_and_acknowledges_only_the_pinned_runtime(workspace_app: Synthesized) -> None:
    plugin = report(workspace_app)
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    on_user_functions = {
        (violation["ruleName"], violation["acknowledgedAt"].partition("/")[2])
        for violation in plugin["suppressedViolations"]
        if violation["acknowledgedAt"].partition("/")[2].startswith("UserFunctions/")
    }
    assert on_user_functions == {
        ("AwsSolutions-L1", f"UserFunctions/{function_id}/Function") for function_id in FUNCTIONS
    }


def test_each_function_has_an_errors_alarm(with_functions: tuple[str, dict]) -> None:
    _, template_json = with_functions
    watched: set[str] = set()
    for alarm in resources(template_json, "AWS::CloudWatch::Alarm").values():
        for query in alarm["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if (metric.get("Namespace"), metric.get("MetricName")) == ("AWS/Lambda", "Errors"):
                watched |= references(metric["Dimensions"])
    assert {logical_id for logical_id, _ in user_functions(template_json).values()} <= watched


# The code asset: the generic handler plus the workspace's module.


def test_bundle_is_the_handler_plus_the_user_module(tmp_path: Path, workspace_path: Path) -> None:
    code = workspace_path.parent / "functions" / "enrich.py"
    out = bundling.bundle_user_function(HANDLER_DIR, code, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["handler.py", bundling.USER_FUNCTION_MODULE]
    assert (out / bundling.USER_FUNCTION_MODULE).read_text() == FILES["enrich.py"]
    assert (out / "handler.py").read_bytes() == (HANDLER_DIR / "handler.py").read_bytes()


def test_an_edited_function_file_is_a_new_asset(tmp_path: Path) -> None:
    code = tmp_path / "f.py"
    code.write_text(FILES["enrich.py"])
    before = bundling.user_function_hash(HANDLER_DIR, code)
    assert bundling.user_function_hash(HANDLER_DIR, code) == before
    code.write_text(FILES["enrich.py"] + "# edited\n")
    assert bundling.user_function_hash(HANDLER_DIR, code) != before


def test_the_stack_ships_the_locally_bundled_asset(workspace_app: Synthesized, workspace_path: Path) -> None:
    """One small synth with bundling on: the asset the stack names holds the handler and the module."""
    code = workspace_path.parent / "functions" / "to_warehouse.py"
    app = App()
    stack = Stack(app, "Bundled", env=Environment(account=PLACEHOLDER_ACCOUNT, region=OREGON))
    lambda_.Function(
        stack, "F", runtime=lambda_.Runtime.PYTHON_3_12, handler="handler.lambda_handler", code=user_function_code(code)
    )
    assembly = app.synth()
    (function,) = resources(assembly.get_stack_by_name("Bundled").template, "AWS::Lambda::Function").values()
    key = function["Properties"]["Code"]["S3Key"]
    asset = Path(assembly.directory) / f"asset.{key.removesuffix('.zip')}"
    assert (asset / bundling.USER_FUNCTION_MODULE).read_text() == FILES["to_warehouse.py"]
    assert (asset / "handler.py").is_file()
    # The same asset as the regional stack's function (bundling skipped there, same hash).
    (logical_id, resource) = user_functions(workspace_app.json[OREGON])["to-warehouse"]
    assert resource["Properties"]["Code"]["S3Key"] == key


# The option.


def test_without_the_option_there_are_no_user_functions(default_app: Synthesized) -> None:
    for template_json in default_app.json.values():
        assert not user_functions(template_json)
        assert not [k for k in template_json["Resources"] if k.startswith("UserFunctions")]
        for policy, statement in identity_statements(template_json):
            if policy.startswith(("IngestFunctionRole", "DeliveryFunctionRole")):
                assert "lambda:InvokeFunction" not in as_list(statement["Action"]), policy


def test_a_relative_workspace_path_is_from_the_project_root(workspace_path: Path) -> None:
    relative = Path(*[".."] * len(ROOT.parts)) / workspace_path.relative_to(workspace_path.anchor)
    options = StackOptions.parse(OREGON, {"workspace": str(relative)})
    assert options.workspace_path is not None and options.workspace_path.resolve() == workspace_path.resolve()
    assert StackOptions(region=OREGON).workspace_path is None


def test_a_missing_workspace_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="no workspace file"):
        StackOptions.parse(OREGON, {"workspace": str(tmp_path / "nowhere.yaml")})


LONG_ID = "a-function-id-longer-than-a-lambda-name-allows"  # Lambda names: 64 characters
ONE_FUNCTION = f"""\
workspace: acme
functions:
  - id: {LONG_ID}
    kind: insert
    file: functions/enrich.py
"""


@pytest.mark.parametrize(
    ("text", "files", "match"),
    [
        (WORKSPACE, {k: v for k, v in FILES.items() if k != "enrich.py"}, "enrich"),
        (ONE_FUNCTION, FILES, "should match pattern"),
    ],
    ids=["missing-function-file", "id-too-long-for-a-lambda-name"],
)
def test_a_workspace_the_stack_cannot_deploy_is_refused(tmp_path: Path, text: str, files: dict, match: str) -> None:
    path = write_workspace(tmp_path, text, files)
    with pytest.raises(OptionError, match=match):
        build_app({**SKIP_BUNDLING, "workspace": str(path)})
