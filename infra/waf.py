"""The tracking API's firewall (the `waf` option): a regional AWS WAF web ACL on the REST API's stage.

Rules, in the order WAF evaluates them:

1. `per-ip`: a rate-based rule per client address (`waf_ip_limit_per_5_minutes`). The browser
   library's traffic carries its write key in the body, which no WAF rule can key on, so this is
   the rule that bounds browsers (and everyone else).
2. `per-write-key`: a rate-based rule per `Authorization` header value
   (`waf_write_key_limit_per_5_minutes`): server SDKs send the write key as HTTP Basic. Requests
   without the header are not counted by it (AWS WAF omits requests that lack an aggregation key).
   It bounds one honest key (a runaway retry loop, a leaked key replayed as is); it cannot stop a
   deliberate attacker, who can spell one key many ways (the Basic password part is ignored).
3. `common-rule-set`: AWS's core rule set, with the rules that legitimate analytics traffic trips
   switched to Count (see COUNTED_CORE_RULES); what it still blocks gets WAF's 403, which the
   REST API's `WAF_FILTERED` gateway response words as JSON.

A rate rule's block answers `429 {"code": "rate_limited", ...}` itself, with `Retry-After`,
`X-RateLimit-Reset` (read by the browser library's batching) and CORS headers, so the browser library sees a
429 it retries, not a network error. WAF checks rates about every 10 s over the trailing 5 minutes:
a client over its limit is blocked within seconds and stays blocked while it stays over.

Sampled requests are off: WAF would keep full requests, with their `Authorization` headers (server
write keys) and query strings (webhook tokens), visible in the console. Metrics are on, per rule,
so the dashboard shows what each rule blocks or counts. Nothing here leaves the region: the web ACL
is REGIONAL, in the stack's region, and has no logging destination.
"""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.options import StackOptions

RATE_WINDOW_SECONDS = 300  # the limits are per 5 minutes (AWS WAF's default window)
# A client blocked by a rate rule stays blocked until its count over the trailing window falls
# under the limit; WAF re-checks about every 10 s. A minute is the least useful wait.
RATE_LIMITED_RETRY_AFTER_SECONDS = 60
RATE_LIMITED_BODY_KEY = "rate_limited"
RATE_LIMITED_BODY = {
    "code": "rate_limited",
    "message": "Too many requests from this client (address or write key); retry later.",
}
# CORS, so a browser can read the 429 and its headers (the handler's CORS_HEADERS, plus the header
# older browser-library versions read instead of Retry-After).
RATE_LIMITED_HEADERS = {
    "Retry-After": str(RATE_LIMITED_RETRY_AFTER_SECONDS),
    "X-RateLimit-Reset": str(RATE_LIMITED_RETRY_AFTER_SECONDS),
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After, X-RateLimit-Reset",
}

PER_IP_RULE = "per-ip"
PER_WRITE_KEY_RULE = "per-write-key"
COMMON_RULE_SET_RULE = "common-rule-set"
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"

# Core rule set rules overridden to Count: each would block legitimate tracking calls, and a block
# is a 403, which SDKs do not retry, so the whole batch would be lost for one odd property.
COUNTED_CORE_RULES = {
    # Any body over 8 KB, a fixed size: batches are up to 500 KB (server SDKs fill them to ~500 KB,
    # the browser library's batching to ~450 KB); the handler enforces the real limits.
    "SizeRestrictions_BODY": "batches are up to 512 KiB",
    # Long query strings: a pixel's `?data=` is a whole base64 message (messages are up to 32 KB).
    "SizeRestrictions_QUERYSTRING": "pixel `data=` carries a whole message",
    # `<script>`, `javascript:`, event handlers... in free-form properties, traits, page titles and
    # URLs, search terms: analytics records what visitors typed, attacks included, and nothing in
    # the pipeline renders it.
    "CrossSiteScripting_BODY": "free-form properties may hold markup",
    # `../` and friends in page paths, referrers and file names sent as properties.
    "GenericLFI_BODY": "page paths and referrers may hold ../",
    # URLs with an IPv4 address (intranet pages, referrers) in properties.
    "GenericRFI_BODY": "URLs with IP addresses are common property values",
    # 169.254.169.254 in a property (a URL someone entered): the pipeline never fetches event URLs.
    "EC2MetaDataSSRF_BODY": "the pipeline never fetches URLs from events",
    # Server HTTP clients and webhook callers (payment providers, CRMs) need not send a User-Agent;
    # the tracking API contract does not ask for one.
    "NoUserAgent_HEADER": "server clients and webhook callers may send none",
}


# The header exactly as sent: the same key always spelled the same way by a given client.
_AS_SENT = wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    """Per-rule metrics: their `Rule` dimension is the rule's metric name, `WebACL` the web ACL's."""
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=False
    )


def _rate_limited() -> wafv2.CfnWebACL.RuleActionProperty:
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=429,
                custom_response_body_key=RATE_LIMITED_BODY_KEY,
                response_headers=[
                    wafv2.CfnWebACL.CustomHTTPHeaderProperty(name=name, value=value)
                    for name, value in RATE_LIMITED_HEADERS.items()
                ],
            )
        )
    )


class TrackingFirewall(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: apigw.Stage, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        # The name is the `WebACL` dimension of its CloudWatch metrics (the dashboard searches it).
        self.web_acl_name = f"switchyard-tracking-{region}"
        per_ip = wafv2.CfnWebACL.RuleProperty(
            name=PER_IP_RULE,
            priority=0,
            action=_rate_limited(),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP",
                    limit=options.waf_ip_limit_per_5_minutes,
                    evaluation_window_sec=RATE_WINDOW_SECONDS,
                )
            ),
            visibility_config=_visibility(PER_IP_RULE),
        )
        per_write_key = wafv2.CfnWebACL.RuleProperty(
            name=PER_WRITE_KEY_RULE,
            priority=1,
            action=_rate_limited(),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="CUSTOM_KEYS",
                    custom_keys=[
                        wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                            header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                                name="authorization",
                                text_transformations=[_AS_SENT],
                            )
                        )
                    ],
                    limit=options.waf_write_key_limit_per_5_minutes,
                    evaluation_window_sec=RATE_WINDOW_SECONDS,
                )
            ),
            visibility_config=_visibility(PER_WRITE_KEY_RULE),
        )
        common_rule_set = wafv2.CfnWebACL.RuleProperty(
            name=COMMON_RULE_SET_RULE,
            priority=2,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS",
                    name=COMMON_RULE_SET,
                    rule_action_overrides=[
                        wafv2.CfnWebACL.RuleActionOverrideProperty(
                            name=rule,
                            action_to_use=wafv2.CfnWebACL.RuleActionProperty(
                                count=wafv2.CfnWebACL.CountActionProperty()
                            ),
                        )
                        for rule in COUNTED_CORE_RULES
                    ],
                )
            ),
            visibility_config=_visibility(COMMON_RULE_SET_RULE),
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=self.web_acl_name,
            description="Switchyard tracking API: rate limits per client address and per write key, AWS core rules",
            scope="REGIONAL",  # in the stack's region, like the API it protects
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            custom_response_bodies={
                RATE_LIMITED_BODY_KEY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=json.dumps(RATE_LIMITED_BODY, separators=(",", ":"))
                )
            },
            rules=[per_ip, per_write_key, common_rule_set],
            visibility_config=_visibility(self.web_acl_name),
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
