"""Dashboard and alarms per region, wired to an encrypted, TLS-only alarm topic."""

from __future__ import annotations

import json
import math

import pytest

from infra.observability import SUCCESS_RATE
from switchyard.metrics import DELIVERY_OUTCOMES, Metric

from .conftest import ALARM_TOPIC_ARN, DUBLIN, OREGON, Synthesized, base_id, named, only, resources

pytestmark = pytest.mark.infra


def dashboard(template_json: dict) -> dict:
    """The dashboard body as JSON, CloudFormation references replaced by "REF"."""
    body = only(template_json, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return json.loads("".join(part if isinstance(part, str) else "REF" for part in parts))


def graphed(template_json: dict) -> tuple[set[tuple[str, str]], list[str]]:
    """(namespace, metric name) pairs and math/search expressions of every graph."""
    metrics, expressions = set(), []
    for widget in dashboard(template_json)["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):
                expressions.append(line[0]["expression"])
            else:
                metrics.add((line[0], line[1]))
    return metrics, expressions


@pytest.mark.parametrize(
    ("namespace", "metric"),
    [
        ("AWS/ApiGateway", "Count"),
        ("AWS/ApiGateway", "4XXError"),  # a REST API's names (the default, `waf=true`)
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"),
        ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("Switchyard", Metric.ROUTER_RECORDS),
        ("Switchyard", "Duplicates"),
        ("Switchyard", "Archived"),
        ("Switchyard", "FannedOut"),
        ("Switchyard", "RouterUndecodable"),
    ],
)
def test_dashboard_graphs(template_json: dict, namespace: str, metric: str) -> None:
    assert (namespace, metric) in graphed(template_json)[0]


@pytest.mark.parametrize(
    "search",
    [
        f"""SEARCH('{{Switchyard,service,source}} MetricName="{Metric.MESSAGES_RECEIVED}"', 'Sum', 300)""",
        f"""SEARCH('{{Switchyard,service,source}} MetricName="{Metric.BYTES_RECEIVED}"', 'Sum', 300)""",
        f"""SEARCH('{{Switchyard,reason,service,source}} MetricName="{Metric.MESSAGES_DISCARDED}"', 'Sum', 300)""",
        *(
            f"""SEARCH('{{Switchyard,destination,service}} MetricName="{name}"', 'Sum', 300)"""
            for name in DELIVERY_OUTCOMES
        ),
        f"""SEARCH('{{Switchyard,destination,service}} MetricName="{Metric.DELIVERY_LATENCY}"', 'p95', 300)""",
    ],
)
def test_dashboard_searches_the_domain_metrics_by_dimension(template_json: dict, search: str) -> None:
    assert search in graphed(template_json)[1]


@pytest.mark.parametrize("metric", ["Count", "4xx", "5xx", "Latency"])
def test_the_http_apis_metrics_without_the_firewall(http_api_template_json: dict, metric: str) -> None:
    assert ("AWS/ApiGateway", metric) in graphed(http_api_template_json)[0]


@pytest.mark.parametrize("metric_name", ["BlockedRequests", "CountedRequests"])
def test_dashboard_graphs_the_firewall_by_rule(template_json: dict, region: str, metric_name: str) -> None:
    query = f'{{AWS/WAFV2,Region,Rule,WebACL}} MetricName="{metric_name}" WebACL="switchyard-tracking-{region}"'
    assert f"SEARCH('{query}', 'Sum', 300)" in graphed(template_json)[1]


def test_no_firewall_graphs_without_the_firewall(http_api_template_json: dict) -> None:
    assert not [e for e in graphed(http_api_template_json)[1] if "WAFV2" in e]


def test_the_5xx_rate_alarm_watches_either_kind_of_api(template_json: dict, http_api_template_json: dict) -> None:
    for found, server_errors in ((template_json, "5XXError"), (http_api_template_json, "5xx")):
        alarm = alarms(found)["Api5xxRate"]
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
        assert names == {"Count", server_errors}


def test_dashboard_lists_every_alarm(template_json: dict) -> None:
    alarm_widgets = [w for w in dashboard(template_json)["widgets"] if w["type"] == "alarm"]
    assert len(alarm_widgets[0]["properties"]["alarms"]) == len(resources(template_json, "AWS::CloudWatch::Alarm"))


def test_dashboard_is_named_for_its_region(template_json: dict, region: str) -> None:
    dashboard = only(template_json, "AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == f"switchyard-{region}"


def alarms(template_json: dict) -> dict[str, dict]:
    return {
        base_id(k).removeprefix("Observability"): r["Properties"]
        for k, r in resources(template_json, "AWS::CloudWatch::Alarm").items()
    }


def test_alarms_for_5xx_rate_lambda_errors_and_iterator_age(template_json: dict) -> None:
    found = alarms(template_json)
    assert set(found) == {
        "Api5xxRate",
        "IngestErrors",
        "StreamIteratorAge",
        "RouterErrors",
        "DeliveryErrors",
        "DeadLetters",
        "DeliveryDeadLetterQueue",
        "DeliverySuccessRate",
        "ReplayExecutionsFailed",
        "ReplayplanErrors",
        "ReplayworkerErrors",
        "ReplayreportErrors",
        "DeletionExecutionsFailed",
        "DeletionplanErrors",
        "DeletionworkerErrors",
        "DeletionfinishErrors",
        "LakeLoadsFailed",
        "AlertforwarderErrors",
        "AlertvolumecheckErrors",
    }
    assert found["Api5xxRate"]["Metrics"][0]["Expression"] == "IF(requests > 0, 100 * errors / requests, 0)"
    assert found["StreamIteratorAge"]["Threshold"] == 300_000


def test_the_5xx_alarm_says_how_to_raise_the_streams_capacity(template_json: dict) -> None:
    # Ingest's 503s are mostly the stream throttling writes: an on-demand stream starts at 4 MB/s.
    description = alarms(template_json)["Api5xxRate"]["AlarmDescription"]
    assert "4 MB/s" in description and "-c kinesis_shards=" in description
    assert len(description) <= 1024  # CloudWatch's limit


def test_alarms_notify_the_alarm_topic_on_alarm_and_recovery(template_json: dict) -> None:
    topic_id = next(k for k in resources(template_json, "AWS::SNS::Topic") if k.startswith(ALARM_TOPIC))
    for properties in alarms(template_json).values():
        assert properties["AlarmActions"] == [{"Ref": topic_id}]
        assert properties["OKActions"] == [{"Ref": topic_id}]


# The operators' topic (the workspace alerts' own topic is tested in test_alerts.py).
ALARM_TOPIC = "ObservabilityAlarmTopic"


def alarm_topic_resources(template_json: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in resources(template_json, kind).items() if k.startswith(ALARM_TOPIC)}


def test_alarm_topic_is_kms_encrypted_and_tls_only(template_json: dict) -> None:
    topic = named(template_json, "AWS::SNS::Topic", ALARM_TOPIC)["Properties"]
    key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = template_json["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key["KeyPolicy"]["Statement"])
    statements = named(template_json, "AWS::SNS::TopicPolicy", ALARM_TOPIC)["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )
    cloudwatch = next(s for s in statements if s["Effect"] == "Allow")
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(cloudwatch["Condition"]) == {"ArnLike", "StringEquals"}


def test_no_subscription_without_an_alarm_email(template_json: dict) -> None:
    assert not alarm_topic_resources(template_json, "AWS::SNS::Subscription")


def test_alarm_email_is_subscribed(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        subscription = named(template_json, "AWS::SNS::Subscription", ALARM_TOPIC)["Properties"]
        assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def test_an_existing_topic_replaces_the_new_one(custom_app: Synthesized) -> None:
    dublin = custom_app.json[DUBLIN]
    assert not alarm_topic_resources(dublin, "AWS::SNS::Topic")
    for properties in alarms(dublin).values():
        assert properties["AlarmActions"] == [ALARM_TOPIC_ARN]
    assert dublin["Outputs"]["AlarmTopicArn"]["Value"] == ALARM_TOPIC_ARN
    assert len(alarm_topic_resources(custom_app.json[OREGON], "AWS::SNS::Topic")) == 1


# Delivery alarms.


def test_router_and_delivery_errors_alarm_like_ingest(template_json: dict) -> None:
    found = alarms(template_json)
    for name, function in (("RouterErrors", "RouterFunction"), ("DeliveryErrors", "DeliveryFunction")):
        (metric,) = found[name]["Metrics"]
        stat = metric["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("AWS/Lambda", "Errors")
        assert stat["Metric"]["Dimensions"][0]["Value"]["Ref"].startswith(function)
        assert found[name]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert found[name]["Threshold"] == 1


def test_dead_letters_alarm_covers_every_destination_with_metrics_insights(template_json: dict) -> None:
    alarm = alarms(template_json)["DeadLetters"]
    (query,) = alarm["Metrics"]
    # SEARCH is refused in alarms; a Metrics Insights query is not, and finds new destinations.
    assert query["Expression"] == 'SELECT SUM(DeadLettered) FROM SCHEMA("Switchyard", destination, service)'
    assert query["Period"] == 300
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert (alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (1, "notBreaching")


def test_dead_letter_queue_alarm(template_json: dict) -> None:
    alarm = alarms(template_json)["DeliveryDeadLetterQueue"]
    (metric,) = alarm["Metrics"]
    stat = metric["MetricStat"]
    assert stat["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert stat["Metric"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0].startswith("DeliveryDeadLetterQueue")
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_success_rate_alarm_over_15_minutes_of_final_outcomes(template_json: dict) -> None:
    alarm = alarms(template_json)["DeliverySuccessRate"]
    assert "SEARCH" not in json.dumps(alarm)
    expression = next(m for m in alarm["Metrics"] if "Expression" in m)
    assert expression["ReturnData"] is True
    inputs = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert {i: s["Metric"]["MetricName"] for i, s in inputs.items()} == {
        "delivered": Metric.DELIVERED,
        "failed": Metric.NOT_DELIVERED,
        "dead": Metric.DEAD_LETTERED,
    }
    for stat in inputs.values():  # the delivery function's totals over all destinations
        assert stat["Metric"]["Namespace"] == "Switchyard"
        assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": "switchyard"}]
        assert (stat["Stat"], stat["Period"]) == ("Sum", 900)
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 0.95
    assert alarm["TreatMissingData"] == "notBreaching"


def test_success_rate_is_one_without_deliveries_and_the_share_delivered_otherwise() -> None:
    """Evaluate the alarm's expression the way CloudWatch would, for one data point."""

    class Value(float):  # a data point: x / 0 gives no number, as in metric math
        def __add__(self, other: float) -> Value:
            return Value(float(self) + float(other))

        def __truediv__(self, other: float) -> Value:
            return Value(float(self) / float(other) if other else math.nan)

    def evaluate(delivered: float | None, failed: float | None, dead: float | None) -> float:
        values = {"delivered": delivered, "failed": failed, "dead": dead}
        python = SUCCESS_RATE.replace("IF(", "_if(").replace("FILL(", "_fill(")
        return eval(  # noqa: S307 - the expression is the module's constant
            python,
            {
                "_if": lambda condition, then, otherwise: then if condition else otherwise,
                "_fill": lambda value, default: Value(default if value is None else value),
                **values,
            },
        )

    assert evaluate(None, None, None) == 1
    assert evaluate(90, None, None) == 1
    assert evaluate(90, 5, 5) == 0.9
    assert evaluate(None, 3, None) == 0


def test_success_threshold_comes_from_context(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        assert alarms(template_json)["DeliverySuccessRate"]["Threshold"] == 0.9
