"""cdk-nag AwsSolutions: zero unacknowledged findings, and each acknowledgement narrow and reasoned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import aws_s3 as s3

from app import build_app
from infra import nag
from infra.tracking_api import BROWSER_LIBRARY_RESOURCES
from switchyard import constants

from .conftest import ACCOUNT, DUBLIN, OREGON, SKIP_BUNDLING, Synthesized

pytestmark = pytest.mark.infra

REST_METHODS = {
    (path, method)
    for path, methods in (*constants.REST_API_RESOURCES, *BROWSER_LIBRARY_RESOURCES)
    for method in methods
}

# Rule -> the constructs (path below the stack) it may be acknowledged on.
# The defaults: `tracing=off` (no X-Ray policy, untraced workflows), the dedupe table without
# point-in-time recovery.
EXPECTED_ACKNOWLEDGEMENTS = {
    # The workflows' log delivery (with `tracing=active`, X-Ray too; see below for the functions').
    "AwsSolutions-IAM5[Resource::*]": {
        "Replay/StateMachineLogsAndTracing",
        "Deletion/StateMachineLogsAndTracing",
        "Lake/RouterLagRead",  # the lake loader's read of the router's iterator age
        "Alerts/VolumeCheckMetrics",  # the alerts' volume check: alarms and metrics read, its metric written
    },
    "AwsSolutions-SF2": {"Replay/StateMachine/Resource", "Deletion/StateMachine/Resource"},
    "AwsSolutions-DDB3": {"Dedupe/Table/Resource"},
    "AwsSolutions-L1": {
        "Ingest/Function",
        "Router/Function",
        "Delivery/Function",
        "Replay/Plan",
        "Replay/Worker",
        "Replay/Report",
        "Deletion/Plan",
        "Deletion/Worker",
        "Deletion/Finish",
        "Lake/Loader",
        "Alerts/Forwarder",
        "Alerts/VolumeCheck",
    },
    # The router writes archive objects under data-derived keys (the logical id is the archive bucket's).
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/*]": {"Router/FunctionRole/DefaultPolicy"},
    # Replay workers read event objects, deletion workers rewrite them, analysts read them through
    # Athena, the lake loader reads and compacts them; the plans write manifests, the workflows read them.
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/source_id=*]": {
        "Replay/WorkerRole/DefaultPolicy",
        "Deletion/WorkerRole/DefaultPolicy",
        "Analysts/Policy",
        "Lake/LoaderRole/DefaultPolicy",
    },
    # The lake: the loader's compacted objects, Parquet files and load records; the analysts read the
    # files and keep their query results under _athena/ (the workgroup's location).
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/source_id=*/compacted-*]": {
        "Lake/LoaderRole/DefaultPolicy"
    },
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/lake/*]": {
        "Lake/LoaderRole/DefaultPolicy",
        "Analysts/Policy",
    },
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/_lake_loads/*]": {"Lake/LoaderRole/DefaultPolicy"},
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/_athena/*]": {"Analysts/Policy"},
    # The lake's tables, created by the loader at run time (one id per region).
    **{
        f"AwsSolutions-IAM5[Resource::arn:aws:glue:{region}:000000000000:table/switchyard_lake/*]": {
            "Lake/LoaderRole/DefaultPolicy",
            "Analysts/Policy",
        }
        for region in (OREGON, DUBLIN)
    },
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/_replays/*]": {
        "Replay/PlanRole/DefaultPolicy",
        "Replay/StateMachineRole/DefaultPolicy",
    },
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/_deletions/*]": {
        "Deletion/PlanRole/DefaultPolicy",
        "Deletion/WorkerRole/DefaultPolicy",
        "Deletion/FinishRole/DefaultPolicy",
        "Deletion/StateMachineRole/DefaultPolicy",
    },
    # A user deletion clears the debugger's samples (`_debugger/`): list and delete only.
    "AwsSolutions-IAM5[Resource::<ArchiveBucket49F1AC64.Arn>/_debugger/*]": {"Deletion/FinishRole/DefaultPolicy"},
    # Destination credentials: destinations are applied at run time (one parameter path per region).
    **{
        f"AwsSolutions-IAM5[Resource::arn:aws:ssm:{region}:000000000000:parameter/switchyard/{region}/"
        "destinations/*/credentials]": {"Delivery/FunctionRole/DefaultPolicy", "Deletion/FinishRole/DefaultPolicy"}
        for region in (OREGON, DUBLIN)
    },
    # The Distributed Maps' child executions of each workflow itself (one id per region).
    **{
        f"AwsSolutions-IAM5[Resource::arn:aws:states:{region}:000000000000:execution:switchyard-{name}-{region}/*]": {
            f"{construct}/StateMachineRole/DefaultPolicy"
        }
        for region in (OREGON, DUBLIN)
        for name, construct in (("replay", "Replay"), ("user-deletion", "Deletion"))
    },
    # The REST tracking API (the `waf` option, on by default): methods without an authorizer, no
    # request models, no execution logs.
    "AwsSolutions-APIG4": {f"TrackingApi/RestApi/Default{path}/{method}" for path, method in REST_METHODS},
    "AwsSolutions-COG4": {
        f"TrackingApi/RestApi/Default{path}/{method}" for path, method in REST_METHODS if method != "OPTIONS"
    },
    "AwsSolutions-APIG2": {"TrackingApi/RestApi/Resource"},
    "AwsSolutions-APIG6": {"TrackingApi/RestApi/DeploymentStage.v1/Resource"},
}
# X-Ray's write policy, which exists only when something is traced (`tracing` sampled or active).
XRAY_POLICY = "LambdaDefaults/XRayWrite"
# With `waf=false`, the HTTP API's routes instead.
HTTP_API_ROUTES = {
    f"TrackingApi/Api/{route}"
    for route in (
        "POST--v1--{call}",
        "GET--v1--pixel--{type}",
        "GET--v1--projects--{writeKey}--settings",
        "OPTIONS--v1--{proxy+}",
        "POST--functions--{function_id}",
        "GET--openapi.json",
        "GET--analytics.js--v1--{writeKey}--analytics.min.js",
        "GET--analytics-next--bundles--{file}",
    )
}


def report(synthesized: Synthesized) -> dict:
    """cdk-nag's report (beside it, "Construct Annotations" reports warnings such as an unresolved account)."""
    reports = json.loads((Path(synthesized.report_dir) / "validation-report.json").read_text())["pluginReports"]
    (plugin,) = [plugin for plugin in reports if plugin["pluginName"] == "AwsSolutions"]
    return plugin


@pytest.mark.parametrize("app_name", ["default_app", "custom_app", "http_api_app", "lean_app", "alb_app"])
def test_no_unacknowledged_findings(app_name: str, request: pytest.FixtureRequest) -> None:
    plugin = report(request.getfixturevalue(app_name))  # the synth itself raises on a finding
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []


def acknowledged_at(synthesized: Synthesized) -> dict[str, set[str]]:
    acknowledged: dict[str, set[str]] = {}
    for violation in report(synthesized)["suppressedViolations"]:
        stack, _, path = violation["acknowledgedAt"].partition("/")
        assert stack in ("Switchyard-Oregon", "Switchyard-Dublin"), "never acknowledged for a whole stack"
        acknowledged.setdefault(violation["ruleName"], set()).add(path)
    return acknowledged


def test_only_the_expected_findings_are_acknowledged_where_expected(default_app: Synthesized) -> None:
    assert acknowledged_at(default_app) == EXPECTED_ACKNOWLEDGEMENTS


def test_without_the_firewall_the_http_api_routes_are_acknowledged_instead(http_api_app: Synthesized) -> None:
    rest_api_rules = ("AwsSolutions-APIG4", "AwsSolutions-COG4", "AwsSolutions-APIG2", "AwsSolutions-APIG6")
    expected = {rule: paths for rule, paths in EXPECTED_ACKNOWLEDGEMENTS.items() if rule not in rest_api_rules}
    assert acknowledged_at(http_api_app) == {**expected, "AwsSolutions-APIG4": HTTP_API_ROUTES}


def test_with_active_tracing_the_xray_policy_is_acknowledged_and_the_workflows_traced(custom_app: Synthesized) -> None:
    expected = {  # the custom app names its account in ARNs
        rule.replace("000000000000", ACCOUNT): paths
        for rule, paths in EXPECTED_ACKNOWLEDGEMENTS.items()
        if rule != "AwsSolutions-SF2"
    }
    wildcards = "AwsSolutions-IAM5[Resource::*]"
    assert acknowledged_at(custom_app) == {**expected, wildcards: {*expected[wildcards], XRAY_POLICY}}


def test_the_lean_levers_acknowledge_the_missing_access_logs_on_the_stages_only(lean_app: Synthesized) -> None:
    # Oregon: REST API, sampled tracing (the X-Ray policy for ingest); Dublin: HTTP API, tracing off.
    wildcards = "AwsSolutions-IAM5[Resource::*]"
    assert acknowledged_at(lean_app) == {
        **EXPECTED_ACKNOWLEDGEMENTS,
        wildcards: {*EXPECTED_ACKNOWLEDGEMENTS[wildcards], XRAY_POLICY},
        "AwsSolutions-APIG4": EXPECTED_ACKNOWLEDGEMENTS["AwsSolutions-APIG4"] | HTTP_API_ROUTES,
        "AwsSolutions-APIG1": {"TrackingApi/RestApi/DeploymentStage.v1/Resource", "TrackingApi/Stage/Resource"},
    }


def test_the_load_balancer_acknowledges_its_log_its_open_port_and_its_vpc_instead_of_the_apis(
    alb_app: Synthesized,
) -> None:
    rest_api_rules = ("AwsSolutions-APIG4", "AwsSolutions-COG4", "AwsSolutions-APIG2", "AwsSolutions-APIG6")
    expected = {
        rule.replace("000000000000", ACCOUNT): paths
        for rule, paths in EXPECTED_ACKNOWLEDGEMENTS.items()
        if rule not in rest_api_rules
    }
    assert acknowledged_at(alb_app) == {
        **expected,
        "AwsSolutions-ELB2": {"TrackingApi/Alb/LoadBalancer/Resource"},
        "AwsSolutions-EC23": {"TrackingApi/Alb/SecurityGroup/Resource"},
        "AwsSolutions-VPC7": {"TrackingApi/Alb/Vpc/Resource"},
    }


def test_every_acknowledgement_gives_a_real_reason() -> None:
    for acknowledgement in nag.ALL:
        assert acknowledgement.id.startswith("AwsSolutions::AwsSolutions-")
        assert len(acknowledgement.reason) >= 200, acknowledgement.id


def test_nag_is_registered_on_the_app_and_fails_the_synth() -> None:
    app = build_app(SKIP_BUNDLING)
    stack = next(child for child in app.node.children if getattr(child, "region", None) == DUBLIN)
    s3.Bucket(stack, "CarelessBucket")  # no access logs, no TLS-only policy
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
