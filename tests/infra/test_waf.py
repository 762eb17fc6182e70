"""The tracking API's firewall (`waf=true`, the default): a regional web ACL on the REST API's stage,
rate limits per client address and per write key answering a JSON 429, the core rule set with the
rules analytics traffic trips in Count mode; nothing that puts write keys where they do not belong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.waf import COUNTED_CORE_RULES
from switchyard import constants

from .conftest import DUBLIN, Synthesized, only, resources

pytestmark = pytest.mark.infra


def web_acl(template_json: dict) -> dict[str, Any]:
    return only(template_json, "AWS::WAFv2::WebACL")["Properties"]


def rule(template_json: dict, name: str) -> dict[str, Any]:
    (found,) = [r for r in web_acl(template_json)["Rules"] if r["Name"] == name]
    return found


def test_the_web_acl_is_regional_in_the_stacks_region_and_allows_by_default(template_json: dict, region: str) -> None:
    acl = web_acl(template_json)
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    assert acl["Name"] == acl["VisibilityConfig"]["MetricName"] == f"switchyard-tracking-{region}"


def test_it_protects_the_rest_apis_v1_stage(template_json: dict, region: str) -> None:
    association = only(template_json, "AWS::WAFv2::WebACLAssociation")["Properties"]
    acl_id = next(iter(resources(template_json, "AWS::WAFv2::WebACL")))
    api_id = next(iter(resources(template_json, "AWS::ApiGateway::RestApi")))
    stage_id = next(iter(resources(template_json, "AWS::ApiGateway::Stage")))
    assert association["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert association["ResourceArn"]["Fn::Join"][1] == [
        f"arn:aws:apigateway:{region}::/restapis/",
        {"Ref": api_id},
        "/stages/",
        {"Ref": stage_id},
    ]
    assert template_json["Outputs"][constants.OUTPUT_WEB_ACL]["Value"] == {"Fn::GetAtt": [acl_id, "Arn"]}


def test_rate_rules_come_first_then_the_core_rule_set(template_json: dict) -> None:
    rules = sorted(web_acl(template_json)["Rules"], key=lambda r: r["Priority"])
    assert [r["Name"] for r in rules] == ["per-ip", "per-write-key", "common-rule-set"]


def test_per_client_address_limit(template_json: dict) -> None:
    statement = rule(template_json, "per-ip")["Statement"]["RateBasedStatement"]
    assert statement == {"AggregateKeyType": "IP", "Limit": 10_000, "EvaluationWindowSec": 300}


def test_per_write_key_limit_on_the_authorization_header(template_json: dict) -> None:
    statement = rule(template_json, "per-write-key")["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "CUSTOM_KEYS"
    assert statement["CustomKeys"] == [
        {"Header": {"Name": "authorization", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    ]
    assert (statement["Limit"], statement["EvaluationWindowSec"]) == (150_000, 300)


def test_limits_come_from_the_options(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        assert rule(template_json, "per-ip")["Statement"]["RateBasedStatement"]["Limit"] == 5000
        assert rule(template_json, "per-write-key")["Statement"]["RateBasedStatement"]["Limit"] == 100_000


@pytest.mark.parametrize("name", ["per-ip", "per-write-key"])
def test_a_rate_limited_client_gets_a_json_429_it_can_read_and_retry(template_json: dict, name: str) -> None:
    response = rule(template_json, name)["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    headers = {h["Name"]: h["Value"] for h in response["ResponseHeaders"]}
    assert headers["Retry-After"] == headers["X-RateLimit-Reset"] == "60"
    assert headers["Access-Control-Allow-Origin"] == "*"  # else the browser library sees a network error
    assert set(headers["Access-Control-Expose-Headers"].split(", ")) == {"Retry-After", "X-RateLimit-Reset"}
    assert "Content-Type" not in headers, "set by the body's content type"
    body = web_acl(template_json)["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    content = json.loads(body["Content"])
    assert set(content) == {"code", "message"} and content["code"] == "rate_limited"


def test_the_core_rule_set_counts_what_analytics_payloads_trip(template_json: dict) -> None:
    found = rule(template_json, "common-rule-set")
    assert found["OverrideAction"] == {"None": {}}, "its other rules block"
    group = found["Statement"]["ManagedRuleGroupStatement"]
    assert (group["VendorName"], group["Name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")
    overrides = {o["Name"]: o["ActionToUse"] for o in group["RuleActionOverrides"]}
    assert overrides == {name: {"Count": {}} for name in COUNTED_CORE_RULES}
    for name in ("SizeRestrictions_BODY", "CrossSiteScripting_BODY", "GenericLFI_BODY", "SizeRestrictions_QUERYSTRING"):
        assert name in overrides, name


def test_no_sampled_requests_and_no_logging_so_no_write_keys_leave_the_api(template_json: dict) -> None:
    acl = web_acl(template_json)
    configs = [acl["VisibilityConfig"], *(r["VisibilityConfig"] for r in acl["Rules"])]
    assert all(c["SampledRequestsEnabled"] is False and c["CloudWatchMetricsEnabled"] is True for c in configs)
    assert not resources(template_json, "AWS::WAFv2::LoggingConfiguration")


def test_both_regions_have_their_own(default_app: Synthesized) -> None:
    names = {web_acl(template_json)["Name"] for template_json in default_app.json.values()}
    assert names == {"switchyard-tracking-us-west-2", f"switchyard-tracking-{DUBLIN}"}


def test_none_without_the_option(http_api_app: Synthesized) -> None:
    for template_json in http_api_app.json.values():
        assert not [r for r in template_json["Resources"].values() if r["Type"].startswith("AWS::WAFv2::")]
        assert constants.OUTPUT_WEB_ACL not in template_json["Outputs"]
