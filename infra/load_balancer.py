"""The `front_door=alb` option: an Application Load Balancer in front of the ingest function.

API Gateway bills every request ($1.00 per million for an HTTP API); an ALB bills by the hour and
by load-balancer capacity units, so past a few tens of millions of requests a month it costs a
fraction (README, Cost, prices the break-even). The same ingest function answers: it reads the
ALB's event shape (switchyard.ingest.gateway_event) and its answers need no change.

- HTTPS only, on the custom domain (`api_domain_name`, with `api_certificate_arn`): a listener on
  443 with a TLS 1.2+ policy, no port 80 (SDKs only send HTTPS, and a redirect would drop POST bodies).
  Every path goes to ingest, which answers 404 to anything outside the contract (the browser
  library's files included: the snippet's `/analytics.js/v1/<writeKey>/analytics.min.js` at the root).
- A VPC of two public subnets and nothing else: no NAT gateway, no instances (an ALB must sit in
  two Availability Zones; Lambda targets are invoked by the ALB, not reached over the network, so
  the security group allows no egress at all).
- No access log: an ALB's log records each request's full URL, and write keys travel in
  `/v1/projects/<writeKey>/settings`, the snippet's script path and pixel query strings
  (`api_access_logs` does not apply).
  Requests, errors and latency are the ALB's CloudWatch metrics, in the same dashboard widgets.
- No stage throttle (`api_rate_limit_per_second` does not apply): an ALB scales with its load;
  ingest still answers 503 with Retry-After when the stream refuses writes.
- Invalid header fields are dropped and HTTP desync mitigation is strictest, so what reaches
  ingest is a request any HTTP server would parse the same way.
"""

from __future__ import annotations

import re

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import nag, names
from infra.options import StackOptions

HTTPS_PORT = 443
# Two Availability Zones by name: named, they need no account lookup at synth (an ALB needs two).
AVAILABILITY_ZONE_SUFFIXES = ("a", "b")
TARGET_GROUP_NAME = "switchyard-ingest"
IDLE_TIMEOUT_SECONDS = 60  # keep-alive connections of server SDKs stay open between batches


class TrackingLoadBalancer(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, options: StackOptions
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            availability_zones=[f"{region}{suffix}" for suffix in AVAILABILITY_ZONE_SUFFIXES],
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            restrict_default_security_group=False,  # would add a custom-resource Lambda; nothing uses it
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=self.vpc,
            description="Switchyard tracking API: HTTPS from anywhere, no egress (Lambda targets are invoked)",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "SDKs, over HTTPS")
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=self.vpc,
            internet_facing=True,
            security_group=self.security_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
            desync_mitigation_mode=elbv2.DesyncMitigationMode.STRICTEST,
            http2_enabled=True,
            idle_timeout=Duration.seconds(IDLE_TIMEOUT_SECONDS),
        )
        self.target_group = self._ingest_target(handler)
        self.listener = self.load_balancer.add_listener(
            "Https",
            port=HTTPS_PORT,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[
                elbv2.ListenerCertificate.from_certificate_manager(
                    acm.Certificate.from_certificate_arn(self, "Certificate", options.api_certificate_arn)
                )
            ],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            open=False,  # the security group's one rule above
            default_target_groups=[self.target_group],
        )
        nag.acknowledge_load_balancer(self.load_balancer, self.security_group, self.vpc)

    def _ingest_target(self, handler: lambda_.IFunction) -> elbv2.ApplicationTargetGroup:
        """The target group of the ingest function, which only this target group may invoke.

        CDK's LambdaTarget grants the ELB service principal without a source, which would let any
        target group of the account invoke ingest. The grant here names this target group, by the
        name it is given (its ARN would be a cycle: registering the function needs the grant first).
        """
        stack = Stack.of(self)
        name = Fn.join("-", [TARGET_GROUP_NAME, names.stack_suffix(self)])  # 26 of the 32 characters allowed
        permission = lambda_.CfnPermission(
            self,
            "InvokeIngest",
            action="lambda:InvokeFunction",
            function_name=handler.function_arn,
            principal="elasticloadbalancing.amazonaws.com",
            source_account=stack.account,
            source_arn=Fn.join(
                "",
                [f"arn:{stack.partition}:elasticloadbalancing:{stack.region}:{stack.account}:targetgroup/", name, "/*"],
            ),
        )
        target_group = elbv2.ApplicationTargetGroup(
            self, "Ingest", target_type=elbv2.TargetType.LAMBDA, target_group_name=name
        )
        resource = target_group.node.default_child
        resource.add_property_override("Targets", [{"Id": handler.function_arn}])
        target_group.node.add_dependency(permission)
        return target_group

    @property
    def dns_name(self) -> str:
        return self.load_balancer.load_balancer_dns_name

    # The ALB's metrics in the units and meaning of API Gateway's, for the same dashboard and alarm.

    def metric_requests(self, **options: object) -> cloudwatch.IMetric:
        return self.load_balancer.metrics.request_count(**options)

    def metric_client_errors(self, **options: object) -> cloudwatch.IMetric:
        return self._sum_of("4xx", elbv2.HttpCodeTarget.TARGET_4XX_COUNT, elbv2.HttpCodeElb.ELB_4XX_COUNT, options)

    def metric_server_errors(self, **options: object) -> cloudwatch.IMetric:
        return self._sum_of("5xx", elbv2.HttpCodeTarget.TARGET_5XX_COUNT, elbv2.HttpCodeElb.ELB_5XX_COUNT, options)

    def metric_latency(self, **options: object) -> cloudwatch.IMetric:
        """TargetResponseTime is in seconds; API Gateway's Latency, which the widget expects, in ms."""
        label = options.pop("label", None)
        seconds = self.load_balancer.metrics.target_response_time(**options)
        metric_id = "seconds_" + re.sub(r"\W", "_", seconds.statistic)  # p50 and p99 share a graph
        return cloudwatch.MathExpression(
            expression=f"1000 * {metric_id}", using_metrics={metric_id: seconds}, label=label, period=seconds.period
        )

    def _sum_of(
        self, kind: str, target_code: elbv2.HttpCodeTarget, elb_code: elbv2.HttpCodeElb, options: dict[str, object]
    ) -> cloudwatch.IMetric:
        """What ingest answered plus what the ALB answered itself, each 0 when it has no datapoint (ids
        per kind: a graph holds both kinds, and math ids must be unique in it)."""
        label = options.pop("label", None)
        metrics = self.load_balancer.metrics
        target = metrics.http_code_target(target_code, **options)
        elb = metrics.http_code_elb(elb_code, **options)
        return cloudwatch.MathExpression(
            expression=f"FILL(target{kind}, 0) + FILL(elb{kind}, 0)",
            using_metrics={f"target{kind}": target, f"elb{kind}": elb},
            label=label,
            period=target.period,
        )
