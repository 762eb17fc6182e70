"""Synthesizes the CDK app once per session (bundling skipped) and hands out the templates.

The default app is what `cdk synth` builds with cdk.json's context (a REST API behind AWS WAF); the
"custom" app turns on every optional feature (provisioned shards, custom domain, existing alarm
topic, ...); the "HTTP API" app turns the firewall off (`waf=false`: the HTTP API), with a custom
domain in Dublin only; the "lean" app sets the cost levers to their cheapest; the "ALB" app puts
a load balancer in front of ingest instead of API Gateway (`front_door=alb`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

from aws_cdk.assertions import Template  # noqa: E402

from app import build_app  # noqa: E402
from infra.stack import RegionalStack  # noqa: E402

OREGON, DUBLIN = "us-west-2", "eu-west-1"
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
ACCOUNT = "123456789012"
CERTIFICATE_ARN = f"arn:aws:acm:{DUBLIN}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"
ALARM_TOPIC_ARN = f"arn:aws:sns:{DUBLIN}:{ACCOUNT}:ops-alarms"
CUSTOM_CONTEXT: dict[str, Any] = {
    **SKIP_BUNDLING,
    "account": ACCOUNT,
    "kinesis_shards": "2",  # as `-c kinesis_shards=2` passes it
    "archive_retention_days": 60,
    "log_retention_days": 90,
    "log_level": "debug",
    "config_cache_seconds": 5,
    "removal_policy": "destroy",
    "alarm_email": "ops@example.com",
    f"api_domain_name:{DUBLIN}": "events.eu.example.com",
    f"api_certificate_arn:{DUBLIN}": CERTIFICATE_ARN,
    f"alarm_topic_arn:{DUBLIN}": ALARM_TOPIC_ARN,
    "router_parallelization": "4",
    "delivery_max_concurrency": 200,
    "replay_max_concurrency": "20",
    "delivery_success_alarm_threshold": "0.9",
    "waf_ip_limit_per_5_minutes": "5000",
    "waf_write_key_limit_per_5_minutes": 100000,
    "api_rate_limit_per_second": "3000",
    "api_burst_limit": 6000,
    # The cost levers at their most observable: everything traced, Lambda's platform lines kept,
    # the largest router batches after a 5 s window, auto-scaled dedupe writes.
    "tracing": "Active",
    "system_log_level": "info",
    "router_batching_window_seconds": "5",
    "router_batch_size": 10000,
    "dedupe_capacity": "provisioned",
    "dedupe_min_write_capacity": "10",
    "dedupe_max_write_capacity": 1000,
    "delivery_events_per_message": "25",
}
HTTP_API_CONTEXT: dict[str, Any] = {
    **SKIP_BUNDLING,
    "waf": "false",  # as `-c waf=false` passes it
    f"api_domain_name:{DUBLIN}": "events.eu.example.com",
    f"api_certificate_arn:{DUBLIN}": CERTIFICATE_ARN,
    f"api_rate_limit_per_second:{DUBLIN}": 500,
    f"api_burst_limit:{DUBLIN}": "800",
}

# The cost levers at their cheapest (issue 14): no access logs, provisioned dedupe writes (default
# floor and ceiling); Oregon behind the firewall with sampled tracing, Dublin an HTTP API untraced.
LEAN_CONTEXT: dict[str, Any] = {
    **SKIP_BUNDLING,
    "api_access_logs": "false",
    "dedupe_capacity": "provisioned",
    f"tracing:{OREGON}": "sampled",
    f"waf:{DUBLIN}": False,
    "router_batching_window_seconds": 0,
    "stream_compression": "true",
}

# The load balancer in front of ingest (`front_door=alb`), which serves HTTPS on each region's domain.
ALB_CONTEXT: dict[str, Any] = {
    **SKIP_BUNDLING,
    "account": ACCOUNT,
    "waf": "false",
    "front_door": "ALB",
    f"api_domain_name:{OREGON}": "events.example.com",
    f"api_certificate_arn:{OREGON}": CERTIFICATE_ARN.replace(DUBLIN, OREGON),
    f"api_domain_name:{DUBLIN}": "events.eu.example.com",
    f"api_certificate_arn:{DUBLIN}": CERTIFICATE_ARN,
}


@dataclass
class Synthesized:
    stacks: dict[str, RegionalStack]  # by region
    json: dict[str, dict[str, Any]]  # template by region
    report_dir: str

    def template(self, region: str) -> Template:
        return Template.from_json(self.json[region], skip_cyclical_dependencies_check=True)


def synthesize(context: dict[str, Any]) -> Synthesized:
    """Build and synth the whole app; cdk-nag runs here and raises on any unacknowledged finding."""
    app = build_app(context)
    assembly = app.synth()
    stacks = {child.region: child for child in app.node.children if isinstance(child, RegionalStack)}
    templates = {region: assembly.get_stack_by_name(stack.stack_name).template for region, stack in stacks.items()}
    return Synthesized(stacks=stacks, json=templates, report_dir=assembly.directory)


@pytest.fixture(scope="session")
def default_app() -> Synthesized:
    return synthesize(SKIP_BUNDLING)


@pytest.fixture(scope="session")
def custom_app() -> Synthesized:
    return synthesize(CUSTOM_CONTEXT)


@pytest.fixture(scope="session")
def http_api_app() -> Synthesized:
    return synthesize(HTTP_API_CONTEXT)


@pytest.fixture(scope="session")
def lean_app() -> Synthesized:
    return synthesize(LEAN_CONTEXT)


@pytest.fixture(scope="session")
def alb_app() -> Synthesized:
    return synthesize(ALB_CONTEXT)


@pytest.fixture(scope="session")
def http_api_template_json(http_api_app: Synthesized, region: str) -> dict[str, Any]:
    return http_api_app.json[region]


@pytest.fixture(scope="session", params=[OREGON, DUBLIN])
def region(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def template(default_app: Synthesized, region: str) -> Template:
    return default_app.template(region)


@pytest.fixture(scope="session")
def template_json(default_app: Synthesized, region: str) -> dict[str, Any]:
    return default_app.json[region]


def resources(template_json: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template_json["Resources"].items() if r["Type"] == kind}


def only(template_json: dict[str, Any], kind: str) -> dict[str, Any]:
    found = resources(template_json, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


def named(template_json: dict[str, Any], kind: str, prefix: str) -> dict[str, Any]:
    """The one resource of `kind` whose logical id starts with `prefix` (`IngestFunction`, ...)."""
    found = {k: r for k, r in resources(template_json, kind).items() if k.startswith(prefix)}
    assert len(found) == 1, f"expected one {kind} named {prefix}*, found {sorted(found)}"
    return next(iter(found.values()))


def function_policy(template_json: dict[str, Any], function_prefix: str) -> dict[tuple[str, ...], str]:
    """A function role's grants: sorted actions -> base logical id of the resource they apply to."""
    policy = named(template_json, "AWS::IAM::Policy", f"{function_prefix}RoleDefaultPolicy")
    granted: dict[tuple[str, ...], str | tuple[str, ...]] = {}
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resource = statement["Resource"]
        if isinstance(resource, list):  # one statement for several resources: a sorted tuple of them
            granted[tuple(sorted(actions))] = tuple(sorted(_resource_id(each) for each in resource))
        else:
            granted[tuple(sorted(actions))] = _resource_id(resource)
    return granted


def granted_resources(template_json: dict[str, Any], function_prefix: str) -> set[str]:
    """Every resource a function role is granted anything on."""
    found: set[str] = set()
    for target in function_policy(template_json, function_prefix).values():
        found.update((target,) if isinstance(target, str) else target)
    return found


def _resource_id(resource: str | dict[str, Any]) -> str:
    if isinstance(resource, str):  # a literal ARN (an SSM parameter path, say)
        return resource
    if "Fn::Join" in resource:  # `<arn>/*`
        (target,) = [part["Fn::GetAtt"][0] for part in resource["Fn::Join"][1] if isinstance(part, dict)]
        return base_id(target) + "/*"
    return base_id(resource["Fn::GetAtt"][0])


def name_stem(name: str | dict[str, Any]) -> str:
    """A physical name without the stack suffix that kept resources' names end with (infra/names.py)."""
    if isinstance(name, str):
        return name
    *stem, suffix = name["Fn::Join"][1]
    assert "AWS::StackId" in str(suffix), name
    return name["Fn::Join"][0].join(stem)


def base_id(logical_id: str) -> str:
    """A logical id without the 8-hex-digit hash CDK appends (`IngestFunctionLogs3AD22061` -> ...Logs)."""
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)
