"""The tracking API: an HTTP API at the root of its domain, routing the Segment endpoints to ingest.

- Mounted at the root (`$default` stage, no mapping key): @segment/analytics-node drops any path
  prefix of its `host`.
- No API-level CORS: the handler answers preflights and sets CORS headers on every response,
  and API Gateway's own CORS would replace them.
- No authorizer: SDKs authenticate with the source's write key (Basic auth or in the body),
  which the ingest function checks against the config table.
- Access logs never contain the write key: the route *template* (`$context.routeKey`) instead of
  the path (`/v1/projects/<writeKey>/settings`), no headers (Authorization), no query string
  (`/v1/pixel/...?writeKey=`).
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from infra import nag
from infra.options import StackOptions
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
)

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
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
    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, options: StackOptions
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        self._domain = options.api_domain_name
        self.http_api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"switchyard-tracking-{region}",
            description="Switchyard tracking API (Segment HTTP Tracking API compatible)",
            create_default_stage=False,
            # With a custom domain, SDKs use only it: the execute-api URL would be a second door
            # around whatever is in front of the domain.
            disable_execute_api_endpoint=options.custom_domain,
        )
        self.domain_name: apigwv2.DomainName | None = None
        if options.custom_domain:
            self.domain_name = apigwv2.DomainName(
                self,
                "Domain",
                domain_name=options.api_domain_name,
                certificate=acm.Certificate.from_certificate_arn(self, "Certificate", options.api_certificate_arn),
                security_policy=apigwv2.SecurityPolicy.TLS_1_2,
            )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=options.log_retention,
            removal_policy=options.data_removal_policy,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,  # no stage_name: `$default`, served at the root
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=constants.API_THROTTLE_RATE, burst_limit=constants.API_THROTTLE_BURST
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
            ),
            domain_mapping=apigwv2.DomainMappingOptions(domain_name=self.domain_name) if self.domain_name else None,
        )
        integration = HttpLambdaIntegration(
            "Ingest", handler, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
        )
        for methods, path in ROUTES:
            self.http_api.add_routes(path=path, methods=list(methods), integration=integration)
        nag.acknowledge_write_key_routes(self.http_api)

    @property
    def endpoint(self) -> str:
        """What SDKs use as `host`: the custom domain if there is one, else the execute-api URL."""
        if self.domain_name:
            return f"https://{self._domain}"
        return self.http_api.api_endpoint
