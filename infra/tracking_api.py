"""The tracking API: the Segment endpoints at the root of the SDKs' host, routed to ingest.

Two kinds, chosen by the `waf` option (AWS WAF cannot be attached to an HTTP API):

- `waf=true` (default): a regional REST API behind a regional AWS WAF web ACL (infra/waf.py). A
  REST API's URL always starts with its stage, so the stage is named `v1` and its resources are the
  contract's paths below /v1 (constants.REST_API_RESOURCES): `https://<id>.execute-api.<region>.
  amazonaws.com/v1/track` is stage v1, resource /{call}, and SDKs keep the bare host. The HTTP API's
  root paths move below the stage: webhooks to /v1/functions/{id}, the document to /v1/openapi.json.
  API Gateway's own answers (throttling, firewall blocks, unknown paths, oversize bodies, its 5xx)
  are gateway responses in the contract's JSON `{"code", "message"}` with CORS headers.
- `waf=false`: an HTTP API (`$default` stage, no mapping key), routes ROUTES. $1.00 per million
  requests against $3.50 for a REST API plus $0.60 for WAF.

Or, with `front_door=alb`, no API Gateway at all: an Application Load Balancer on the custom domain
(infra/load_balancer.py), the cheapest at high volume. What follows is about the two API kinds.

Both:
- Mounted at the root of the host: @segment/analytics-node drops any path prefix of its `host`. A
  custom domain (`api_domain_name`) maps `v1` to the REST API's stage, or the root to the HTTP API,
  and switches the execute-api URL off.
- No API-level CORS: the handler answers preflights and sets CORS headers on every response,
  and API Gateway's own CORS would replace them.
- No authorizer: SDKs authenticate with the source's write key (Basic auth or in the body),
  which the ingest function checks against the config table.
- Access logs never contain the write key: the route or resource *template* (`$context.routeKey`,
  `$context.resourcePath`) instead of the path (`/v1/projects/<writeKey>/settings`,
  `/analytics.js/v1/<writeKey>/analytics.min.js`), no headers
  (Authorization), no query string (`/v1/pixel/...?writeKey=`). With `api_access_logs=false`,
  neither kind has an access log nor its log group (cdk-nag's APIG1 acknowledged on the stage).
- X-Ray: only with `tracing=sampled`, on the REST API's stage (an HTTP API cannot trace).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsii
from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from infra import nag
from infra.load_balancer import TrackingLoadBalancer
from infra.options import StackOptions
from infra.waf import TrackingFirewall
from switchyard import constants

# (methods, path): the contract of docs tracking-api.md. `{call}` covers identify/track/page/
# screen/group/alias, t/p/i/g/a/s and batch/import/b; the handler answers 404 to anything else.
ROUTES: tuple[tuple[tuple[apigwv2.HttpMethod, ...], str], ...] = (
    ((apigwv2.HttpMethod.POST,), "/v1/{call}"),
    ((apigwv2.HttpMethod.GET,), "/v1/pixel/{type}"),
    ((apigwv2.HttpMethod.GET,), "/v1/projects/{writeKey}/settings"),
    ((apigwv2.HttpMethod.OPTIONS,), "/v1/{proxy+}"),
    # Source functions' webhooks (the handler checks the per-function token).
    ((apigwv2.HttpMethod.POST,), "/functions/{function_id}"),
    ((apigwv2.HttpMethod.GET,), "/openapi.json"),  # the OpenAPI document of all of the above
    # The browser library where Segment's snippet loads it, and its chunks (switchyard.ingest.browser_library).
    ((apigwv2.HttpMethod.GET,), "/analytics.js/v1/{writeKey}/analytics.min.js"),
    ((apigwv2.HttpMethod.GET,), "/analytics-next/bundles/{file}"),
)
# The REST API's resources for the browser library, below its `v1` stage beside the contract's
# (constants.REST_API_RESOURCES): there the library's base is `<host>/v1`, so it asks for the
# settings document at `<host>/v1/v1/projects/<writeKey>/settings`.
BROWSER_LIBRARY_RESOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/analytics.js/v1/{writeKey}/analytics.min.js", ("GET",)),
    ("/analytics-next/bundles/{file}", ("GET",)),
    ("/v1/projects/{writeKey}/settings", ("GET",)),
)

# What both kinds of API log of each request: never a path, header or query (write keys live there).
_ACCESS_LOG_COMMON = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
    "sourceIp": "$context.identity.sourceIp",
}
ACCESS_LOG_FIELDS = {"routeKey": "$context.routeKey", **_ACCESS_LOG_COMMON}

# The REST API's access log: the same facts, the resource template instead of the route key, and
# the firewall's verdict and API Gateway's own answer type (THROTTLED, WAF_FILTERED, ...).
REST_ACCESS_LOG_FIELDS = {
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",  # /projects/{writeKey}/settings, never the key
    **_ACCESS_LOG_COMMON,
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
    "wafResponseCode": "$context.wafResponseCode",
}

# Every answer readable by a browser (the handler's CORS_HEADERS), as gateway response header values.
_GATEWAY_CORS = {
    "Access-Control-Allow-Origin": "'*'",
    "Access-Control-Expose-Headers": "'Retry-After, X-RateLimit-Reset'",
}
THROTTLED_RETRY_AFTER_SECONDS = 5  # what the handler asks after its own 503s


@dataclass(frozen=True)
class GatewayAnswer:
    """One of API Gateway's own answers, in the contract's JSON form."""

    type: apigw.ResponseType
    status: str | None  # None: API Gateway's own status (the DEFAULT_* fallbacks)
    code: str
    message: str  # a JSON string, or `$context.error.messageString` (API Gateway's message, quoted)
    retry_after: int | None = None

    @property
    def template(self) -> str:
        return '{"code":"%s","message":%s}' % (self.code, self.message)  # noqa: UP031 - a VTL template

    @property
    def headers(self) -> dict[str, str]:
        headers = {**_GATEWAY_CORS, "Content-Type": "'application/json'"}
        if self.retry_after is not None:
            headers["Retry-After"] = f"'{self.retry_after}'"
            headers["X-RateLimit-Reset"] = f"'{self.retry_after}'"  # what older browser libraries read
        return headers


# The codes are the handler's where it answers the same situation (unknown_path, request_too_large).
GATEWAY_ANSWERS = (
    GatewayAnswer(
        apigw.ResponseType.THROTTLED,
        "429",
        "rate_limited",
        json.dumps("The tracking API of this region is over its request rate; retry later."),
        THROTTLED_RETRY_AFTER_SECONDS,
    ),
    # A core rule set block (the rate rules answer their own 429, which takes precedence).
    GatewayAnswer(
        apigw.ResponseType.WAF_FILTERED, "403", "request_blocked", json.dumps("The firewall blocked this request.")
    ),
    GatewayAnswer(apigw.ResponseType.ACCESS_DENIED, "403", "access_denied", json.dumps("Access denied.")),
    # What a REST API answers to a path or method it has no resource for.
    GatewayAnswer(
        apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
        "404",
        "unknown_path",
        json.dumps("No such endpoint; see the tracking API reference."),
    ),
    GatewayAnswer(
        apigw.ResponseType.REQUEST_TOO_LARGE,
        "413",
        "request_too_large",
        json.dumps(f"The request body is over the {constants.MAX_BATCH_BYTES}-byte limit."),
    ),
    GatewayAnswer(apigw.ResponseType.DEFAULT_4_XX, None, "request_refused", "$context.error.messageString"),
    GatewayAnswer(
        apigw.ResponseType.DEFAULT_5_XX,
        None,
        "gateway_error",
        "$context.error.messageString",
        THROTTLED_RETRY_AFTER_SECONDS,
    ),
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, destination: apigwv2.IAccessLogDestination, format: apigw.AccessLogFormat) -> None:
        self._destination = destination
        self._format = format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class TrackingApi(Construct):
    """The tracking API of a region, of any kind (REST API, HTTP API, load balancer); the rest of the
    stack uses only this facade."""

    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, options: StackOptions
    ) -> None:
        super().__init__(scope, construct_id)
        self._domain = options.api_domain_name
        self.domain_name: apigwv2.DomainName | None = None
        self.http_api: apigwv2.HttpApi | None = None
        self.rest_api: apigw.RestApi | None = None
        self.firewall: TrackingFirewall | None = None
        self.access_logs: logs.LogGroup | None = None
        self.load_balancer: TrackingLoadBalancer | None = None
        self._api: apigw.RestApi | apigwv2.HttpApi | TrackingLoadBalancer
        if options.alb_front_door:
            self.load_balancer = self._api = TrackingLoadBalancer(self, "Alb", handler=handler, options=options)
            return
        if options.custom_domain:
            # A regional API Gateway domain either kind can map to, so `waf` can change without
            # replacing the domain (nor its DNS target, the ApiDomainTarget output).
            self.domain_name = apigwv2.DomainName(
                self,
                "Domain",
                domain_name=options.api_domain_name,
                certificate=acm.Certificate.from_certificate_arn(self, "Certificate", options.api_certificate_arn),
                security_policy=apigwv2.SecurityPolicy.TLS_1_2,
            )
        if options.api_access_logs:
            self.access_logs = logs.LogGroup(
                self,
                "AccessLogs",
                retention=options.log_retention,
                removal_policy=options.removal_policy_except_on_create,
            )
        if options.waf:
            self.rest_api = self._api = self._rest_api(handler, options)
            self.firewall = TrackingFirewall(self, "Firewall", stage=self.rest_api.deployment_stage, options=options)
        else:
            self.http_api = self._api = self._http_api(handler, options)

    def _http_api(self, handler: lambda_.IFunction, options: StackOptions) -> apigwv2.HttpApi:
        api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"switchyard-tracking-{Stack.of(self).region}",
            description="Switchyard tracking API (Segment HTTP Tracking API compatible)",
            create_default_stage=False,
            # With a custom domain, SDKs use only it: the execute-api URL would be a second door
            # around whatever is in front of the domain.
            disable_execute_api_endpoint=options.custom_domain,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=api,  # no stage_name: `$default`, served at the root
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=options.api_rate_limit_per_second, burst_limit=options.api_burst_limit
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
            )
            if self.access_logs
            else None,
            domain_mapping=apigwv2.DomainMappingOptions(domain_name=self.domain_name) if self.domain_name else None,
        )
        integration = HttpLambdaIntegration(
            "Ingest", handler, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
        )
        for methods, path in ROUTES:
            api.add_routes(path=path, methods=list(methods), integration=integration)
        nag.acknowledge_write_key_routes(api)
        if not self.access_logs:
            nag.acknowledge_no_access_logs(self.stage)
        return api

    def _rest_api(self, handler: lambda_.IFunction, options: StackOptions) -> apigw.RestApi:
        api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"switchyard-tracking-{Stack.of(self).region}",
            description="Switchyard tracking API (Segment HTTP Tracking API compatible), behind AWS WAF",
            endpoint_types=[apigw.EndpointType.REGIONAL],  # in the region, like the web ACL
            # Every body reaches Lambda base64-encoded, gzip included (a text body would be mangled),
            # and the pixel's GIF leaves as bytes whatever the client's Accept header.
            binary_media_types=["*/*"],
            disable_execute_api_endpoint=options.custom_domain,
            # The account's API Gateway logging role is the operator's (README, Bootstrap): one per
            # account and region, shared by every REST API in it; this stack neither creates nor changes it.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=constants.REST_API_STAGE,
                throttling_rate_limit=options.api_rate_limit_per_second,
                throttling_burst_limit=options.api_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs) if self.access_logs else None,
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(REST_ACCESS_LOG_FIELDS, separators=(",", ":"))
                )
                if self.access_logs
                else None,
                # No execution logs: they record paths, query strings and headers (write keys,
                # webhook tokens). No per-method metrics: they cost per request. X-Ray traces only
                # with `tracing=sampled`: API Gateway's default sampling rule (1 request/s, then 5%),
                # the samples ingest then records (its PassThrough tracing).
                logging_level=apigw.MethodLoggingLevel.OFF,
                data_trace_enabled=False,
                metrics_enabled=False,
                tracing_enabled=options.tracing == "sampled",
            ),
        )
        self.stage = api.deployment_stage
        # CDK's own output is the stage's URL (https://<id>.execute-api.../v1/), which is not the
        # SDKs' host: ApiEndpoint is (stack.py), and the CLI reads only that.
        api.node.try_remove_child("Endpoint")
        # One integration; CDK gives each method its own invoke permission, scoped to that method
        # of the v1 stage (no test-invoke permission).
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
        for path, methods in (*constants.REST_API_RESOURCES, *BROWSER_LIBRARY_RESOURCES):
            resource = api.root.resource_for_path(path)
            for method in methods:
                resource.add_method(method, integration, authorization_type=apigw.AuthorizationType.NONE)
        for answer in GATEWAY_ANSWERS:
            api.add_gateway_response(
                answer.type.response_type,
                type=answer.type,
                status_code=answer.status,
                response_headers=answer.headers,
                templates={"application/json": answer.template},
            )
        if self.domain_name:
            apigwv2.CfnApiMapping(
                self,
                "DomainMapping",
                api_id=api.rest_api_id,
                domain_name=self.domain_name.name,
                stage=self.stage.stage_name,
                api_mapping_key=constants.REST_API_STAGE,  # https://<domain>/v1/... is the stage's /...
            )
        nag.acknowledge_rest_api(api)
        if not self.access_logs:
            nag.acknowledge_no_access_logs(self.stage)
        return api

    @property
    def endpoint(self) -> str:
        """What SDKs use as `host`: the custom domain if there is one, else the execute-api URL,
        without a stage or path (the REST API's `v1` stage is the `/v1` of every contract path)."""
        if self._domain:  # an API Gateway custom domain, or the load balancer's
            return f"https://{self._domain}"
        if isinstance(self._api, apigw.RestApi):
            stack = Stack.of(self)
            return f"https://{self._api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}"
        return self._api.api_endpoint

    @property
    def domain_target(self) -> str | None:
        """Where the custom domain's CNAME (or Route 53 alias) points, if there is a custom domain."""
        if self.load_balancer is not None:
            return self.load_balancer.dns_name
        return self.domain_name.regional_domain_name if self.domain_name is not None else None

    @property
    def function_webhooks(self) -> str:
        """Where source-function webhooks are: POST <this>/<function id>?token=..."""
        stage = f"/{constants.REST_API_STAGE}" if self.rest_api is not None else ""
        return f"{self.endpoint}{stage}{constants.FUNCTION_WEBHOOK_PATH}"

    # The API's metrics, whichever kind it is (AWS/ApiGateway, a REST API's by ApiName; or the ALB's).

    def metric_requests(self, **options: object) -> cloudwatch.IMetric:
        if isinstance(self._api, TrackingLoadBalancer):
            return self._api.metric_requests(**options)
        return self._api.metric_count(**options)

    def metric_client_errors(self, **options: object) -> cloudwatch.IMetric:
        if isinstance(self._api, TrackingLoadBalancer):
            return self._api.metric_client_errors(**options)
        return self._api.metric_client_error(**options)

    def metric_server_errors(self, **options: object) -> cloudwatch.IMetric:
        if isinstance(self._api, TrackingLoadBalancer):
            return self._api.metric_server_errors(**options)
        return self._api.metric_server_error(**options)

    def metric_latency(self, **options: object) -> cloudwatch.IMetric:
        return self._api.metric_latency(**options)
