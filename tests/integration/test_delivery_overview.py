"""The Delivery Overview read back from what the delivery function, the router and ingest write to
the delivery table (moto's DynamoDB), and as `switchyard delivery` prints it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from switchyard.cli.delivery import format_overview, sparkline
from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.delivery.overview import StepName, read_overview
from switchyard.delivery.stats import Count, DeliveryStats, LatencyPoint
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.resources import LocalResources
from switchyard.ingest.discard_stats import DiscardStats
from switchyard.router.plans import PlanBlock
from switchyard.router.schema import SchemaReason
from switchyard.router.service import BatchReport
from switchyard.router.violations import ViolationStats

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
WORKSPACE = compile_workspace(
    parse_workspace(
        """\
workspace: overview
sources:
  - {id: web, name: Website, write_key: wk_overview_web_1}
  - {id: ios, name: iOS, write_key: wk_overview_ios_1}
  - {id: lonely, name: Not connected, write_key: wk_overview_lonely_1}
destinations:
  - id: hook
    type: webhook
    sources: [web, ios]
    settings: {url: "https://hooks.example.com/in"}
"""
    )
)


def at(minutes_ago: float) -> float:
    return (NOW - timedelta(minutes=minutes_ago)).timestamp()


def event(received_minutes_ago: float) -> dict[str, object]:
    received = NOW - timedelta(minutes=received_minutes_ago)
    return {"type": "track", "event": "Order Completed", "receivedAt": received.isoformat().replace("+00:00", "Z")}


@pytest.fixture
def table(aws: LocalResources) -> DeliveryTable:
    table = DeliveryTable(aws.delivery_table, boto3.client("dynamodb"))
    stats = DeliveryStats(table)
    for _ in range(10):
        stats.count("hook", Count.RECEIVED, at(30))
    stats.count("hook", Count.REPLAYED, at(30))
    stats.failed("hook", "filtered_at_destination.Drop bots", at(29), counter=Count.FILTERED, sample={"received": {}})
    stats.count("hook", Count.DROPPED_BY_INSERT_FUNCTION, at(29))
    sample = {"received": {"event": "Order Completed"}, "request": {"url": "/in"}, "response": {"status": 503}}
    for _ in range(2):
        stats.failed("hook", "awaiting_retry.503", at(28), counter=Count.RETRIED, sample=sample)
    stats.failed("hook", "discarded.400", at(28), counter=Count.NOT_DELIVERED, sample=sample)
    stats.failed("hook", "awaiting_retry.timeout", at(27), counter=Count.DEAD_LETTERED, sample=sample)
    for minutes_ago, latency_minutes in ((50, 0.01), (5, 0.5)):  # a slow slice late in the hour
        for _ in range(3):
            stats.delivered("hook", event(minutes_ago + latency_minutes), at(minutes_ago))
    stats.delivered("hook", event(120), at(90))  # before the period: not counted
    stats.flush()

    report = BatchReport()
    report.blocked_by_plan[("web", PlanBlock.UNPLANNED_EVENT)] = 4
    report.filtered_at_source[("ios", SchemaReason.EVENT_BLOCKED)] = 2
    report.filtered_at_source[("ios", SchemaReason.TRAITS_OMITTED)] = 7  # changed, still delivered
    report.blocked_by_plan[("lonely", PlanBlock.VIOLATIONS)] = 9  # not a source of the destination
    ViolationStats(table).record(report, NOW - timedelta(minutes=20))

    discards = DiscardStats(table)
    discards.record("web", Counter({"invalid_type": 3, "too_large": 1}), NOW - timedelta(minutes=10))
    discards.record("web", Counter({"invalid_type": 1}), NOW - timedelta(minutes=9))
    discards.record("lonely", Counter({"invalid_type": 50}), NOW - timedelta(minutes=9))
    return table


def test_each_step_counts_its_events_with_their_reasons(table: DeliveryTable):
    overview = read_overview(table, WORKSPACE, "hook", timedelta(hours=1), now=NOW)
    steps = {step.name: step for step in overview.steps}
    assert overview.source_ids == ("web", "ios")
    assert steps[StepName.RECEIVED].count == 10
    assert steps[StepName.RECEIVED].note == "and 1 replayed"
    assert steps[StepName.FILTERED].reasons == {
        "web: tracking plan, unplanned_event": 4,
        "ios: schema filter, event_blocked": 2,
        "filtered_at_destination.Drop bots": 1,
        "dropped by its insert function": 1,
    }
    assert steps[StepName.FILTERED].count == 8
    assert steps[StepName.FAILED_ON_INGEST].reasons == {"web: invalid_type": 4, "web: too_large": 1}
    assert steps[StepName.RETRYING].reasons == {"awaiting_retry.503": 2}
    assert steps[StepName.FAILED].count == 2
    assert steps[StepName.FAILED].reasons == {"discarded.400": 1, "awaiting_retry.timeout": 1}
    assert steps[StepName.FAILED].note == "1 dead-lettered"
    assert steps[StepName.DELIVERED].count == 6
    assert overview.sample("discarded.400")["response"] == {"status": 503}


def test_the_latency_trend_shows_the_slow_slice(table: DeliveryTable):
    trend = read_overview(table, WORKSPACE, "hook", timedelta(hours=1), now=NOW).report.latency_trend
    assert len(trend) == 12
    known = [(index, point.p95_ms) for index, point in enumerate(trend) if point.p95_ms is not None]
    assert [index for index, _ in known] == [2, 11]
    assert known[0][1] < 1_000 < 30_000 <= known[1][1]


def test_an_unknown_destination_names_the_known_ones(table: DeliveryTable):
    with pytest.raises(LookupError, match="known: hook"):
        read_overview(table, WORKSPACE, "nope", timedelta(hours=1), now=NOW)


def test_the_text_shows_steps_reasons_samples_and_trend(table: DeliveryTable):
    text = format_overview(read_overview(table, WORKSPACE, "hook", timedelta(hours=1), now=NOW))
    lines = text.splitlines()
    assert lines[0].startswith("Delivery Overview for hook") and "(sources: web, ios)" in lines[0]
    names = [line.split("  ")[1].strip() for line in lines if line.startswith("  ") and not line.startswith("    ")]
    assert names[:6] == [str(name) for name in StepName]
    assert any("web: invalid_type" in line and line.rstrip().endswith("4") for line in lines)
    assert '"status":503' in text
    assert "success rate" in text and "75.0%" in text
    assert "p95 trend" in text


def test_a_sparkline_leaves_gaps_and_spans_low_to_high():
    start = NOW
    points = [LatencyPoint(start, value) for value in (10.0, None, 20.0, 30.0)]
    assert sparkline(points) == "▁ ▅█"
    assert sparkline([LatencyPoint(start, None)]) == ""
