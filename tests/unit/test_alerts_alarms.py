"""Alarm definitions built from the `alerts:` section."""

from __future__ import annotations

from switchyard.alerts.alarms import AlertKind, build_alarms
from switchyard.alerts.names import CHECK_INTERVAL_MINUTES
from switchyard.config.alerts import AlertsSpec

TOPIC = "arn:aws:sns:us-west-2:123456789012:switchyard-alerts-us-west-2"
ALERTS = AlertsSpec.model_validate(
    {
        "source_volume": {"source": "web", "change_percent": 50, "window_minutes": 60},
        "delivery_success": {"destination": "amp", "below_percent": 95, "window_minutes": 15},
    }
)


def by_kind():  # type: ignore[no-untyped-def]
    return {alarm.kind: alarm for alarm in build_alarms(ALERTS, "us-west-2")}


def test_each_alert_is_one_alarm_named_under_the_regions_prefix():
    names = sorted(alarm.name for alarm in build_alarms(ALERTS, "eu-west-1"))
    assert names == [
        "switchyard-alert-eu-west-1-delivery-success-amp",
        "switchyard-alert-eu-west-1-source-volume-web-60m",
    ]


def test_the_success_rate_is_delivered_over_final_outcomes_of_the_destination_over_its_window():
    request = by_kind()[AlertKind.DELIVERY_SUCCESS].put_request(TOPIC)
    metrics = {query["Id"]: query for query in request["Metrics"]}
    for metric_id, name in (("delivered", "Delivered"), ("refused", "NotDelivered"), ("dead", "DeadLettered")):
        stat = metrics[metric_id]["MetricStat"]
        assert stat["Metric"]["MetricName"] == name
        assert {"Name": "destination", "Value": "amp"} in stat["Metric"]["Dimensions"]
        assert (stat["Period"], stat["Stat"], metrics[metric_id]["ReturnData"]) == (15 * 60, "Sum", False)
    rate = metrics["rate"]
    assert rate["ReturnData"] is True
    assert rate["Expression"].startswith("IF(FILL(delivered, 0) + FILL(refused, 0) + FILL(dead, 0) > 0")
    assert rate["Expression"].endswith(", 100)")  # a window without outcomes is no failure
    assert (request["Threshold"], request["ComparisonOperator"]) == (95, "LessThanThreshold")
    assert request["TreatMissingData"] == "notBreaching"


def test_the_volume_alarm_watches_the_size_of_the_checks_change_either_way():
    request = by_kind()[AlertKind.SOURCE_VOLUME].put_request(TOPIC)
    change, size = request["Metrics"]
    assert change["MetricStat"]["Metric"]["MetricName"] == "SourceVolumeChange"
    assert sorted((d["Name"], d["Value"]) for d in change["MetricStat"]["Metric"]["Dimensions"]) == [
        ("service", "switchyard"),
        ("source", "web"),
        ("window_minutes", "60"),
    ]
    assert change["MetricStat"]["Period"] == CHECK_INTERVAL_MINUTES * 60
    assert (size["Expression"], size["ReturnData"]) == ("ABS(change)", True)
    assert (request["Threshold"], request["ComparisonOperator"]) == (50, "GreaterThanThreshold")
    assert request["EvaluationPeriods"] == request["DatapointsToAlarm"] == 2
    assert request["TreatMissingData"] == "missing"  # no baseline yet shows as INSUFFICIENT_DATA


def test_alarms_notify_the_topic_when_they_fire_and_when_they_recover_and_are_tagged():
    request = by_kind()[AlertKind.DELIVERY_SUCCESS].put_request(TOPIC)
    assert request["AlarmActions"] == request["OKActions"] == [TOPIC]
    assert {"Key": "switchyard:destination", "Value": "amp"} in request["Tags"]


def test_the_description_states_every_parameter_so_a_changed_alert_is_rewritten():
    changed = AlertsSpec.model_validate({"delivery_success": {"destination": "amp", "below_percent": 90}})
    (before,) = [a for a in build_alarms(ALERTS, "us-west-2") if a.kind is AlertKind.DELIVERY_SUCCESS]
    (after,) = build_alarms(changed, "us-west-2")
    assert before.name == after.name
    assert before.description != after.description
    assert "90%" in after.description and "15 minutes" in after.description
