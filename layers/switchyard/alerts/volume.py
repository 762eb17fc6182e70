"""The volume check: each source-volume alert's window compared with the same window a week earlier.

CloudWatch metric math cannot shift a metric in time, so this runs every CHECK_INTERVAL_MINUTES
(EventBridge Scheduler), reads MessagesReceived of each watched source for the window that just
ended and for the same window seven days before (two GetMetricData calls for all alerts), and
publishes the change in percent as SourceVolumeChange, which the alert's alarm watches.

The alerts it serves are the region's alarms themselves (those watching SourceVolumeChange), so an
apply needs no other store and a removed alert stops being checked at once.

Windows end LAG_MINUTES before now: ingest's metrics reach CloudWatch a minute or two after the
events, and a window read too early would look like a drop. A week earlier with nothing received
gives no baseline: nothing is published (the alarm shows INSUFFICIENT_DATA), since no percentage
describes a change from zero. A run that fails publishes nothing either; the next one catches up,
as each reading stands alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from switchyard import constants
from switchyard.alerts.alarms import volume_dimensions
from switchyard.metrics import Dimension, Metric

LAG_MINUTES = 3
BASELINE_OFFSET = timedelta(days=7)
_QUERIES_PER_CALL = 500  # GetMetricData's limit
_DATA_PER_PUT = 1000  # PutMetricData's limit


@dataclass(frozen=True)
class VolumeCheck:
    source: str
    window_minutes: int


@dataclass(frozen=True)
class VolumeReading:
    check: VolumeCheck
    current: float
    baseline: float

    @property
    def change_percent(self) -> float | None:
        """Above (+) or below (-) the baseline; None without one."""
        if self.baseline <= 0:
            return None
        return 100 * (self.current - self.baseline) / self.baseline


def checks_of(alarms: Iterable[dict[str, Any]]) -> list[VolumeCheck]:
    """The volume checks the alarms (DescribeAlarms' MetricAlarms) watch."""
    checks = set()
    for alarm in alarms:
        for query in alarm.get("Metrics", ()):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("MetricName") != Metric.SOURCE_VOLUME_CHANGE:
                continue
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", ())}
            checks.add(VolumeCheck(dimensions[Dimension.SOURCE], int(dimensions[Dimension.WINDOW_MINUTES])))
    return sorted(checks, key=lambda check: (check.source, check.window_minutes))


class VolumeChecker:
    def __init__(self, cloudwatch: Any, alarm_prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._cloudwatch = cloudwatch
        self._prefix = alarm_prefix
        self._clock = clock

    def run(self) -> list[VolumeReading]:
        """Read, compare and publish every check's change; returns the readings."""
        paginator = self._cloudwatch.get_paginator("describe_alarms")
        alarms = (
            alarm
            for page in paginator.paginate(AlarmNamePrefix=self._prefix, AlarmTypes=["MetricAlarm"])
            for alarm in page["MetricAlarms"]
        )
        checks = checks_of(alarms)
        if not checks:
            return []
        end = datetime.fromtimestamp(self._clock(), UTC).replace(second=0, microsecond=0)
        end -= timedelta(minutes=LAG_MINUTES)
        current = self._sums(checks, end)
        baseline = self._sums(checks, end - BASELINE_OFFSET)
        readings = [VolumeReading(check, current[check], baseline[check]) for check in checks]
        self._publish(readings, end)
        return readings

    def _sums(self, checks: list[VolumeCheck], end: datetime) -> dict[VolumeCheck, float]:
        """Events received per check in the window ending at `end` (one GetMetricData per 500 checks,
        each grouped by window length, since a call has one time range)."""
        sums: dict[VolumeCheck, float] = {}
        for window in sorted({check.window_minutes for check in checks}):
            of_window = [check for check in checks if check.window_minutes == window]
            for start in range(0, len(of_window), _QUERIES_PER_CALL):
                batch = of_window[start : start + _QUERIES_PER_CALL]
                sums.update(self._window_sums(batch, end - timedelta(minutes=window), end))
        return sums

    def _window_sums(self, checks: list[VolumeCheck], start: datetime, end: datetime) -> dict[VolumeCheck, float]:
        queries = [
            {
                "Id": f"q{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": constants.METRICS_NAMESPACE,
                        "MetricName": Metric.MESSAGES_RECEIVED,
                        "Dimensions": [
                            {"Name": Dimension.SERVICE, "Value": constants.SERVICE_NAME},
                            {"Name": Dimension.SOURCE, "Value": check.source},
                        ],
                    },
                    # Minutes summed here: exactly the window, whatever CloudWatch aligns periods to.
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for index, check in enumerate(checks)
        ]
        values: dict[str, float] = {}
        paginator = self._cloudwatch.get_paginator("get_metric_data")
        for page in paginator.paginate(MetricDataQueries=queries, StartTime=start, EndTime=end):
            for result in page["MetricDataResults"]:
                values[result["Id"]] = values.get(result["Id"], 0.0) + sum(result.get("Values", ()))
        # No datapoint: nothing was received (ingest emits no zeros).
        return {check: values.get(f"q{index}", 0.0) for index, check in enumerate(checks)}

    def _publish(self, readings: list[VolumeReading], at: datetime) -> None:
        data = [
            {
                "MetricName": Metric.SOURCE_VOLUME_CHANGE,
                "Dimensions": [
                    {"Name": name, "Value": value}
                    for name, value in volume_dimensions(reading.check.source, reading.check.window_minutes).items()
                ],
                "Timestamp": at,
                "Value": change,
                "Unit": "Percent",
            }
            for reading in readings
            if (change := reading.change_percent) is not None
        ]
        for start in range(0, len(data), _DATA_PER_PUT):
            self._cloudwatch.put_metric_data(
                Namespace=constants.METRICS_NAMESPACE, MetricData=data[start : start + _DATA_PER_PUT]
            )
