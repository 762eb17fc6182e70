"""`front_door=alb`: an Application Load Balancer on the custom domain in front of the same ingest function."""

from __future__ import annotations

from typing import Any

import pytest

from infra.load_balancer import HTTPS_PORT, TARGET_GROUP_NAME

from .conftest import ACCOUNT, OREGON, Synthesized, named, only, resources

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def alb(alb_app: Synthesized) -> dict[str, Any]:
    return alb_app.json[OREGON]


def test_no_api_gateway_and_no_access_log_group(alb: dict[str, Any]) -> None:
    kinds = {resource["Type"] for resource in alb["Resources"].values()}
    assert not {kind for kind in kinds if kind.startswith(("AWS::ApiGateway", "AWS::WAFv2"))}
    assert not [key for key in resources(alb, "AWS::Logs::LogGroup") if "AccessLogs" in key]


def test_an_internet_facing_alb_in_two_public_subnets_that_drops_invalid_headers(alb: dict[str, Any]) -> None:
    balancer = only(alb, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]
    assert (balancer["Scheme"], balancer["Type"], len(balancer["Subnets"])) == ("internet-facing", "application", 2)
    attributes = {item["Key"]: item["Value"] for item in balancer["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["routing.http.desync_mitigation_mode"] == "strictest"
    assert "access_logs.s3.enabled" not in attributes, "an access log would record write keys in URLs"
    subnets = resources(alb, "AWS::EC2::Subnet").values()
    assert sorted(subnet["Properties"]["AvailabilityZone"] for subnet in subnets) == [f"{OREGON}a", f"{OREGON}b"]
    assert not resources(alb, "AWS::EC2::NatGateway")
    assert not resources(alb, "AWS::EC2::Instance")


def test_https_only_with_the_domains_certificate_and_a_tls_1_2_policy(alb: dict[str, Any]) -> None:
    listener = only(alb, "AWS::ElasticLoadBalancingV2::Listener")["Properties"]
    assert (listener["Port"], listener["Protocol"]) == (HTTPS_PORT, "HTTPS")
    assert listener["Certificates"] == [
        {"CertificateArn": f"arn:aws:acm:{OREGON}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"}
    ]
    assert listener["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    assert listener["DefaultActions"][0]["Type"] == "forward", "every path goes to ingest, which answers 404"
    group = only(alb, "AWS::EC2::SecurityGroup")["Properties"]
    assert [(rule["CidrIp"], rule["FromPort"], rule["ToPort"]) for rule in group["SecurityGroupIngress"]] == [
        ("0.0.0.0/0", 443, 443)
    ]
    assert group["SecurityGroupEgress"][0]["Description"] == "Disallow all traffic"


def test_only_this_target_group_may_invoke_ingest(alb: dict[str, Any]) -> None:
    target_group = only(alb, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert target_group["Properties"]["TargetType"] == "lambda"
    assert target_group["Properties"]["Targets"] == [{"Id": {"Fn::GetAtt": [_ingest_id(alb), "Arn"]}}]
    permissions = [
        permission["Properties"]
        for permission in resources(alb, "AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "elasticloadbalancing.amazonaws.com"
    ]
    [permission] = permissions
    assert permission["FunctionName"] == {"Fn::GetAtt": [_ingest_id(alb), "Arn"]}
    assert permission["SourceAccount"] == ACCOUNT
    source = str(permission["SourceArn"])
    assert f"elasticloadbalancing:{OREGON}:{ACCOUNT}:targetgroup/" in source and TARGET_GROUP_NAME in source
    assert target_group["Properties"]["Name"]["Fn::Join"][1][0] == TARGET_GROUP_NAME
    assert "AWS::StackId" in str(target_group["Properties"]["Name"]), "a retried deploy gets a new name"
    assert target_group["DependsOn"], "registered only once the grant exists"


def test_the_domain_is_the_sdks_host_and_points_at_the_load_balancer(alb: dict[str, Any]) -> None:
    outputs = alb["Outputs"]
    assert outputs["ApiEndpoint"]["Value"] == "https://events.example.com"
    balancer_id = next(iter(resources(alb, "AWS::ElasticLoadBalancingV2::LoadBalancer")))
    assert outputs["ApiDomainTarget"]["Value"] == {"Fn::GetAtt": [balancer_id, "DNSName"]}
    assert outputs["FunctionWebhooksUrl"]["Value"].startswith("https://events.example.com/functions")


def test_the_dashboard_and_5xx_alarm_read_the_load_balancers_metrics(alb: dict[str, Any]) -> None:
    alarm = named(alb, "AWS::CloudWatch::Alarm", "ObservabilityApi5xxRate")["Properties"]
    metrics = {
        stat["MetricStat"]["Metric"]["MetricName"]
        for query in alarm["Metrics"]
        for stat in [query]
        if "MetricStat" in stat
    }
    assert metrics == {"RequestCount", "HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"}
    body = str(only(alb, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
    assert "TargetResponseTime" in body and "1000 * seconds_p50" in body


def _ingest_id(template: dict[str, Any]) -> str:
    [key] = [key for key in resources(template, "AWS::Lambda::Function") if key.startswith("IngestFunction")]
    return key
