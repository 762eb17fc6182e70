"""The tracking API, of both kinds: the contract's paths at the root of the SDKs' host, throttled,
logged without the write key. `waf=true` (the default app): a REST API behind AWS WAF (see also
test_waf.py); `waf=false` (the HTTP API app): the HTTP API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.tracking_api import BROWSER_LIBRARY_RESOURCES, GATEWAY_ANSWERS, ROUTES
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
    "GET /analytics.js/v1/{writeKey}/analytics.min.js",  # the browser library (switchyard.ingest.browser_library)
    "GET /analytics-next/bundles/{file}",
}
# The REST API: the same paths below its `v1` stage; the HTTP API's root paths move below it too.
REST_METHODS = {
    ("POST", "/{call}"),
    ("OPTIONS", "/{call}"),
    ("GET", "/pixel/{type}"),
    ("OPTIONS", "/pixel/{type}"),
    ("GET", "/projects/{writeKey}/settings"),
    ("OPTIONS", "/projects/{writeKey}/settings"),
    ("POST", "/functions/{function_id}"),
    ("GET", "/openapi.json"),
    # The browser library, whose base is `<host>/v1` there: its settings document below it too.
    ("GET", "/analytics.js/v1/{writeKey}/analytics.min.js"),
    ("GET", "/analytics-next/bundles/{file}"),
    ("GET", "/v1/projects/{writeKey}/settings"),
}
LEAKS = (
    "$context.path",
    "$request.",
    "header",
    "querystring",
    "$context.authorizer",
    "$context.identity.user",
    "writekey",
    "authorization",
)


def test_the_routes_are_exactly_the_contract(http_api_template_json: dict) -> None:
    routes = resources(http_api_template_json, "AWS::ApiGatewayV2::Route")
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


# The HTTP API (`waf=false`).


def test_every_route_goes_to_the_ingest_function_with_payload_v2(http_api_template_json: dict) -> None:
    integration = only(http_api_template_json, "AWS::ApiGatewayV2::Integration")["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert "IngestFunction" in json.dumps(integration["IntegrationUri"])
    routes = resources(http_api_template_json, "AWS::ApiGatewayV2::Route")
    assert {json.dumps(route["Properties"]["Target"]) for route in routes.values()} == {
        json.dumps(next(iter(routes.values()))["Properties"]["Target"])
    }


def test_api_gateway_does_not_answer_cors_itself(http_api_template_json: dict) -> None:
    api = only(http_api_template_json, "AWS::ApiGatewayV2::Api")["Properties"]
    assert "CorsConfiguration" not in api
    assert api["ProtocolType"] == "HTTP"


def test_the_default_stage_serves_the_root_with_throttling(http_api_app: Synthesized) -> None:
    # Oregon has the defaults; the HTTP API app sets Dublin's throttle (api_*:eu-west-1).
    for region, (rate, burst) in ((OREGON, (1000, 2000)), (DUBLIN, (500, 800))):
        Template.from_json(http_api_app.json[region], skip_cyclical_dependencies_check=True).has_resource_properties(
            "AWS::ApiGatewayV2::Stage",
            {
                "StageName": "$default",
                "AutoDeploy": True,
                "DefaultRouteSettings": {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst},
            },
        )


def test_access_logs_go_to_a_log_group_with_retention(http_api_template_json: dict) -> None:
    stage = only(http_api_template_json, "AWS::ApiGatewayV2::Stage")["Properties"]
    log_group_id = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert http_api_template_json["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30


def test_access_log_format_never_contains_the_write_key(http_api_template_json: dict) -> None:
    log_format = only(http_api_template_json, "AWS::ApiGatewayV2::Stage")["Properties"]["AccessLogSettings"]["Format"]
    fields = json.loads(log_format)
    assert fields["routeKey"] == "$context.routeKey"  # the template, not /v1/projects/<key>/settings
    assert "$context.requestId" in fields.values()
    lowered = log_format.lower()
    for leak in LEAKS:
        assert leak not in lowered, leak


def test_no_rest_api_and_no_firewall(http_api_template_json: dict) -> None:
    kinds = {r["Type"] for r in http_api_template_json["Resources"].values()}
    assert not {kind for kind in kinds if kind.startswith(("AWS::ApiGateway::", "AWS::WAFv2::"))}


def test_custom_domain_maps_the_http_api_at_the_root(http_api_app: Synthesized) -> None:
    dublin = http_api_app.json[DUBLIN]
    domain = only(dublin, "AWS::ApiGatewayV2::DomainName")["Properties"]
    assert domain["DomainName"] == "events.eu.example.com"
    assert domain["DomainNameConfigurations"][0]["CertificateArn"] == CERTIFICATE_ARN
    assert domain["DomainNameConfigurations"][0]["EndpointType"] == "REGIONAL"
    mapping = only(dublin, "AWS::ApiGatewayV2::ApiMapping")["Properties"]
    assert "ApiMappingKey" not in mapping  # no path prefix: analytics-node would drop it
    assert dublin["Outputs"][constants.OUTPUT_API_ENDPOINT]["Value"] == "https://events.eu.example.com"
    assert dublin["Outputs"][constants.OUTPUT_FUNCTION_WEBHOOKS]["Value"] == "https://events.eu.example.com/functions"
    assert constants.OUTPUT_API_DOMAIN_TARGET in dublin["Outputs"]


def test_the_http_apis_execute_api_endpoint_is_off_only_with_a_custom_domain(http_api_app: Synthesized) -> None:
    (dublin,) = resources(http_api_app.json[DUBLIN], "AWS::ApiGatewayV2::Api").values()
    (oregon,) = resources(http_api_app.json[OREGON], "AWS::ApiGatewayV2::Api").values()
    assert dublin["Properties"]["DisableExecuteApiEndpoint"] is True
    assert oregon["Properties"].get("DisableExecuteApiEndpoint", False) is False
    outputs = http_api_app.json[OREGON]["Outputs"]
    assert outputs[constants.OUTPUT_API_ENDPOINT]["Value"]["Fn::GetAtt"][1] == "ApiEndpoint"  # the execute-api URL
    webhooks = outputs[constants.OUTPUT_FUNCTION_WEBHOOKS]["Value"]["Fn::Join"][1]
    assert webhooks[-1] == "/functions"


# The REST API (`waf=true`, the default).


def rest_methods(template_json: dict) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, resource path below the stage) -> the method's properties."""
    all_resources = template_json["Resources"]
    api_id = next(iter(resources(template_json, "AWS::ApiGateway::RestApi")))

    def path_of(resource_id: dict[str, Any]) -> str:
        if "Fn::GetAtt" in resource_id:  # the API's root resource
            assert resource_id["Fn::GetAtt"] == [api_id, "RootResourceId"]
            return ""
        properties = all_resources[resource_id["Ref"]]["Properties"]
        return f"{path_of(properties['ParentId'])}/{properties['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"])): m["Properties"]
        for m in resources(template_json, "AWS::ApiGateway::Method").values()
    }


def test_the_rest_resources_are_exactly_the_contract_below_the_v1_stage(template_json: dict) -> None:
    assert set(rest_methods(template_json)) == REST_METHODS
    declared = (*constants.REST_API_RESOURCES, *BROWSER_LIBRARY_RESOURCES)
    assert {(m, r) for r, methods in declared for m in methods} == REST_METHODS
    stage = only(template_json, "AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == constants.REST_API_STAGE == "v1"


def test_every_rest_method_is_a_lambda_proxy_to_ingest_without_authorizer(template_json: dict) -> None:
    for key, method in rest_methods(template_json).items():
        assert method["AuthorizationType"] == "NONE", key
        integration = method["Integration"]
        assert (integration["Type"], integration["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST"), key
        assert "IngestFunction" in json.dumps(integration["Uri"]), key


def test_the_rest_api_is_regional_and_passes_every_body_as_binary(template_json: dict, region: str) -> None:
    api = only(template_json, "AWS::ApiGateway::RestApi")["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert api["BinaryMediaTypes"] == ["*/*"]  # gzip bodies reach Lambda base64-encoded, intact
    assert api["Name"] == f"switchyard-tracking-{region}"
    assert api.get("DisableExecuteApiEndpoint", False) is False


def test_ingest_may_be_invoked_only_by_each_method_of_the_v1_stage(template_json: dict) -> None:
    stage_id = next(iter(resources(template_json, "AWS::ApiGateway::Stage")))
    permissions = [
        p["Properties"]
        for p in resources(template_json, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert len(permissions) == len(REST_METHODS)
    for permission in permissions:
        assert permission["FunctionName"]["Fn::GetAtt"][0].startswith("IngestFunction")
        parts = permission["SourceArn"]["Fn::Join"][1]
        assert {"Ref": stage_id} in parts, "this stage only, never test-invoke-stage or *"
        method_and_path = parts[-1]
        assert method_and_path.split("/")[1] in ("POST", "GET", "OPTIONS"), method_and_path


def test_the_rest_stage_throttles_and_logs_access_only(template_json: dict) -> None:
    stage = only(template_json, "AWS::ApiGateway::Stage")["Properties"]
    (settings,) = stage["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (1000, 2000)
    assert (settings["LoggingLevel"], settings["DataTraceEnabled"]) == ("OFF", False)
    log_group = stage["AccessLogSetting"]["DestinationArn"]["Fn::Join"][1][-1]["Ref"]
    assert template_json["Resources"][log_group]["Properties"]["RetentionInDays"] == 30
    assert not resources(template_json, "AWS::ApiGateway::Account"), "the account's logging role is not ours"


def test_the_stage_throttle_is_an_option_and_its_429_stays_json(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():  # api_rate_limit_per_second=3000, api_burst_limit=6000
        (settings,) = only(template_json, "AWS::ApiGateway::Stage")["Properties"]["MethodSettings"]
        assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (3000, 6000)
        throttled = gateway_responses(template_json)["THROTTLED"]
        assert throttled["StatusCode"] == "429"
        assert json.loads(throttled["ResponseTemplates"]["application/json"])["code"] == "rate_limited"


def test_rest_access_log_format_never_contains_the_write_key(template_json: dict) -> None:
    log_format = only(template_json, "AWS::ApiGateway::Stage")["Properties"]["AccessLogSetting"]["Format"]
    fields = json.loads(log_format)
    assert fields["resourcePath"] == "$context.resourcePath"  # /projects/{writeKey}/settings
    assert fields["wafResponseCode"] == "$context.wafResponseCode"
    assert "$context.requestId" in fields.values()
    lowered = log_format.lower()
    for leak in LEAKS:
        assert leak not in lowered, leak


def gateway_responses(template_json: dict) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(template_json, "AWS::ApiGateway::GatewayResponse").values()
    }


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [
        ("THROTTLED", "429", "rate_limited"),
        ("WAF_FILTERED", "403", "request_blocked"),
        ("ACCESS_DENIED", "403", "access_denied"),
        ("MISSING_AUTHENTICATION_TOKEN", "404", "unknown_path"),  # a REST API's answer to an unknown path
        ("REQUEST_TOO_LARGE", "413", "request_too_large"),
        ("DEFAULT_4XX", None, "request_refused"),
        ("DEFAULT_5XX", None, "gateway_error"),
    ],
)
def test_api_gateways_own_answers_are_json_code_and_message_with_cors(
    template_json: dict, response_type: str, status: str | None, code: str
) -> None:
    response = gateway_responses(template_json)[response_type]
    assert response.get("StatusCode") == status
    # API Gateway fills $context.error.messageString with its own message, already quoted.
    body = json.loads(response["ResponseTemplates"]["application/json"].replace("$context.error.messageString", '"m"'))
    assert set(body) == {"code", "message"} and body["code"] == code and body["message"]
    headers = {k.removeprefix("gatewayresponse.header."): v for k, v in response["ResponseParameters"].items()}
    assert headers["Access-Control-Allow-Origin"] == "'*'"
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]
    assert headers["Content-Type"] == "'application/json'"


def test_throttling_and_gateway_failures_say_when_to_retry(template_json: dict) -> None:
    responses = gateway_responses(template_json)
    for response_type in ("THROTTLED", "DEFAULT_5XX"):
        headers = responses[response_type]["ResponseParameters"]
        assert headers["gatewayresponse.header.Retry-After"] == "'5'"
        assert headers["gatewayresponse.header.X-RateLimit-Reset"] == "'5'"
    assert len(responses) == len(GATEWAY_ANSWERS)


def test_the_rest_endpoint_is_the_bare_execute_api_host(template_json: dict, region: str) -> None:
    api_id = next(iter(resources(template_json, "AWS::ApiGateway::RestApi")))
    outputs = template_json["Outputs"]
    endpoint = outputs[constants.OUTPUT_API_ENDPOINT]["Value"]["Fn::Join"][1]
    assert endpoint == ["https://", {"Ref": api_id}, f".execute-api.{region}.", {"Ref": "AWS::URLSuffix"}]
    webhooks = outputs[constants.OUTPUT_FUNCTION_WEBHOOKS]["Value"]["Fn::Join"][1]
    assert webhooks == [*endpoint, "/v1/functions"]


def test_a_custom_domain_maps_v1_to_the_rest_stage(custom_app: Synthesized) -> None:
    dublin = custom_app.json[DUBLIN]
    domain_id, domain = next(iter(resources(dublin, "AWS::ApiGatewayV2::DomainName").items()))
    assert domain["Properties"]["DomainName"] == "events.eu.example.com"
    assert domain["Properties"]["DomainNameConfigurations"][0]["EndpointType"] == "REGIONAL"
    mapping = only(dublin, "AWS::ApiGatewayV2::ApiMapping")["Properties"]
    api_id = next(iter(resources(dublin, "AWS::ApiGateway::RestApi")))
    stage_id = next(iter(resources(dublin, "AWS::ApiGateway::Stage")))
    # https://events.eu.example.com/v1/track is the stage's /track: the SDKs' host stays the bare domain.
    assert mapping == {
        "ApiId": {"Ref": api_id},
        "ApiMappingKey": "v1",
        "DomainName": {"Ref": domain_id},
        "Stage": {"Ref": stage_id},
    }
    assert only(dublin, "AWS::ApiGateway::RestApi")["Properties"]["DisableExecuteApiEndpoint"] is True
    outputs = dublin["Outputs"]
    assert outputs[constants.OUTPUT_API_ENDPOINT]["Value"] == "https://events.eu.example.com"
    assert outputs[constants.OUTPUT_FUNCTION_WEBHOOKS]["Value"] == "https://events.eu.example.com/v1/functions"
    assert constants.OUTPUT_API_DOMAIN_TARGET in outputs


def test_custom_domain_is_per_region(custom_app: Synthesized) -> None:
    oregon = custom_app.json[OREGON]
    assert not resources(oregon, "AWS::ApiGatewayV2::DomainName")
    assert not resources(oregon, "AWS::ApiGatewayV2::ApiMapping")
    assert "Fn::Join" in oregon["Outputs"][constants.OUTPUT_API_ENDPOINT]["Value"]  # the execute-api URL
