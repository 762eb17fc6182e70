"""Dashboard and alarms per region, wired to an encrypted, TLS-only alarm topic."""

from __future__ import annotations

import json

import pytest

from .conftest import ALARM_TOPIC_ARN, DUBLIN, OREGON, Synthesized, base_id, only, resources

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
        ("AWS/ApiGateway", "4xx"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"),
        ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
    ],
)
def test_dashboard_graphs(template_json: dict, namespace: str, metric: str) -> None:
    assert (namespace, metric) in graphed(template_json)[0]


@pytest.mark.parametrize(
    "search",
    [
        """SEARCH('{Switchyard,service,source} MetricName="MessagesReceived"', 'Sum', 300)""",
        """SEARCH('{Switchyard,service,source} MetricName="BytesReceived"', 'Sum', 300)""",
        """SEARCH('{Switchyard,reason,service,source} MetricName="MessagesDiscarded"', 'Sum', 300)""",
    ],
)
def test_dashboard_searches_the_domain_metrics_by_dimension(template_json: dict, search: str) -> None:
    assert search in graphed(template_json)[1]


def test_dashboard_lists_every_alarm(template_json: dict) -> None:
    alarm_widgets = [w for w in dashboard(template_json)["widgets"] if w["type"] == "alarm"]
    assert len(alarm_widgets[0]["properties"]["alarms"]) == len(
        resources(template_json, "AWS::CloudWatch::Alarm")
    )


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
    assert set(found) == {"Api5xxRate", "IngestErrors", "StreamIteratorAge"}
    assert found["Api5xxRate"]["Metrics"][0]["Expression"] == "IF(requests > 0, 100 * errors / requests, 0)"
    assert found["StreamIteratorAge"]["Threshold"] == 300_000


def test_alarms_notify_the_alarm_topic_on_alarm_and_recovery(template_json: dict) -> None:
    topic_id = next(iter(resources(template_json, "AWS::SNS::Topic")))
    for properties in alarms(template_json).values():
        assert properties["AlarmActions"] == [{"Ref": topic_id}]
        assert properties["OKActions"] == [{"Ref": topic_id}]


def test_alarm_topic_is_kms_encrypted_and_tls_only(template_json: dict) -> None:
    topic = only(template_json, "AWS::SNS::Topic")["Properties"]
    key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = template_json["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key["KeyPolicy"]["Statement"]
    )
    statements = only(template_json, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    cloudwatch = next(s for s in statements if s["Effect"] == "Allow")
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(cloudwatch["Condition"]) == {"ArnLike", "StringEquals"}


def test_no_subscription_without_an_alarm_email(template_json: dict) -> None:
    assert not resources(template_json, "AWS::SNS::Subscription")


def test_alarm_email_is_subscribed(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        subscription = only(template_json, "AWS::SNS::Subscription")["Properties"]
        assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def test_an_existing_topic_replaces_the_new_one(custom_app: Synthesized) -> None:
    dublin = custom_app.json[DUBLIN]
    assert not resources(dublin, "AWS::SNS::Topic")
    for properties in alarms(dublin).values():
        assert properties["AlarmActions"] == [ALARM_TOPIC_ARN]
    assert dublin["Outputs"]["AlarmTopicArn"]["Value"] == ALARM_TOPIC_ARN
    assert len(resources(custom_app.json[OREGON], "AWS::SNS::Topic")) == 1
