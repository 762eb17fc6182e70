"""Deployment options of a regional stack, read from CDK context and validated once.

Every option is a context key, set in ``cdk.json`` (``"context": {...}``) or on the command line
(``npx cdk deploy Switchyard-Dublin -c archive_retention_days=730``). A key applies to every
region; ``<key>:<region>`` overrides it for one region, which is how region-specific values
(a custom domain and its certificate, an existing SNS topic) are given::

    -c api_domain_name:eu-west-1=events.eu.example.com \\
    -c api_certificate_arn:eu-west-1=arn:aws:acm:eu-west-1:123456789012:certificate/...

Keys (defaults in parentheses; README "Deploy > Options" explains each):
`account` (the CLI's), `kinesis_shards` (0 = on-demand), `stream_retention_hours` (168),
`dedupe_window_hours` (24, at least 24), `archive_retention_days` (365), `log_retention_days` (30),
`log_level` (INFO), `config_cache_seconds` (the handler's default), `api_domain_name` and
`api_certificate_arn` (none; together, certificate in the stack's region), `alarm_email` (none),
`alarm_topic_arn` (none; same region), `removal_policy` (`retain`: `cdk destroy` keeps the config
table, the delivery table, the archive, its key and the logs, and a rolled-back first deploy keeps
the tables and buckets, under names no later stack reuses; `destroy` removes them, the archive
once emptied), `router_parallelization` (1: batches processed at once per stream shard, 1-10),
`delivery_max_concurrency` (50: delivery functions the queue may run at once, 2-1000),
`replay_max_concurrency` (10: delivery functions the replay queue may run at once, 2-1000),
`delivery_success_alarm_threshold` (0.95: alarm when the share of deliveries that succeed over
15 minutes falls below it), `workspace` (none: the workspace file whose `functions:` each get their
own Lambda; relative to the project root, or absolute), `waf` (true: the tracking API is a REST API
behind an AWS WAF web ACL; false: the cheaper HTTP API without one), `waf_ip_limit_per_5_minutes`
(10,000 requests per client address) and `waf_write_key_limit_per_5_minutes` (150,000 requests per
`Authorization` header value): the web ACL's rate-based rules, `api_rate_limit_per_second` (1,000)
and `api_burst_limit` (2,000): the tracking API stage's throttle for the whole region.

Cost levers (issue 14; README "Cost" prices them): `tracing` (`off`: no X-Ray anywhere, no X-Ray
policy; `sampled`: the REST API stage traces with X-Ray's default sampling rule, 1 request/s then
5%, and ingest records the requests it sampled (PassThrough), nothing else traced, `waf=true` only;
`active`: every function samples its own invocations, both workflows traced), `system_log_level`
(`WARN`: Lambda's START/END/REPORT platform lines dropped; `INFO` keeps them, `DEBUG` adds more;
every function logs JSON with `log_level` as its application log level), `api_access_logs` (true:
the tracking API's access log; false: none, and no log group), `dedupe_capacity` (`on_demand`;
`provisioned`: writes auto-scaled at 70% utilization between `dedupe_min_write_capacity` (5) and
`dedupe_max_write_capacity` (4,000), 1 read unit), `router_batching_window_seconds` (1: how long
Lambda gathers stream records before invoking the router, 0-300), `router_batch_size` (500:
most records per router invocation, 1-10,000), `debugger_messages_per_second` (5: the Source
Debugger's messages kept per source and second in each router instance, 0-100, 0 for none),
`delivery_events_per_message` (10: events of one
destination per delivery queue message, 1-50), `stream_compression` (false: each Kinesis record
deflated) and `front_door` (`api_gateway`; `alb`: an Application Load Balancer on the custom
domain in front of ingest, with `waf=false`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.paths import ROOT
from switchyard import constants
from switchyard.debugger import DEFAULT_DEBUGGER_MESSAGES_PER_SECOND, MAX_DEBUGGER_MESSAGES_PER_SECOND

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REMOVAL_POLICIES = {"retain": RemovalPolicy.RETAIN, "destroy": RemovalPolicy.DESTROY}
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
_RETENTION_DAYS = dict(
    zip(
        LOG_RETENTION_DAYS,
        [
            logs.RetentionDays.ONE_DAY,
            logs.RetentionDays.THREE_DAYS,
            logs.RetentionDays.FIVE_DAYS,
            logs.RetentionDays.ONE_WEEK,
            logs.RetentionDays.TWO_WEEKS,
            logs.RetentionDays.ONE_MONTH,
            logs.RetentionDays.TWO_MONTHS,
            logs.RetentionDays.THREE_MONTHS,
            logs.RetentionDays.FOUR_MONTHS,
            logs.RetentionDays.FIVE_MONTHS,
            logs.RetentionDays.SIX_MONTHS,
            logs.RetentionDays.ONE_YEAR,
            logs.RetentionDays.THIRTEEN_MONTHS,
            logs.RetentionDays.EIGHTEEN_MONTHS,
            logs.RetentionDays.TWO_YEARS,
            logs.RetentionDays.THREE_YEARS,
            logs.RetentionDays.FIVE_YEARS,
            logs.RetentionDays.SIX_YEARS,
            logs.RetentionDays.SEVEN_YEARS,
            logs.RetentionDays.EIGHT_YEARS,
            logs.RetentionDays.NINE_YEARS,
            logs.RetentionDays.TEN_YEARS,
        ],
        strict=True,
    )
)
MIN_DEDUPE_WINDOW_HOURS = 24
MIN_STREAM_RETENTION_HOURS = 24
MAX_STREAM_RETENTION_HOURS = 8760
# Lambda's limits for a Kinesis event source's parallelization factor and an SQS source's
# maximum concurrency.
MIN_ROUTER_PARALLELIZATION, MAX_ROUTER_PARALLELIZATION = 1, 10
MIN_DELIVERY_CONCURRENCY, MAX_DELIVERY_CONCURRENCY = 2, 1000
# AWS WAF's bounds for a rate-based rule's limit (requests per evaluation window).
MIN_WAF_RATE_LIMIT, MAX_WAF_RATE_LIMIT = 10, 2_000_000_000
# Lambda's limits for a Kinesis event source's batch size and batching window.
MIN_ROUTER_BATCH_SIZE, MAX_ROUTER_BATCH_SIZE = 1, 10_000
MAX_ROUTER_BATCHING_WINDOW_SECONDS = 300
# Auto-scaled provisioned write capacity of the dedupe table: DynamoDB's default quota of write
# units per table (40,000) bounds the ceiling.
MIN_DEDUPE_WRITE_CAPACITY, MAX_DEDUPE_WRITE_CAPACITY = 1, 40_000
TRACING_MODES = ("off", "sampled", "active")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
DEDUPE_CAPACITY_MODES = ("on_demand", "provisioned")
FRONT_DOORS = ("api_gateway", "alb")
# The options' log levels (Python's) as Lambda's application log levels.
APPLICATION_LOG_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "FATAL"}
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12}):")
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class OptionError(ValueError):
    """A context option has a value the stack cannot be built with."""


def _whole_number(value: Any) -> Any:
    """Context values are strings (`-c`) or JSON values (cdk.json); true/false is not a number."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    return value


def _text(value: Any) -> Any:
    return str(value).strip() if value is not None else None


def _switch(value: Any) -> Any:
    """true/false as JSON (cdk.json) or as text (`-c waf=false`); pydantic also takes on/off, yes/no, 1/0."""
    return value.strip().lower() if isinstance(value, str) else value


def _word(value: Any) -> Any:
    """A choice as text, any case (`-c tracing=Active`, `-c dedupe_capacity=PROVISIONED`)."""
    return str(value).strip().lower() if value is not None else None


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Text = Annotated[str | None, BeforeValidator(_text)]
Switch = Annotated[bool, BeforeValidator(_switch)]


class StackOptions(BaseModel):
    """Every option of a regional stack, typed; each default is stated here and nowhere else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    kinesis_shards: WholeNumber = Field(default=0, ge=0, description="0 (on-demand) or a number of shards")
    stream_retention_hours: WholeNumber = Field(
        default=168, ge=MIN_STREAM_RETENTION_HOURS, le=MAX_STREAM_RETENTION_HOURS
    )
    dedupe_window_hours: WholeNumber = Field(
        default=24, ge=MIN_DEDUPE_WINDOW_HOURS, description="SDKs retry for hours; Segment's window is 24 h"
    )
    archive_retention_days: WholeNumber = Field(default=365, ge=1)
    log_retention_days: WholeNumber = 30
    log_level: Annotated[Literal[LOG_LEVELS], BeforeValidator(lambda value: str(value).strip().upper())] = "INFO"
    config_cache_seconds: float | None = Field(default=None, ge=0)
    api_domain_name: Text = None
    api_certificate_arn: Text = None
    alarm_email: Annotated[Text, Field(pattern=_EMAIL)] = None
    alarm_topic_arn: Text = None
    removal_policy: Annotated[
        Literal[tuple(REMOVAL_POLICIES)], BeforeValidator(lambda value: str(value).strip().lower())
    ] = "retain"
    router_parallelization: WholeNumber = Field(
        default=1, ge=MIN_ROUTER_PARALLELIZATION, le=MAX_ROUTER_PARALLELIZATION, description="Lambda's limit per shard"
    )
    delivery_max_concurrency: WholeNumber = Field(
        default=50, ge=MIN_DELIVERY_CONCURRENCY, le=MAX_DELIVERY_CONCURRENCY, description="Lambda's SQS limits"
    )
    replay_max_concurrency: WholeNumber = Field(
        default=10, ge=MIN_DELIVERY_CONCURRENCY, le=MAX_DELIVERY_CONCURRENCY, description="Lambda's SQS limits"
    )
    delivery_success_alarm_threshold: float = Field(
        default=0.95, gt=0, le=1, description="a share of deliveries (0.95 alarms when fewer than 95% succeed)"
    )
    workspace: Text = None
    # The tracking API's firewall (infra/waf.py). The defaults come from how clients send: the browser
    # library posts one request per event, so a busy tab makes a few hundred requests in 5 minutes,
    # and 10,000 leaves room for an office or a mobile carrier's NAT with ~300 people active at once
    # (or a server fleet behind one NAT gateway at ~33 requests/s), while one address can take at most
    # a thirtieth of the stage's 1,000 requests/s. One write key (in `Authorization`) may use half
    # the stage, so no single source, leaked key or runaway retry loop can starve the others.
    waf: Switch = Field(default=True, description="true: REST API behind AWS WAF; false: HTTP API, no WAF")
    waf_ip_limit_per_5_minutes: WholeNumber = Field(
        default=10_000, ge=MIN_WAF_RATE_LIMIT, le=MAX_WAF_RATE_LIMIT, description="requests per client address"
    )
    waf_write_key_limit_per_5_minutes: WholeNumber = Field(
        default=150_000,
        ge=MIN_WAF_RATE_LIMIT,
        le=MAX_WAF_RATE_LIMIT,
        description="requests per Authorization header value",
    )
    # The stage's throttle, for the whole region (Segment asks clients to stay under 1,000 requests/s
    # per workspace); over it API Gateway answers 429, behind the firewall in the JSON error shape.
    # The account's API Gateway quota in the region (10,000 requests/s, bursts of 5,000, unless AWS
    # raised it) caps whatever is set here, and is shared with every other API of the account.
    api_rate_limit_per_second: WholeNumber = Field(default=1000, ge=1, description="requests per second, region-wide")
    api_burst_limit: WholeNumber = Field(default=2000, ge=1, description="requests a burst may take at once")
    # Cost levers (issue 14). Tracing: X-Ray bills every trace recorded. With `active`, every function
    # samples its own invocations (1 request/s then 5% each, X-Ray's default rule) and the workflows
    # trace too; `sampled` keeps a view of the tracking API path only (the REST API stage samples
    # with that rule, ingest records what it sampled), a fraction of the traces.
    tracing: Annotated[Literal[TRACING_MODES], BeforeValidator(_word)] = Field(
        default="off", description="off | sampled (waf=true only) | active"
    )
    # Lambda's own platform lines (START, END, REPORT: three per invocation) are logged at INFO;
    # WARN keeps only platform warnings and errors (time-outs, crashes, init errors).
    system_log_level: Annotated[
        Literal[SYSTEM_LOG_LEVELS], BeforeValidator(lambda value: str(value).strip().upper())
    ] = Field(default="WARN", description="DEBUG | INFO | WARN: Lambda's platform log lines")
    api_access_logs: Switch = Field(default=True, description="true: the tracking API's access log; false: none")
    # The dedupe table takes one conditional write per event; provisioned writes at the 70% target
    # cost about 40% of on-demand ones at a steady load (us-west-2 list prices), more while capacity
    # idles at its floor. DynamoDB allows switching a table to provisioned once a day.
    dedupe_capacity: Annotated[Literal[DEDUPE_CAPACITY_MODES], BeforeValidator(_word)] = Field(
        default="on_demand", description="on_demand | provisioned (auto-scaled writes)"
    )
    dedupe_min_write_capacity: WholeNumber = Field(
        default=5, ge=MIN_DEDUPE_WRITE_CAPACITY, le=MAX_DEDUPE_WRITE_CAPACITY, description="write units"
    )
    dedupe_max_write_capacity: WholeNumber = Field(
        default=4000, ge=MIN_DEDUPE_WRITE_CAPACITY, le=MAX_DEDUPE_WRITE_CAPACITY, description="write units"
    )
    # The router's Kinesis event source: a longer window fills larger batches at low volume (fewer
    # invocations and archive objects) and delays every event by up to that long.
    router_batching_window_seconds: WholeNumber = Field(
        default=constants.ROUTER_BATCHING_WINDOW_SECONDS,
        ge=0,
        le=MAX_ROUTER_BATCHING_WINDOW_SECONDS,
        description="Lambda's limit for a Kinesis source",
    )
    router_batch_size: WholeNumber = Field(
        default=constants.ROUTER_BATCH_SIZE,
        ge=MIN_ROUTER_BATCH_SIZE,
        le=MAX_ROUTER_BATCH_SIZE,
        description="Lambda's limit for a Kinesis source",
    )
    # The Source Debugger (switchyard.debugger): messages the router keeps per source and second, in
    # each router instance (one per shard, times router_parallelization); 0 writes none. Each
    # batch costs at most one S3 PUT per source (README "Debugger").
    debugger_messages_per_second: WholeNumber = Field(
        default=DEFAULT_DEBUGGER_MESSAGES_PER_SECOND,
        ge=0,
        le=MAX_DEBUGGER_MESSAGES_PER_SECOND,
        description="messages per source and second, per router instance",
    )
    # Events of one destination per delivery queue message: SQS bills each send slot, receive and
    # delete once for all of them; the delivery event source takes 50 // this many messages at once.
    delivery_events_per_message: WholeNumber = Field(
        default=constants.DELIVERY_EVENTS_PER_MESSAGE,
        ge=1,
        le=constants.MAX_DELIVERY_EVENTS_PER_MESSAGE,
        description="events of one destination per SQS message",
    )
    # Each stream record deflated with a preset dictionary of Segment's field names (switchyard.
    # stream_codec): a 1.5 KB event is billed as one 1 KB unit by an on-demand stream instead of
    # two, for several microseconds of ingest CPU per event (`make bench` prices it). Sized
    # provisioned shards gain only when bytes, not records, set their number.
    stream_compression: Switch = Field(default=False, description="true: deflate each Kinesis record")
    # What receives the SDKs' requests: API Gateway (the kind `waf` picks), or an Application Load
    # Balancer in front of the same ingest function, cheaper from ~30M requests a month (README,
    # Cost). The ALB serves only HTTPS on the custom domain, so it needs api_domain_name and
    # api_certificate_arn, and has no stage throttle (api_rate_limit_per_second does not apply).
    front_door: Annotated[Literal[FRONT_DOORS], BeforeValidator(_word)] = Field(
        default="api_gateway", description="api_gateway | alb (needs api_domain_name, api_certificate_arn)"
    )

    @field_validator("log_retention_days")
    @classmethod
    def _a_retention_cloudwatch_accepts(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {LOG_RETENTION_DAYS}")
        return days

    @model_validator(mode="after")
    def _consistent(self) -> StackOptions:
        if bool(self.api_domain_name) != bool(self.api_certificate_arn):
            raise ValueError(
                "api_domain_name and api_certificate_arn go together (per region: "
                f"api_domain_name:{self.region}, api_certificate_arn:{self.region})"
            )
        if self.api_certificate_arn:
            self._check_regional_arn("api_certificate_arn", self.api_certificate_arn, "acm")
        if self.alarm_topic_arn:
            self._check_regional_arn("alarm_topic_arn", self.alarm_topic_arn, "sns")
        if self.tracing == "sampled" and not self.waf:
            raise ValueError(
                "tracing=sampled needs waf=true: the samples are taken by the REST API's stage, and an HTTP "
                "API (waf=false) cannot trace; use tracing=active (every function samples its own) or off"
            )
        if self.alb_front_door and not self.custom_domain:
            raise ValueError(
                "front_door=alb serves HTTPS on the custom domain only (an ALB's own host name cannot "
                "have a certificate): set api_domain_name and api_certificate_arn for this region"
            )
        if self.alb_front_door and self.waf:
            raise ValueError(
                "front_door=alb needs waf=false: the firewall answers its blocks in the contract's JSON "
                "only through the REST API's gateway responses"
            )
        if self.dedupe_min_write_capacity > self.dedupe_max_write_capacity:
            raise ValueError(
                f"dedupe_min_write_capacity ({self.dedupe_min_write_capacity}) is above "
                f"dedupe_max_write_capacity ({self.dedupe_max_write_capacity})"
            )
        if self.workspace_path is not None and not self.workspace_path.is_file():
            raise ValueError(
                f"workspace: no workspace file at {self.workspace_path} (a path relative to the project "
                f"root {ROOT}, or absolute)"
            )
        return self

    def _check_regional_arn(self, key: str, arn: str, service: str) -> None:
        match = _ARN_REGION.match(arn)
        if not match or match["service"] != service:
            raise ValueError(f"{key} is not an {service} ARN: {arn!r}")
        if match["region"] != self.region:
            raise ValueError(
                f"{key} must be in {self.region} (data and its plumbing stay in the region), "
                f"got {match['region']!r}; set it per region as {key}:{self.region}"
            )

    # Derived values the constructs use.

    @property
    def on_demand_stream(self) -> bool:
        return self.kinesis_shards == 0

    @property
    def data_removal_policy(self) -> RemovalPolicy:
        """For what must survive a mistaken `cdk destroy`: the config and delivery tables, the archive
        and its access logs bucket."""
        return REMOVAL_POLICIES[self.removal_policy]

    @property
    def removal_policy_except_on_create(self) -> RemovalPolicy:
        """For the archive key and the log groups: kept like data, except that CloudFormation deletes
        them when the operation that created them rolls back (RetainExceptOnCreate), so a failed
        first deploy leaves none behind. Not for the tables (their deletion protection would fail
        the rollback) nor the buckets (S3 deletes no bucket that holds objects, and access logs
        arrive within minutes): those are kept, under names a retry does not reuse (infra/names.py)."""
        if self.data_removal_policy == RemovalPolicy.RETAIN:
            return RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
        return self.data_removal_policy

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]

    @property
    def application_log_level(self) -> str:
        """`log_level` as Lambda's application log level (WARNING is WARN, CRITICAL is FATAL)."""
        return APPLICATION_LOG_LEVELS[self.log_level]

    @property
    def provisioned_dedupe(self) -> bool:
        return self.dedupe_capacity == "provisioned"

    @property
    def alb_front_door(self) -> bool:
        return self.front_door == "alb"

    @property
    def custom_domain(self) -> bool:
        return bool(self.api_domain_name)

    @property
    def workspace_path(self) -> Path | None:
        """The workspace file whose functions get their Lambdas (relative paths: to the project root)."""
        if not self.workspace:
            return None
        path = Path(self.workspace).expanduser()
        return path if path.is_absolute() else ROOT / path

    @classmethod
    def from_context(cls, scope: Construct, region: str) -> StackOptions:
        """Read every option for `region` from the context of `scope` (`<key>:<region>` wins)."""
        raw: dict[str, Any] = {}
        for key in KEYS:
            value = scope.node.try_get_context(f"{key}:{region}")
            if value is None:
                value = scope.node.try_get_context(key)
            if value is not None and value != "":
                raw[key] = value
        return cls.parse(region, raw)

    @classmethod
    def parse(cls, region: str, raw: dict[str, Any]) -> StackOptions:
        """Options from context values (strings from `-c`, JSON values from cdk.json), or OptionError
        naming every option that is wrong."""
        try:
            return cls.model_validate({**raw, "region": region})
        except ValidationError as error:
            problems = []
            for problem in error.errors():
                key = ".".join(str(part) for part in problem["loc"]) or "options"
                message = problem["msg"].removeprefix("Value error, ")
                if problem["type"] == "extra_forbidden":
                    message = "unknown option"
                description = cls.model_fields[key].description if key in cls.model_fields else None
                problems.append(f"{key}: {message}" + (f" ({description})" if description else ""))
            raise OptionError("; ".join(problems)) from error


# The context keys: every option but the region, which comes from the stack.
KEYS = tuple(name for name in StackOptions.model_fields if name != "region")
