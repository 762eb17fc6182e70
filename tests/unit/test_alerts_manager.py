"""`apply` manages the region's alarms and recipients: created, updated, deleted, idempotently (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from switchyard.alerts.manager import PENDING, AlertManager
from switchyard.alerts.names import slack_webhook_parameter
from switchyard.config.alerts import AlertsSpec
from switchyard.secure_parameters import get_json

REGION = "us-west-2"
WEBHOOK = "https://hooks.slack.com/services/T0/B0/secret"


def alerts(**sections: Any) -> AlertsSpec:
    return AlertsSpec.model_validate(sections)


@pytest.fixture
def clients() -> Iterator[dict[str, Any]]:
    with mock_aws():
        found = {name: boto3.client(name, region_name=REGION) for name in ("cloudwatch", "sns", "ssm")}
        found["topic"] = found["sns"].create_topic(Name="switchyard-alerts-us-west-2")["TopicArn"]
        yield found


def manager(clients: dict[str, Any], region: str = REGION) -> AlertManager:
    return AlertManager(clients["cloudwatch"], clients["sns"], clients["ssm"], region, clients["topic"])


def alarm_names(clients: dict[str, Any]) -> list[str]:
    return sorted(alarm["AlarmName"] for alarm in clients["cloudwatch"].describe_alarms()["MetricAlarms"])


FIRST = alerts(
    source_volume=[{"source": "web", "change_percent": 50}],
    delivery_success=[{"destination": "amp", "below_percent": 95}],
    notify={"email": "ops@example.com", "slack_webhook": WEBHOOK},
)


def test_apply_creates_an_alarm_per_alert_subscribes_the_addresses_and_stores_the_webhook(clients):
    changes, _ = manager(clients).apply(FIRST)
    assert changes[("alerts", "added")] == ["delivery-success-amp", "source-volume-web-60m"]
    assert changes[("alert e-mails", "added")] == ["ops@example.com"]
    assert alarm_names(clients) == [
        "switchyard-alert-us-west-2-delivery-success-amp",
        "switchyard-alert-us-west-2-source-volume-web-60m",
    ]
    alarm = clients["cloudwatch"].describe_alarms(AlarmNamePrefix="switchyard-alert-us-west-2-delivery")
    assert alarm["MetricAlarms"][0]["AlarmActions"] == [clients["topic"]]
    assert get_json(clients["ssm"], slack_webhook_parameter(REGION)) == {"url": WEBHOOK}


def test_applying_the_same_alerts_again_changes_nothing(clients):
    manager(clients).apply(FIRST)
    changes, _ = manager(clients).apply(FIRST)
    assert not any(changes.values())
    assert len(clients["sns"].list_subscriptions_by_topic(TopicArn=clients["topic"])["Subscriptions"]) == 1


def test_a_changed_threshold_updates_the_alarm_in_place(clients):
    manager(clients).apply(FIRST)
    changed = alerts(delivery_success=[{"destination": "amp", "below_percent": 80}], notify=FIRST.notify)
    changes, _ = manager(clients).apply(changed)
    assert changes[("alerts", "changed")] == ["delivery-success-amp"]
    assert changes[("alerts", "removed")] == ["source-volume-web-60m"]
    (alarm,) = clients["cloudwatch"].describe_alarms()["MetricAlarms"]
    assert alarm["Threshold"] == 80


def test_removing_the_section_deletes_the_alarms_the_addresses_and_the_webhook(clients):
    manager(clients).apply(FIRST)
    changes, _ = manager(clients).apply(None)
    assert changes[("alerts", "removed")] == ["delivery-success-amp", "source-volume-web-60m"]
    assert changes[("alert e-mails", "removed")] == ["ops@example.com"]
    assert alarm_names(clients) == []
    assert get_json(clients["ssm"], slack_webhook_parameter(REGION)) == {}


def test_alarms_outside_the_prefix_and_other_regions_are_left_alone(clients):
    clients["cloudwatch"].put_metric_alarm(
        AlarmName="team-own-alarm",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    manager(clients, "eu-west-1").apply(alerts(source_volume=[{"source": "web", "change_percent": 10}]))
    manager(clients).apply(None)
    assert alarm_names(clients) == ["switchyard-alert-eu-west-1-source-volume-web-60m", "team-own-alarm"]


def test_status_lists_each_alarm_with_its_state_and_the_recipients(clients):
    manager(clients).apply(FIRST)
    clients["cloudwatch"].set_alarm_state(
        AlarmName="switchyard-alert-us-west-2-delivery-success-amp", StateValue="ALARM", StateReason="rate 80 < 95"
    )
    status = manager(clients).status()
    states = {(alarm.kind.value if alarm.kind else None, alarm.target): alarm.state for alarm in status.alarms}
    assert states[("delivery_success", "amp")] == "ALARM"
    assert ("source_volume", "web (60 min)") in states
    assert [(r.endpoint, r.confirmed) for r in status.recipients] == [("ops@example.com", True)]
    assert status.slack_configured


class PendingSns:
    """SNS as AWS answers before the address clicked the confirmation link (moto confirms at once)."""

    def __init__(self, sns: Any) -> None:
        self._sns = sns
        self.unsubscribed: list[str] = []

    def subscribe(self, **kwargs: Any) -> Any:
        return self._sns.subscribe(**kwargs)

    def unsubscribe(self, SubscriptionArn: str) -> None:  # noqa: N803 - boto3's keyword
        self.unsubscribed.append(SubscriptionArn)

    def get_paginator(self, name: str) -> Any:
        pages = self._sns.get_paginator(name)

        class Pending:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                for page in pages.paginate(**kwargs):
                    yield {"Subscriptions": [{**s, "SubscriptionArn": PENDING} for s in page["Subscriptions"]]}

        return Pending()


def test_unconfirmed_addresses_are_warned_about_shown_pending_and_never_unsubscribed(clients):
    sns = PendingSns(clients["sns"])
    pending = AlertManager(clients["cloudwatch"], sns, clients["ssm"], REGION, clients["topic"])
    _, warnings = pending.apply(FIRST)
    assert warnings == [
        "alerts: ops@example.com has not confirmed SNS's subscription mail yet and gets no alerts until it does"
    ]
    assert [r.confirmed for r in pending.status().recipients] == [False]
    pending.apply(None)
    assert sns.unsubscribed == []  # SNS refuses it; unconfirmed subscriptions lapse after three days
