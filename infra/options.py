"""Deployment options of a regional stack, read from CDK context and validated once.

Every option is a context key, set in ``cdk.json`` (``"context": {...}``) or on the command line
(``npx cdk deploy Switchyard-Dublin -c archive_retention_days=730``). A key applies to every
region; ``<key>:<region>`` overrides it for one region, which is how region-specific values
(a custom domain and its certificate, an existing SNS topic) are given::

    -c api_domain_name:eu-west-1=events.eu.example.com \\
    -c api_certificate_arn:eu-west-1=arn:aws:acm:eu-west-1:123456789012:certificate/...

Keys (defaults in parentheses; the table with explanations is in docs/deploy.md):
`account` (the CLI's), `kinesis_shards` (0 = on-demand), `stream_retention_hours` (168),
`dedupe_window_hours` (24, at least 24), `archive_retention_days` (365), `log_retention_days` (30),
`log_level` (INFO), `config_cache_seconds` (the handler's default), `api_domain_name` and
`api_certificate_arn` (none; together, certificate in the stack's region), `alarm_email` (none),
`alarm_topic_arn` (none; same region), `removal_policy` (`retain`: `cdk destroy` keeps the config
table, the delivery table, the archive, its key and the logs; `destroy` removes them, the archive
once emptied), `router_parallelization` (1: batches processed at once per stream shard, 1-10),
`delivery_max_concurrency` (50: delivery functions the queue may run at once, 2-1000),
`replay_max_concurrency` (10: delivery functions the replay queue may run at once, 2-1000),
`delivery_success_alarm_threshold` (0.95: alarm when the share of deliveries that succeed over
15 minutes falls below it), `workspace` (none: the workspace file whose `functions:` each get their
own Lambda; relative to the project root, or absolute).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.paths import ROOT

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
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12}):")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

KEYS = (
    "kinesis_shards",
    "stream_retention_hours",
    "dedupe_window_hours",
    "archive_retention_days",
    "log_retention_days",
    "log_level",
    "config_cache_seconds",
    "api_domain_name",
    "api_certificate_arn",
    "alarm_email",
    "alarm_topic_arn",
    "removal_policy",
    "router_parallelization",
    "delivery_max_concurrency",
    "replay_max_concurrency",
    "delivery_success_alarm_threshold",
    "workspace",
)

_INT_KEYS = frozenset(
    {
        "kinesis_shards",
        "stream_retention_hours",
        "dedupe_window_hours",
        "archive_retention_days",
        "log_retention_days",
        "router_parallelization",
        "delivery_max_concurrency",
        "replay_max_concurrency",
    }
)
_FLOAT_KEYS = frozenset({"config_cache_seconds", "delivery_success_alarm_threshold"})


class OptionError(ValueError):
    """A context option has a value the stack cannot be built with."""


@dataclass(frozen=True)
class StackOptions:
    region: str
    kinesis_shards: int = 0
    stream_retention_hours: int = 168
    dedupe_window_hours: int = 24
    archive_retention_days: int = 365
    log_retention_days: int = 30
    log_level: str = "INFO"
    config_cache_seconds: float | None = None
    api_domain_name: str | None = None
    api_certificate_arn: str | None = None
    alarm_email: str | None = None
    alarm_topic_arn: str | None = None
    removal_policy: str = "retain"
    router_parallelization: int = 1
    delivery_max_concurrency: int = 50
    replay_max_concurrency: int = 10
    delivery_success_alarm_threshold: float = 0.95
    workspace: str | None = None

    def __post_init__(self) -> None:
        if self.kinesis_shards < 0:
            raise OptionError("kinesis_shards must be 0 (on-demand) or a positive number of shards")
        if not MIN_STREAM_RETENTION_HOURS <= self.stream_retention_hours <= MAX_STREAM_RETENTION_HOURS:
            raise OptionError(
                f"stream_retention_hours must be between {MIN_STREAM_RETENTION_HOURS} and {MAX_STREAM_RETENTION_HOURS}"
            )
        if self.dedupe_window_hours < MIN_DEDUPE_WINDOW_HOURS:
            raise OptionError(
                f"dedupe_window_hours must be at least {MIN_DEDUPE_WINDOW_HOURS} "
                "(SDKs retry for hours; Segment's window is 24 h)"
            )
        if self.archive_retention_days < 1:
            raise OptionError("archive_retention_days must be at least 1")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise OptionError(f"log_retention_days must be one of {LOG_RETENTION_DAYS}")
        if self.log_level not in LOG_LEVELS:
            raise OptionError(f"log_level must be one of {LOG_LEVELS}")
        if self.config_cache_seconds is not None and self.config_cache_seconds < 0:
            raise OptionError("config_cache_seconds must not be negative")
        if bool(self.api_domain_name) != bool(self.api_certificate_arn):
            raise OptionError(
                "api_domain_name and api_certificate_arn go together (per region: "
                f"api_domain_name:{self.region}, api_certificate_arn:{self.region})"
            )
        if self.api_certificate_arn:
            self._check_regional_arn("api_certificate_arn", self.api_certificate_arn, "acm")
        if self.alarm_topic_arn:
            self._check_regional_arn("alarm_topic_arn", self.alarm_topic_arn, "sns")
        if self.alarm_email and not _EMAIL.match(self.alarm_email):
            raise OptionError(f"alarm_email is not an e-mail address: {self.alarm_email!r}")
        if self.removal_policy not in REMOVAL_POLICIES:
            raise OptionError(f"removal_policy must be one of {tuple(REMOVAL_POLICIES)}")
        if not MIN_ROUTER_PARALLELIZATION <= self.router_parallelization <= MAX_ROUTER_PARALLELIZATION:
            raise OptionError(
                f"router_parallelization must be between {MIN_ROUTER_PARALLELIZATION} and "
                f"{MAX_ROUTER_PARALLELIZATION} (Lambda's limit per shard)"
            )
        if not MIN_DELIVERY_CONCURRENCY <= self.delivery_max_concurrency <= MAX_DELIVERY_CONCURRENCY:
            raise OptionError(
                f"delivery_max_concurrency must be between {MIN_DELIVERY_CONCURRENCY} and "
                f"{MAX_DELIVERY_CONCURRENCY} (Lambda's limits for an SQS event source)"
            )
        if not MIN_DELIVERY_CONCURRENCY <= self.replay_max_concurrency <= MAX_DELIVERY_CONCURRENCY:
            raise OptionError(
                f"replay_max_concurrency must be between {MIN_DELIVERY_CONCURRENCY} and "
                f"{MAX_DELIVERY_CONCURRENCY} (Lambda's limits for an SQS event source)"
            )
        if not 0 < self.delivery_success_alarm_threshold <= 1:
            raise OptionError(
                "delivery_success_alarm_threshold is a share of deliveries: more than 0, at most 1 "
                "(0.95 alarms when fewer than 95% succeed)"
            )
        if self.workspace_path is not None and not self.workspace_path.is_file():
            raise OptionError(
                f"workspace: no workspace file at {self.workspace_path} (a path relative to the project "
                f"root {ROOT}, or absolute)"
            )

    def _check_regional_arn(self, key: str, arn: str, service: str) -> None:
        match = _ARN_REGION.match(arn)
        if not match or match["service"] != service:
            raise OptionError(f"{key} is not an {service} ARN: {arn!r}")
        if match["region"] != self.region:
            raise OptionError(
                f"{key} must be in {self.region} (data and its plumbing stay in the region), "
                f"got {match['region']!r}; set it per region as {key}:{self.region}"
            )

    # Derived values the constructs use.

    @property
    def on_demand_stream(self) -> bool:
        return self.kinesis_shards == 0

    @property
    def data_removal_policy(self) -> RemovalPolicy:
        """For what must survive a mistaken `cdk destroy`: config, archive, its key, logs."""
        return REMOVAL_POLICIES[self.removal_policy]

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]

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
        """Coerce context values (strings from `-c`, JSON values from cdk.json) to their types."""
        unknown = set(raw) - set(KEYS)
        if unknown:
            raise OptionError(f"unknown options: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            try:
                if key in _INT_KEYS:
                    values[key] = _to_int(value)
                elif key in _FLOAT_KEYS:
                    values[key] = float(value)
                elif key == "log_level":
                    values[key] = str(value).upper()
                elif key == "removal_policy":
                    values[key] = str(value).lower()
                else:
                    values[key] = str(value).strip()
            except (TypeError, ValueError) as error:
                raise OptionError(f"{key}: cannot read {value!r} ({error})") from error
        return cls(region=region, **values)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not a whole number")
    return int(value)
