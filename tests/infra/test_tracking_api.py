"""The tracking API: the contract's routes at the root, throttled, logged without the write key."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from infra.tracking_api import ROUTES
from switchyard import constants
from switchyard.ingest.messages import BATCH_PATHS, SINGLE_CALL_PATHS
from switchyard.ingest.openapi import DOCUMENT_PATH

from .conftest import CERTIFICATE_ARN, DUBLIN, OREGON, Synthesized, only, resources

pytestmark = pytest.mark.infra

CONTRACT_ROUTES = {
    "POST /v1/{call}",
    "GET /v1/pixel/{type}",
    "GET /v1/projects/{writeKey}/settings",
    "OPTIONS /v1/{proxy+}",
    "POST /functions/{function_id}",
    "GET /openapi.json",
}


def test_the_routes_are_exactly_the_contract(template_json: dict) -> None:
    routes = resources(template_json, "AWS::ApiGatewayV2::Route")
    assert {route["Properties"]["RouteKey"] for route in routes.values()} == CONTRACT_ROUTES


def test_the_openapi_document_describes_exactly_the_routes() -> None:
    """What API Gateway sends to ingest is what /openapi.json documents, and nothing else is documented.

    `{call}` is one route for the handler's call paths (its own tables); the document lists each.
    """
    routed = set()
    for methods, path in ROUTES:
        paths = (
            [path.replace("{call}", call) for call in (*SINGLE_CALL_PATHS, *BATCH_PATHS)]
            if "{call}" in path
            else [path]
        )
        routed |= {(method.value, each) for method in methods for each in paths}
    document = json.loads(DOCUMENT_PATH.read_text())
    components = document["components"]["pathItems"]
    documented = set()
    for path, item in document["paths"].items():
        item = components[item["$ref"].rsplit("/", 1)[1]] if "$ref" in item else item
        documented |= {
            (method.upper(), path) for method in item if method in ("get", "post", "options", "put", "delete")
        }
    assert documented == routed


def test_every_route_goes_to_the_ingest_function_with_payload_v2(template: Template, template_json: dict) -> None:
    integration = only(template_json, "AWS::ApiGatewayV2::Integration")["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert "IngestFunction" in json.dumps(integration["IntegrationUri"])
    routes = resources(template_json, "AWS::ApiGatewayV2::Route")
    assert {json.dumps(route["Properties"]["Target"]) for route in routes.values()} == {
        json.dumps(next(iter(routes.values()))["Properties"]["Target"])
    }


def test_api_gateway_does_not_answer_cors_itself(template_json: dict) -> None:
    api = only(template_json, "AWS::ApiGatewayV2::Api")["Properties"]
    assert "CorsConfiguration" not in api
    assert api["ProtocolType"] == "HTTP"


def test_the_default_stage_serves_the_root_with_throttling(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {
                "ThrottlingRateLimit": constants.API_THROTTLE_RATE,
                "ThrottlingBurstLimit": constants.API_THROTTLE_BURST,
            },
        },
    )


def test_access_logs_go_to_a_log_group_with_retention(template: Template, template_json: dict) -> None:
    stage = only(template_json, "AWS::ApiGatewayV2::Stage")["Properties"]
    log_group_id = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert template_json["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30


def test_access_log_format_never_contains_the_write_key(template_json: dict) -> None:
    log_format = only(template_json, "AWS::ApiGatewayV2::Stage")["Properties"]["AccessLogSettings"]["Format"]
    fields = json.loads(log_format)
    assert fields["routeKey"] == "$context.routeKey"  # the template, not /v1/projects/<key>/settings
    assert "$context.requestId" in fields.values()
    lowered = log_format.lower()
    for leak in (
        "$context.path",
        "$request.",
        "header",
        "querystring",
        "$context.authorizer",
        "$context.identity.user",
        "writekey",
        "authorization",
    ):
        assert leak not in lowered, leak


def test_custom_domain_maps_the_api_at_the_root(custom_app: Synthesized) -> None:
    dublin = custom_app.json[DUBLIN]
    domain = only(dublin, "AWS::ApiGatewayV2::DomainName")["Properties"]
    assert domain["DomainName"] == "events.eu.example.com"
    assert domain["DomainNameConfigurations"][0]["CertificateArn"] == CERTIFICATE_ARN
    assert domain["DomainNameConfigurations"][0]["EndpointType"] == "REGIONAL"
    mapping = only(dublin, "AWS::ApiGatewayV2::ApiMapping")["Properties"]
    assert "ApiMappingKey" not in mapping  # no path prefix: analytics-node would drop it
    assert dublin["Outputs"][constants.OUTPUT_API_ENDPOINT]["Value"] == "https://events.eu.example.com"
    assert constants.OUTPUT_API_DOMAIN_TARGET in dublin["Outputs"]


def test_custom_domain_is_per_region(custom_app: Synthesized) -> None:
    assert not resources(custom_app.json[OREGON], "AWS::ApiGatewayV2::DomainName")
    endpoint = custom_app.json[OREGON]["Outputs"][constants.OUTPUT_API_ENDPOINT]["Value"]
    assert endpoint["Fn::GetAtt"][1] == "ApiEndpoint"  # the execute-api URL


def test_the_execute_api_endpoint_is_off_only_with_a_custom_domain(custom_app: Synthesized) -> None:
    (dublin,) = resources(custom_app.json[DUBLIN], "AWS::ApiGatewayV2::Api").values()
    (oregon,) = resources(custom_app.json[OREGON], "AWS::ApiGatewayV2::Api").values()
    assert dublin["Properties"]["DisableExecuteApiEndpoint"] is True
    assert oregon["Properties"].get("DisableExecuteApiEndpoint", False) is False
