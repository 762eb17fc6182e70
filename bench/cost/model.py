"""The monthly AWS bill of one region, line by line: list prices (prices-<date>.json) times what a
real run measured per event (measure.py, measured.json), with the volume-dependent parts (router
invocations per shard and batching window, delivery batches, X-Ray sampling, fixed monthly items)
modelled from the stack's constants and the assumptions below, each stated where it is made.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchyard import constants
from switchyard.debugger.recorder import WRITE_EVERY_SECONDS
from switchyard.usage.store import USAGE_SKETCH_SECONDS

PRICES = Path(__file__).with_name("prices-2026-11.json")
MONTH_SECONDS = 730 * 3600

# --- Assumptions (AWS behaviour and round trips not measurable on one machine) ------------------
ON_DEMAND_SHARDS = 4  # an on-demand stream starts at 4 MB/s of writes: four shards' worth
PEAK_TO_MEAN = 3.0  # provisioned shards are sized for peaks three times the month's mean rate
KINESIS_PUT_SECONDS = 0.015  # ingest's PutRecords round trip
DEDUPE_WRITE_SECONDS = 0.005  # one conditional put; the router keeps 16 in flight
ARCHIVE_PUT_SECONDS = 0.030  # one archive object PUT
SQS_SEND_SECONDS = 0.010  # one SendMessageBatch (10 messages)
DELIVERY_CPU_SECONDS_PER_EVENT = 0.0003  # the deliverer's own work per event (webhook: no packing)
WEBHOOK_ANSWER_SECONDS = 0.050  # a webhook's answer; the deliverer sends `concurrency` (5) at once
WEBHOOK_CONCURRENCY = 5
DELIVERY_TABLE_SECONDS = 0.020  # rate window and statistics writes per hand-over
INVOCATION_OVERHEAD_SECONDS = 0.002  # runtime and Powertools per invocation
PLATFORM_LOG_BYTES = 400  # Lambda's START / END / REPORT lines (with the X-Ray trace id)
ACCESS_LOG_BYTES = 300  # one API access log line
XRAY_RESERVOIR_PER_SECOND = 1  # Lambda's default sampling: 1 request a second, then 5 %
XRAY_RATE = 0.05
IDLE_POLL_REQUESTS_PER_QUEUE = 5 * MONTH_SECONDS / 20  # Lambda's 5 pollers, 20 s long polls
SQS_QUEUES = 3  # delivery, replay, dead-letter
CONFIG_READS_PER_MONTH = 3 * 2 * (MONTH_SECONDS / constants.DEFAULT_CONFIG_CACHE_SECONDS) * 2
ALARMS = 19  # the stack's own (tests/infra/test_observability.py lists them); workspace alerts are extra
CUSTOM_METRICS = 20  # service-level metrics plus a few per source and destination
KMS_KEYS = 3  # archive, alarm topic, alerts topic
# A usage sketch item at volume: three full HLL_4 sketches (lg_k 12, ~2.1 KB each), ~6.5 KB.
USAGE_SKETCH_WRITE_UNITS = 7
ALERT_CHECKS_PER_MONTH = MONTH_SECONDS / 300  # the alerts' volume check, every 5 minutes
ALERT_CHECK_SECONDS = 0.5  # a few GetMetricData calls, 0.5 GB
WAF_RULES = 3
MEMORY_GB = {"ingest": 0.5, "router": 1.0, "delivery": 0.5}
DESTINATIONS = 1
# The load balancer (`front_door=alb`): an ALB in two Availability Zones holds at least two public
# IPv4 addresses; it bills the hour and load-balancer capacity units (LCUs), each hour the largest of
# new connections (25 a second per LCU), active connections (3,000 a minute), bytes processed (0.4 GB
# an hour per LCU for Lambda targets) and rule evaluations (1,000 a second, the first 10 rules free:
# it has one). Browsers open a TLS connection per page view (about one per request here); server
# SDKs keep theirs alive (one per 100 requests), each connection open about 10 s.
ALB_PUBLIC_IPS = 2
ALB_NEW_CONNECTIONS_PER_LCU_SECOND = 25
ALB_ACTIVE_CONNECTIONS_PER_LCU_MINUTE = 3000  # concurrent connections, sampled each minute
ALB_LAMBDA_GB_PER_LCU_HOUR = 0.4
NEW_CONNECTIONS_PER_REQUEST = {"browser": 1.0, "server": 0.01}
CONNECTION_SECONDS = 10
RESPONSE_BYTES = 300  # `{"success": true}` with its headers
LOAD_BALANCER_ITEM = "Application Load Balancer (hours, 2 addresses, LCUs)"


@dataclass(frozen=True)
class Prices:
    values: dict[str, Any]

    def __getitem__(self, name: str) -> float:
        return float(self.values[name])

    def tiered(self, name: str, quantity: float) -> float:
        """Dollars for `quantity` requests on a per-million tier list [[up to, price], ...]."""
        dollars, done = 0.0, 0.0
        for limit, price in self.values[name]:
            upto = quantity if limit is None else min(quantity, done + limit)
            dollars += (upto - done) / 1e6 * price
            done = upto
            if done >= quantity:
                break
        return dollars


def load_prices(region: str, path: Path = PRICES) -> Prices:
    return Prices(json.loads(path.read_text())[region])


@dataclass(frozen=True)
class Settings:
    """The stack options that move the bill (infra/options.py), as the model prices them."""

    name: str
    waf: bool = True
    provisioned_shards: bool = False  # `kinesis_shards=N` sized for the traffic instead of on-demand
    tracing: str = "off"  # off | sampled | active
    system_log_level: str = "WARN"  # WARN drops Lambda's START / END / REPORT lines
    api_access_logs: bool = True
    dedupe_capacity: str = "on_demand"  # on_demand | provisioned (auto-scaled)
    router_batching_window_seconds: float = constants.ROUTER_BATCHING_WINDOW_SECONDS
    router_batch_size: int = constants.ROUTER_BATCH_SIZE
    delivery_events_per_message: int = constants.DELIVERY_EVENTS_PER_MESSAGE
    stream_compression: bool = False
    front_door: str = "api_gateway"  # api_gateway | alb; `cheapest`: whichever costs less at the traffic


DEFAULTS = Settings("defaults")
RECOMMENDED = Settings(
    "recommended (waf=false, kinesis_shards sized, dedupe_capacity=provisioned, router window 2 s, "
    "front_door=alb where it is cheaper)",
    waf=False,
    provisioned_shards=True,
    dedupe_capacity="provisioned",
    router_batching_window_seconds=2,  # adds at most 2 s (1 s on average) from receivedAt to delivery
    front_door="cheapest",
)
DEDUPE_TARGET_UTILIZATION = 0.7  # the auto-scaling target: provisioned writes follow load at 70 %
DEDUPE_MIN_WRITE_CAPACITY = 5


@dataclass(frozen=True)
class Traffic:
    events_per_month: float
    mix: str  # "browser" (3 events a request) or "server" (100), as measured.json names them


@dataclass(frozen=True)
class LineItem:
    name: str
    dollars: float


def _sampled(invocations: float) -> float:
    reservoir = min(invocations, XRAY_RESERVOIR_PER_SECOND * MONTH_SECONDS)
    return reservoir + XRAY_RATE * (invocations - reservoir)


def _busy_windows(rate: float, window: float) -> float:
    """Expected batching windows a month that hold at least one record (Poisson arrivals)."""
    return MONTH_SECONDS / window * (1 - math.exp(-rate * window))


def shards_for(events: float, bytes_per_event: float) -> int:
    """Provisioned shards for the month's peak: 1 MB/s and 1,000 records/s each."""
    rate = events / MONTH_SECONDS * PEAK_TO_MEAN
    return max(1, math.ceil(max(rate * bytes_per_event / 1e6, rate / 1000)))


def load_balancer_cost(traffic: Traffic, measured: dict[str, Any], prices: Prices) -> float:
    """An ALB's month for this traffic (hours, addresses, LCUs at the mean rate)."""
    mix = measured["mixes"][traffic.mix]
    requests_per_second = traffic.events_per_month / mix["events_per_request"] / MONTH_SECONDS
    new_connections = requests_per_second * NEW_CONNECTIONS_PER_REQUEST[traffic.mix]
    request_bytes = mix["events_per_request"] * mix["units"]["kinesis_bytes"]  # as stored: a little over what was sent
    gb_per_hour = requests_per_second * 3600 * (request_bytes + RESPONSE_BYTES) / 1e9
    lcus = max(
        new_connections / ALB_NEW_CONNECTIONS_PER_LCU_SECOND,
        new_connections * CONNECTION_SECONDS / ALB_ACTIVE_CONNECTIONS_PER_LCU_MINUTE,  # open at once
        gb_per_hour / ALB_LAMBDA_GB_PER_LCU_HOUR,
    )
    hourly = prices["alb_hour"] + ALB_PUBLIC_IPS * prices["public_ipv4_hour"] + lcus * prices["alb_lcu_hour"]
    return 730 * hourly


def front_door(traffic: Traffic, settings: Settings, measured: dict[str, Any], prices: Prices) -> LineItem:
    requests = traffic.events_per_month / measured["mixes"][traffic.mix]["events_per_request"]
    if settings.waf:
        return LineItem("API Gateway REST API", prices.tiered("rest_api_per_million", requests))
    http_api = LineItem("API Gateway HTTP API", prices.tiered("http_api_per_million", requests))
    alb = LineItem(LOAD_BALANCER_ITEM, load_balancer_cost(traffic, measured, prices))
    if settings.front_door == "alb":
        return alb
    if settings.front_door == "cheapest":
        return min(http_api, alb, key=lambda line: line.dollars)
    return http_api


BREAK_EVEN_SEARCH = (1e5, 1e11)  # requests a month


def break_even_requests(measured: dict[str, Any], mix: str, prices: Prices) -> float | None:
    """Requests a month above which an ALB costs less than an HTTP API (bisection: both rise with
    volume), or None when it does not at any volume searched."""
    low, high = BREAK_EVEN_SEARCH
    for _ in range(60):
        middle = (low * high) ** 0.5
        traffic = Traffic(middle * measured["mixes"][mix]["events_per_request"], mix)
        http_api = prices.tiered("http_api_per_million", middle)
        if load_balancer_cost(traffic, measured, prices) < http_api:
            high = middle
        else:
            low = middle
    return None if high >= BREAK_EVEN_SEARCH[1] else high


def monthly_cost(traffic: Traffic, settings: Settings, measured: dict[str, Any], prices: Prices) -> list[LineItem]:
    mix = measured["mixes"][traffic.mix]
    per = mix["requests"]
    units = mix["units"]
    cpu = measured["cpu"]
    events = traffic.events_per_month
    requests = events / mix["events_per_request"]
    lines: list[LineItem] = []

    def add(name: str, dollars: float) -> None:
        lines.append(LineItem(name, dollars))

    def lambda_cost(invocations: float, seconds_each: float, function: str) -> float:
        billed = math.ceil((seconds_each + INVOCATION_OVERHEAD_SECONDS) * 1000) / 1000
        gb_seconds = invocations * billed * MEMORY_GB[function]
        return gb_seconds * prices["lambda_arm_gb_second"] + invocations / 1e6 * prices["lambda_per_million_requests"]

    # Front door.
    door = front_door(traffic, settings, measured, prices)
    lines.append(door)
    access_logs = settings.api_access_logs and door.name != LOAD_BALANCER_ITEM  # an ALB keeps none
    if settings.waf:
        add("AWS WAF requests", requests / 1e6 * prices["waf_per_million_requests"])

    # Ingest: one invocation per request.
    compressed = settings.stream_compression
    ingest_us = cpu["ingest_us_per_event"] + (cpu["ingest_compression_us_per_event"] if compressed else 0)
    router_us = cpu["router_us_per_event"] + (cpu["router_decompression_us_per_event"] if compressed else 0)
    per_request = mix["events_per_request"] * ingest_us / 1e6 + KINESIS_PUT_SECONDS
    add("Lambda ingest", lambda_cost(requests, per_request, "ingest"))

    # The stream.
    record_bytes = units["kinesis_compressed_bytes" if compressed else "kinesis_bytes"]
    billed_kb = units["kinesis_compressed_billed_kb" if compressed else "kinesis_billed_kb"]
    if settings.provisioned_shards:
        shards = shards_for(events, record_bytes)
        add(f"Kinesis provisioned, {shards} shard(s)", shards * 730 * prices["kinesis_shard_hour"])
        payload_units = events * units["kinesis_records"] * math.ceil(record_bytes / 25_600)
        add(
            "Kinesis PUT payload units (25 KB each)",
            payload_units / 1e6 * prices["kinesis_put_payload_units_per_million"],
        )
    else:
        shards = ON_DEMAND_SHARDS
        add("Kinesis on-demand stream-hours", 730 * prices["kinesis_on_demand_stream_hour"])
        add(
            "Kinesis on-demand data in (records rounded up to 1 KB)",
            events * billed_kb / 1024**2 * prices["kinesis_on_demand_ingest_gb"],
        )
        add("Kinesis on-demand data read", events * record_bytes / 1e9 * prices["kinesis_on_demand_retrieval_gb"])

    # Router: one invocation per shard and batching window that holds records.
    rate_per_shard = events / MONTH_SECONDS / shards
    window = max(settings.router_batching_window_seconds, 1.0)  # Lambda polls each shard once a second
    per_window = rate_per_shard * window
    router_invocations = (
        shards * _busy_windows(rate_per_shard, window) * max(1.0, per_window / settings.router_batch_size)
    )
    records_each = events / router_invocations
    objects_each = per.get("s3.PutObject", 0) / max(mix["invocations"]["router"], 1e-12)
    # Per source and router instance (shard), the debugger writes at most once per batch and about
    # once per WRITE_EVERY_SECONDS when busy; the usage sketches likewise once per USAGE_SKETCH_SECONDS;
    # the usage counters once per source and batch. (One source per batch, as the archive's objects.)
    batches_per_shard = router_invocations / shards
    samples_each = objects_each * min(1.0, MONTH_SECONDS / WRITE_EVERY_SECONDS / batches_per_shard)
    sketches_each = objects_each * min(1.0, MONTH_SECONDS / USAGE_SKETCH_SECONDS / batches_per_shard)
    # Each router invocation packs its events per destination into messages, ten messages a send.
    per_message = settings.delivery_events_per_message
    messages_each = DESTINATIONS * math.ceil(records_each / per_message)
    sends_each = math.ceil(messages_each / 10)
    router_seconds = (
        records_each * router_us / 1e6
        + math.ceil(records_each / constants.ROUTER_DEDUPE_CONCURRENCY) * DEDUPE_WRITE_SECONDS
        + objects_each * ARCHIVE_PUT_SECONDS
        + sends_each * SQS_SEND_SECONDS
        + samples_each * ARCHIVE_PUT_SECONDS
        + (objects_each + sketches_each) * DEDUPE_WRITE_SECONDS
    )
    add("Lambda router", lambda_cost(router_invocations, router_seconds, "router"))
    claims = events * per.get("dynamodb.PutItem", 0)
    if settings.dedupe_capacity == "provisioned":
        capacity = max(DEDUPE_MIN_WRITE_CAPACITY, claims / MONTH_SECONDS / DEDUPE_TARGET_UTILIZATION)
        hourly = capacity * prices["dynamodb_provisioned_wcu_hour"] + prices["dynamodb_provisioned_rcu_hour"]
        add("DynamoDB dedupe claims (provisioned, auto-scaled writes)", 730 * hourly)
    else:
        add("DynamoDB dedupe claims (on-demand writes)", claims / 1e6 * prices["dynamodb_on_demand_per_million_writes"])
    archive_puts = router_invocations * objects_each
    add("S3 archive PUTs (one object per source and router batch)", archive_puts / 1000 * prices["s3_put_per_thousand"])
    add(
        f"S3 debugger PUTs (per source and batch, <= 1 per {WRITE_EVERY_SECONDS:.0f} s busy)",
        router_invocations * samples_each / 1000 * prices["s3_put_per_thousand"],
    )
    usage_units = router_invocations * (objects_each + sketches_each * USAGE_SKETCH_WRITE_UNITS)
    add(
        "DynamoDB usage (counters per batch, MTU sketches <= 1/min)",
        usage_units / 1e6 * prices["dynamodb_on_demand_per_million_writes"],
    )
    archive_gb = events * units.get("s3_put_bytes", 0) / 1e9
    add("S3 archive storage (each month's data, per month kept)", archive_gb * prices["s3_standard_gb_month"])

    # Delivery: messages of up to `delivery_events_per_message` events; Lambda takes 50 // that many
    # messages at once (about 50 events), or what one batching window gathered.
    messages = router_invocations * messages_each
    rate = messages / MONTH_SECONDS
    batches = max(
        messages / constants.delivery_messages_per_batch(per_message),
        _busy_windows(rate, constants.DELIVERY_BATCHING_WINDOW_SECONDS),
    )
    batch = events * DESTINATIONS / batches
    delivery_seconds = (
        batch * DELIVERY_CPU_SECONDS_PER_EVENT
        + math.ceil(batch / WEBHOOK_CONCURRENCY) * WEBHOOK_ANSWER_SECONDS
        + DELIVERY_TABLE_SECONDS
    )
    add("Lambda delivery", lambda_cost(batches, delivery_seconds, "delivery"))
    sends = router_invocations * sends_each
    add(
        "SQS (sends, one receive and one delete per batch)",
        (sends + 2 * batches) / 1e6 * prices["sqs_per_million_requests"],
    )
    per_delivery = per.get("dynamodb.UpdateItem", 0) / max(mix["invocations"]["delivery"], 1e-12)
    add(
        "DynamoDB delivery table (rate windows, statistics)",
        batches * per_delivery / 1e6 * prices["dynamodb_on_demand_per_million_writes"],
    )

    # Logs and traces.
    invocations = {"ingest": requests, "router": router_invocations, "delivery": batches}
    platform = 0 if settings.system_log_level == "WARN" else PLATFORM_LOG_BYTES
    log_bytes = sum(count * (mix["log_bytes"].get(name, 0) + platform) for name, count in invocations.items())
    log_bytes += requests * (ACCESS_LOG_BYTES if access_logs else 0)
    add("CloudWatch Logs (functions, platform lines, API access log)", log_bytes / 1e9 * prices["logs_ingest_gb"])
    traced = {"off": [], "sampled": ["ingest"], "active": list(invocations)}[settings.tracing]
    traces = sum(_sampled(invocations[name]) for name in traced)
    add(f"X-Ray (tracing={settings.tracing})", traces / 1e6 * prices["xray_per_million_traces"])

    # Fixed monthly items.
    fixed = (
        KMS_KEYS * prices["kms_key_month"]
        + prices["cloudwatch_dashboard_month"]
        + ALARMS * prices["cloudwatch_alarm_month"]
    )
    fixed += CUSTOM_METRICS * prices["cloudwatch_metric_month"]
    fixed += ALERT_CHECKS_PER_MONTH * (
        ALERT_CHECK_SECONDS * 0.5 * prices["lambda_arm_gb_second"] + prices["lambda_per_million_requests"] / 1e6
    )
    fixed += SQS_QUEUES * IDLE_POLL_REQUESTS_PER_QUEUE / 1e6 * prices["sqs_per_million_requests"]
    fixed += CONFIG_READS_PER_MONTH / 1e6 * prices["dynamodb_on_demand_per_million_reads"]
    if settings.waf:
        fixed += prices["waf_web_acl_month"] + WAF_RULES * prices["waf_rule_month"]
    add(
        "Fixed: keys, dashboard, alarms, metrics, alerts' volume check, idle queue polls, config reads"
        + (", web ACL" if settings.waf else ""),
        fixed,
    )
    return lines


def per_million(lines: list[LineItem], events: float) -> float:
    return sum(line.dollars for line in lines) / (events / 1e6)
