"""CloudWatch alarm definitions built from the workspace file's `alerts:` section.

Delivery success: Delivered ÷ (Delivered + NotDelivered + DeadLettered) of the destination over
the window, with metric math. Retries still under way are not failures yet; a window without any
final outcome is no failure either (the rate is taken as 100%, and missing data is not breaching).

Source volume: CloudWatch metric math has no time shift, so an alarm cannot compare a window with
the same window a week earlier by itself. The volume check (switchyard.alerts.volume, every
CHECK_INTERVAL_MINUTES) publishes that comparison as the metric SourceVolumeChange, in percent,
and the alarm watches its absolute value. Without a baseline (nothing received a week earlier) no
value is published and the alarm shows INSUFFICIENT_DATA rather than guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from switchyard import constants
from switchyard.alerts.names import CHECK_INTERVAL_MINUTES, alarm_prefix
from switchyard.config.alerts import AlertsSpec, DeliverySuccessAlert, SourceVolumeAlert
from switchyard.metrics import Dimension, Metric

# Two checks in a row beyond the threshold: one late metric batch does not page anybody.
VOLUME_CHECKS_TO_ALARM = 2
SUCCESS_RATE = (
    "IF(FILL(delivered, 0) + FILL(refused, 0) + FILL(dead, 0) > 0, "
    "100 * FILL(delivered, 0) / (FILL(delivered, 0) + FILL(refused, 0) + FILL(dead, 0)), 100)"
)


class AlertKind(StrEnum):
    SOURCE_VOLUME = "source_volume"
    DELIVERY_SUCCESS = "delivery_success"


@dataclass(frozen=True)
class AlarmDefinition:
    name: str
    kind: AlertKind
    target: str  # the source or destination id
    description: str  # says what the alert is, so a changed alert has a changed description
    threshold: float
    comparison: str
    evaluation_periods: int
    treat_missing_data: str
    metrics: tuple[dict[str, Any], ...]

    def put_request(self, topic_arn: str) -> dict[str, Any]:
        """PutMetricAlarm's arguments: notifying the topic when it fires and when it is OK again."""
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "ActionsEnabled": True,
            "AlarmActions": [topic_arn],
            "OKActions": [topic_arn],
            "Metrics": list(self.metrics),
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.evaluation_periods,
            "TreatMissingData": self.treat_missing_data,
            # Tags are set when the alarm is created (PutMetricAlarm ignores them on an update).
            "Tags": [
                {"Key": "project", "Value": constants.SERVICE_NAME},
                {"Key": "switchyard:alert", "Value": self.kind.value},
                {
                    "Key": f"switchyard:{'source' if self.kind is AlertKind.SOURCE_VOLUME else 'destination'}",
                    "Value": self.target,
                },
            ],
        }


def build_alarms(alerts: AlertsSpec, region: str) -> list[AlarmDefinition]:
    prefix = alarm_prefix(region)
    return [
        *(source_volume_alarm(alert, prefix) for alert in alerts.source_volume),
        *(delivery_success_alarm(alert, prefix) for alert in alerts.delivery_success),
    ]


def _metric(name: str, dimensions: dict[str, str], period_seconds: int, statistic: str) -> dict[str, Any]:
    return {
        "Metric": {
            "Namespace": constants.METRICS_NAMESPACE,
            "MetricName": name,
            "Dimensions": [{"Name": key, "Value": value} for key, value in sorted(dimensions.items())],
        },
        "Period": period_seconds,
        "Stat": statistic,
    }


def volume_dimensions(source: str, window_minutes: int) -> dict[str, str]:
    """SourceVolumeChange's dimensions, as the volume check publishes them."""
    return {
        Dimension.SERVICE: constants.SERVICE_NAME,
        Dimension.SOURCE: source,
        Dimension.WINDOW_MINUTES: str(window_minutes),
    }


def source_volume_alarm(alert: SourceVolumeAlert, prefix: str) -> AlarmDefinition:
    change = _metric(
        Metric.SOURCE_VOLUME_CHANGE,
        volume_dimensions(alert.source, alert.window_minutes),
        CHECK_INTERVAL_MINUTES * 60,
        "Average",
    )
    return AlarmDefinition(
        name=f"{prefix}source-volume-{alert.source}-{alert.window_minutes}m",
        kind=AlertKind.SOURCE_VOLUME,
        target=alert.source,
        description=(
            f"Source {alert.source}: the events received in {alert.window_minutes} minutes changed by more than "
            f"{alert.change_percent:g}% (up or down) from the same {alert.window_minutes} minutes a week earlier. "
            f"See `switchyard alerts` and the dashboard's messages received by source."
        ),
        threshold=alert.change_percent,
        comparison="GreaterThanThreshold",
        evaluation_periods=VOLUME_CHECKS_TO_ALARM,
        treat_missing_data="missing",
        metrics=(
            {"Id": "change", "MetricStat": change, "ReturnData": False},
            {"Id": "size", "Expression": "ABS(change)", "Label": "change from a week earlier (%)", "ReturnData": True},
        ),
    )


def delivery_success_alarm(alert: DeliverySuccessAlert, prefix: str) -> AlarmDefinition:
    period = alert.window_minutes * 60
    dimensions = {Dimension.SERVICE: constants.SERVICE_NAME, Dimension.DESTINATION: alert.destination}
    outcomes = {"delivered": Metric.DELIVERED, "refused": Metric.NOT_DELIVERED, "dead": Metric.DEAD_LETTERED}
    return AlarmDefinition(
        name=f"{prefix}delivery-success-{alert.destination}",
        kind=AlertKind.DELIVERY_SUCCESS,
        target=alert.destination,
        description=(
            f"Destination {alert.destination}: fewer than {alert.below_percent:g}% of the deliveries that ended in "
            f"{alert.window_minutes} minutes succeeded (the others were refused or given up after retries). "
            f"See `switchyard delivery {alert.destination}`."
        ),
        threshold=alert.below_percent,
        comparison="LessThanThreshold",
        evaluation_periods=1,
        treat_missing_data="notBreaching",  # no deliveries at all is no failure
        metrics=(
            *(
                {"Id": metric_id, "MetricStat": _metric(name, dimensions, period, "Sum"), "ReturnData": False}
                for metric_id, name in outcomes.items()
            ),
            {"Id": "rate", "Expression": SUCCESS_RATE, "Label": "delivered (%)", "ReturnData": True},
        ),
    )
