"""The volume check: a source's window against the same window a week earlier (moto CloudWatch)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from switchyard.alerts.manager import AlertManager
from switchyard.alerts.names import alarm_prefix
from switchyard.alerts.volume import LAG_MINUTES, VolumeCheck, VolumeChecker, VolumeReading
from switchyard.config.alerts import AlertsSpec

REGION = "us-west-2"
NOW = datetime(2025, 3, 10, 12, 30, 20, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("cloudwatch", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        spec = AlertsSpec.model_validate(
            {
                "source_volume": [
                    {"source": "web", "change_percent": 50, "window_minutes": 60},
                    {"source": "ios", "change_percent": 50, "window_minutes": 15},
                    {"source": "new", "change_percent": 50, "window_minutes": 60},
                ],
                "delivery_success": [{"destination": "amp", "below_percent": 95}],
            }
        )
        AlertManager(client, sns, boto3.client("ssm", region_name=REGION), REGION, topic).apply(spec)
        yield client


def received(cloudwatch: Any, source: str, at: datetime, count: float) -> None:
    cloudwatch.put_metric_data(
        Namespace="Switchyard",
        MetricData=[
            {
                "MetricName": "MessagesReceived",
                "Dimensions": [{"Name": "service", "Value": "switchyard"}, {"Name": "source", "Value": source}],
                "Timestamp": at,
                "Value": count,
                "Unit": "Count",
            }
        ],
    )


def published(cloudwatch: Any) -> dict[tuple[str, str], float]:
    values = {}
    for metric in cloudwatch.list_metrics(Namespace="Switchyard", MetricName="SourceVolumeChange")["Metrics"]:
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        statistics = cloudwatch.get_metric_statistics(
            Namespace="Switchyard",
            MetricName="SourceVolumeChange",
            Dimensions=metric["Dimensions"],
            StartTime=NOW - timedelta(hours=1),
            EndTime=NOW + timedelta(hours=1),
            Period=3600,
            Statistics=["Average"],
        )["Datapoints"]
        values[(dimensions["source"], dimensions["window_minutes"])] = statistics[0]["Average"]
    return values


def test_a_drop_and_a_rise_are_published_in_percent_of_the_week_earlier_window(cloudwatch: Any):
    end = NOW.replace(second=0) - timedelta(minutes=LAG_MINUTES)
    for at, count in ((end - timedelta(minutes=10), 30), (end - timedelta(minutes=50), 10)):
        received(cloudwatch, "web", at, count)  # 40 now
    received(cloudwatch, "web", end - WEEK - timedelta(minutes=20), 100)  # 100 a week earlier
    received(cloudwatch, "web", end - timedelta(minutes=70), 1000)  # before the window: not counted
    received(cloudwatch, "ios", end - timedelta(minutes=5), 30)
    received(cloudwatch, "ios", end - WEEK - timedelta(minutes=5), 20)
    readings = VolumeChecker(cloudwatch, alarm_prefix(REGION), clock=NOW.timestamp).run()
    by_source = {reading.check.source: reading for reading in readings}
    assert (by_source["web"].current, by_source["web"].baseline) == (40, 100)
    assert by_source["web"].change_percent == pytest.approx(-60)
    assert by_source["ios"].change_percent == pytest.approx(50)
    assert published(cloudwatch) == {("web", "60"): pytest.approx(-60), ("ios", "15"): pytest.approx(50)}


def test_a_source_that_received_nothing_a_week_earlier_has_no_baseline_and_nothing_is_published(cloudwatch: Any):
    received(cloudwatch, "new", NOW - timedelta(minutes=10), 500)
    readings = VolumeChecker(cloudwatch, alarm_prefix(REGION), clock=NOW.timestamp).run()
    (new,) = [reading for reading in readings if reading.check.source == "new"]
    assert new.change_percent is None
    assert ("new", "60") not in published(cloudwatch)


def test_a_source_that_stopped_sending_is_a_hundred_percent_drop():
    assert VolumeReading(VolumeCheck("web", 60), current=0, baseline=250).change_percent == -100


def test_without_volume_alerts_the_check_reads_no_metrics():
    with mock_aws():
        client = boto3.client("cloudwatch", region_name=REGION)
        assert VolumeChecker(client, alarm_prefix(REGION), clock=NOW.timestamp).run() == []
