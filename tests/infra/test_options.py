"""Context options: parsed from strings or JSON, validated once, per-region overrides."""

from __future__ import annotations

import pytest
from aws_cdk import App, RemovalPolicy

from app import cdk_json_context
from infra.options import OptionError, StackOptions
from switchyard import constants

from .conftest import DUBLIN, OREGON

pytestmark = pytest.mark.infra

CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"


def test_defaults_are_on_demand_seven_days_and_retained() -> None:
    options = StackOptions(region=DUBLIN)
    assert options.on_demand_stream
    assert options.stream_retention_hours == 168
    assert options.data_removal_policy == RemovalPolicy.RETAIN


def test_retained_data_survives_destroy_and_logs_and_key_also_a_failed_create() -> None:
    assert StackOptions(region=DUBLIN).removal_policy_except_on_create == RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    disposable = StackOptions.parse(DUBLIN, {"removal_policy": "destroy"})
    assert disposable.removal_policy_except_on_create == RemovalPolicy.DESTROY


def test_the_api_throttle_defaults_to_1000_per_second_with_bursts_of_2000() -> None:
    defaults = StackOptions(region=DUBLIN)
    assert (defaults.api_rate_limit_per_second, defaults.api_burst_limit) == (1000, 2000)
    options = StackOptions.parse(DUBLIN, {"api_rate_limit_per_second": "5000", "api_burst_limit": 5000})
    assert (options.api_rate_limit_per_second, options.api_burst_limit) == (5000, 5000)


def test_values_from_the_command_line_are_coerced() -> None:
    options = StackOptions.parse(
        DUBLIN,
        {
            "kinesis_shards": "4",
            "log_level": "debug",
            "config_cache_seconds": "2.5",
            "removal_policy": "DESTROY",
        },
    )
    assert (options.kinesis_shards, options.log_level, options.config_cache_seconds) == (4, "DEBUG", 2.5)
    assert options.data_removal_policy == RemovalPolicy.DESTROY


def test_router_delivery_and_replay_defaults_and_coercion() -> None:
    defaults = StackOptions(region=DUBLIN)
    assert defaults.router_parallelization == 1
    assert defaults.delivery_max_concurrency == 50
    assert defaults.replay_max_concurrency == 10
    assert defaults.delivery_success_alarm_threshold == 0.95
    options = StackOptions.parse(
        DUBLIN,
        {
            "router_parallelization": "10",
            "delivery_max_concurrency": "1000",
            "replay_max_concurrency": "2",
            "delivery_success_alarm_threshold": "0.99",
        },
    )
    assert options.router_parallelization == 10
    assert options.delivery_max_concurrency == 1000
    assert options.replay_max_concurrency == 2
    assert options.delivery_success_alarm_threshold == 0.99


def test_the_firewall_is_on_by_default_with_limits_per_address_and_per_write_key() -> None:
    defaults = StackOptions(region=DUBLIN)
    assert defaults.waf is True
    assert defaults.waf_ip_limit_per_5_minutes == 10_000
    assert defaults.waf_write_key_limit_per_5_minutes == 150_000


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("off", False), (False, False), ("true", True)])
def test_the_firewall_switch_from_the_command_line(value: object, expected: bool) -> None:
    assert StackOptions.parse(OREGON, {"waf": value}).waf is expected


def test_firewall_limits_are_coerced() -> None:
    options = StackOptions.parse(
        OREGON, {"waf_ip_limit_per_5_minutes": "2000", "waf_write_key_limit_per_5_minutes": 30000}
    )
    assert (options.waf_ip_limit_per_5_minutes, options.waf_write_key_limit_per_5_minutes) == (2000, 30000)


def test_cdk_json_states_the_defaults() -> None:
    context = cdk_json_context()
    defaults = StackOptions(region=DUBLIN)
    for key in (
        "router_parallelization",
        "delivery_max_concurrency",
        "replay_max_concurrency",
        "delivery_success_alarm_threshold",
        "waf",
        "waf_ip_limit_per_5_minutes",
        "waf_write_key_limit_per_5_minutes",
    ):
        assert context[key] == getattr(defaults, key), key


def test_a_region_suffixed_key_overrides_the_plain_key_for_that_region_only() -> None:
    app = App(context={"archive_retention_days": 100, f"archive_retention_days:{DUBLIN}": 30})
    assert StackOptions.from_context(app, DUBLIN).archive_retention_days == 30
    assert StackOptions.from_context(app, OREGON).archive_retention_days == 100


@pytest.mark.parametrize(
    "raw",
    [
        {"kinesis_shards": -1},
        {"kinesis_shards": "two"},
        {"kinesis_shards": 1.5},
        {"stream_retention_hours": 12},
        {"dedupe_window_hours": 1},
        {"archive_retention_days": 0},
        {"log_retention_days": 31},
        {"log_level": "LOUD"},
        {"removal_policy": "snapshot"},
        {"alarm_email": "not-an-address"},
        {"api_domain_name": "events.example.com"},  # without its certificate
        {"api_certificate_arn": CERT},  # without its domain
        {"unknown_option": 1},
        {"router_parallelization": 0},
        {"router_parallelization": 11},
        {"delivery_max_concurrency": 1},  # Lambda's minimum for an SQS source is 2
        {"delivery_max_concurrency": 1001},
        {"replay_max_concurrency": 1},
        {"replay_max_concurrency": 1001},
        {"replay_max_concurrency": "ten"},
        {"delivery_success_alarm_threshold": 0},
        {"delivery_success_alarm_threshold": 95},  # a share, not a percentage
        {"waf": "maybe"},
        {"waf_ip_limit_per_5_minutes": 9},  # AWS WAF's smallest rate limit is 10
        {"waf_ip_limit_per_5_minutes": 2_000_000_001},  # and its largest 2,000,000,000
        {"waf_ip_limit_per_5_minutes": True},
        {"waf_write_key_limit_per_5_minutes": 0},
        {"waf_write_key_limit_per_5_minutes": "lots"},
        {"api_rate_limit_per_second": 0},
        {"api_rate_limit_per_second": "fast"},
        {"api_rate_limit_per_second": True},
        {"api_burst_limit": 0},
        {"api_burst_limit": 2.5},
        {"tracing": "on"},
        {"tracing": True},
        {"system_log_level": "ERROR"},  # Lambda's system log levels stop at WARN
        {"system_log_level": "WARNING"},
        {"api_access_logs": "maybe"},
        {"dedupe_capacity": "reserved"},
        {"dedupe_min_write_capacity": 0},
        {"dedupe_max_write_capacity": 40_001},  # DynamoDB's default per-table quota
        {"dedupe_max_write_capacity": True},
        {"router_batch_size": 0},
        {"router_batch_size": 10_001},  # Lambda's limit for a Kinesis source
        {"router_batch_size": "many"},
        {"router_batching_window_seconds": -1},
        {"router_batching_window_seconds": 301},  # Lambda's limit for a Kinesis source
        {"router_batching_window_seconds": 1.5},
    ],
)
def test_invalid_options_are_refused_before_anything_is_built(raw: dict) -> None:
    with pytest.raises(OptionError):
        StackOptions.parse(DUBLIN, raw)


def test_a_certificate_from_another_region_is_refused() -> None:
    with pytest.raises(OptionError, match="must be in us-west-2"):
        StackOptions.parse(OREGON, {"api_domain_name": "events.example.com", "api_certificate_arn": CERT})


def test_an_alarm_topic_from_another_region_is_refused() -> None:
    with pytest.raises(OptionError, match="must be in eu-west-1"):
        StackOptions.parse(DUBLIN, {"alarm_topic_arn": "arn:aws:sns:us-east-1:123456789012:alarms"})


def test_a_matching_domain_and_certificate_are_accepted() -> None:
    options = StackOptions.parse(DUBLIN, {"api_domain_name": "events.eu.example.com", "api_certificate_arn": CERT})
    assert options.custom_domain


# The cost levers (issue 14).


def test_the_cost_levers_default_to_no_tracing_quiet_platform_logs_on_demand_dedupe_and_today_s_batches() -> None:
    defaults = StackOptions(region=DUBLIN)
    assert defaults.tracing == "off"
    assert defaults.system_log_level == "WARN"
    assert defaults.api_access_logs is True
    assert (defaults.dedupe_capacity, defaults.provisioned_dedupe) == ("on_demand", False)
    assert (defaults.dedupe_min_write_capacity, defaults.dedupe_max_write_capacity) == (5, 4000)
    # The router's batching defaults have one home: the domain constants.
    assert defaults.router_batch_size == constants.ROUTER_BATCH_SIZE == 500
    assert defaults.router_batching_window_seconds == constants.ROUTER_BATCHING_WINDOW_SECONDS == 1


def test_the_cost_levers_from_the_command_line_are_coerced() -> None:
    options = StackOptions.parse(
        DUBLIN,
        {
            "tracing": "Active",
            "system_log_level": "info",
            "api_access_logs": "false",
            "dedupe_capacity": "PROVISIONED",
            "dedupe_min_write_capacity": "1",
            "dedupe_max_write_capacity": "40000",
            "router_batch_size": "10000",
            "router_batching_window_seconds": "300",
        },
    )
    assert (options.tracing, options.system_log_level, options.api_access_logs) == ("active", "INFO", False)
    assert options.provisioned_dedupe
    assert (options.dedupe_min_write_capacity, options.dedupe_max_write_capacity) == (1, 40_000)
    assert (options.router_batch_size, options.router_batching_window_seconds) == (10_000, 300)
    assert StackOptions.parse(DUBLIN, {"router_batching_window_seconds": 0}).router_batching_window_seconds == 0


@pytest.mark.parametrize(
    ("log_level", "lambda_level"),
    [("DEBUG", "DEBUG"), ("INFO", "INFO"), ("WARNING", "WARN"), ("ERROR", "ERROR"), ("CRITICAL", "FATAL")],
)
def test_log_level_becomes_lambdas_application_log_level(log_level: str, lambda_level: str) -> None:
    assert StackOptions.parse(DUBLIN, {"log_level": log_level}).application_log_level == lambda_level


def test_sampled_tracing_needs_the_rest_api() -> None:
    assert StackOptions.parse(DUBLIN, {"tracing": "sampled"}).tracing == "sampled"  # waf=true by default
    with pytest.raises(OptionError, match=r"tracing=sampled needs waf=true: .*HTTP API \(waf=false\) cannot trace"):
        StackOptions.parse(DUBLIN, {"tracing": "sampled", "waf": "false"})
    assert StackOptions.parse(DUBLIN, {"tracing": "active", "waf": "false"}).tracing == "active"


def test_the_dedupe_floor_cannot_exceed_its_ceiling() -> None:
    with pytest.raises(
        OptionError, match=r"dedupe_min_write_capacity \(500\) is above dedupe_max_write_capacity \(100\)"
    ):
        StackOptions.parse(DUBLIN, {"dedupe_min_write_capacity": 500, "dedupe_max_write_capacity": 100})
    options = StackOptions.parse(DUBLIN, {"dedupe_min_write_capacity": 100, "dedupe_max_write_capacity": 100})
    assert options.dedupe_min_write_capacity == options.dedupe_max_write_capacity == 100


def test_compression_is_off_and_api_gateway_the_front_door_by_default() -> None:
    defaults = StackOptions(region=DUBLIN)
    assert (defaults.stream_compression, defaults.front_door, defaults.alb_front_door) == (False, "api_gateway", False)
    assert StackOptions.parse(DUBLIN, {"stream_compression": "true"}).stream_compression is True


def test_the_load_balancer_serves_the_custom_domain_without_the_firewall() -> None:
    domain = {"api_domain_name": "events.eu.example.com", "api_certificate_arn": CERT}
    options = StackOptions.parse(DUBLIN, {"front_door": "ALB", "waf": "false", **domain})
    assert (options.front_door, options.alb_front_door) == ("alb", True)
    with pytest.raises(OptionError, match=r"front_door=alb serves HTTPS on the custom domain only"):
        StackOptions.parse(DUBLIN, {"front_door": "alb", "waf": "false"})
    with pytest.raises(OptionError, match=r"front_door=alb needs waf=false"):
        StackOptions.parse(DUBLIN, {"front_door": "alb", **domain})
    with pytest.raises(OptionError, match=r"front_door: Input should be 'api_gateway' or 'alb'"):
        StackOptions.parse(DUBLIN, {"front_door": "cloudfront"})
