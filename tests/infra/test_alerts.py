"""Workspace alerts in the stack: the encrypted topic CloudWatch publishes to, the Slack forwarder
subscribed to it with its one SSM read, the volume check on its schedule with its metric policy,
the output, and the functions' error alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.alerts import METRIC_READ_ACTIONS
from infra.paths import FUNCTIONS_DIR
from switchyard import constants
from switchyard.alerts.names import CHECK_INTERVAL_MINUTES, OUTPUT_ALERT_TOPIC

from .conftest import base_id, function_policy, named, resources

pytestmark = pytest.mark.infra


def test_the_topic_is_encrypted_with_its_own_key_and_takes_only_this_accounts_workspace_alarms(
    template_json: dict, region: str
) -> None:
    topic = named(template_json, "AWS::SNS::Topic", "AlertsTopic")["Properties"]
    assert topic["TopicName"] == f"switchyard-alerts-{region}"
    assert base_id(topic["KmsMasterKeyId"]["Fn::GetAtt"][0]) == "AlertsTopicKey"
    policy = named(template_json, "AWS::SNS::TopicPolicy", "AlertsTopicPolicy")["Properties"]["PolicyDocument"]
    (publish,) = [s for s in policy["Statement"] if s.get("Sid") == "WorkspaceAlarmsOfThisAccount"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert f"alarm:switchyard-alert-{region}-*" in json.dumps(publish["Condition"]["ArnLike"])
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy["Statement"])


def test_the_forwarder_is_subscribed_to_the_topic(template_json: dict) -> None:
    subscription = only_subscription(template_json)
    assert subscription["Protocol"] == "lambda"
    assert base_id(subscription["Endpoint"]["Fn::GetAtt"][0]) == "AlertsForwarder"
    assert base_id(subscription["TopicArn"]["Ref"]) == "AlertsTopic"


def only_subscription(template_json: dict) -> dict[str, Any]:
    found = [
        r["Properties"]
        for k, r in resources(template_json, "AWS::SNS::Subscription").items()
        if k.startswith("AlertsForwarder")
    ]
    assert len(found) == 1, found
    return found[0]


def test_the_forwarder_reads_exactly_the_webhook_parameter_and_nothing_else(template_json: dict, region: str) -> None:
    granted = function_policy(template_json, "AlertsForwarder")
    (parameter,) = [target for actions, target in granted.items() if actions == ("ssm:GetParameter",)]
    assert parameter == f"arn:aws:ssm:{region}:000000000000:parameter/switchyard/{region}/alerts/slack-webhook"
    assert set(granted) == {("ssm:GetParameter",), ("logs:CreateLogStream", "logs:PutLogEvents")}


def test_the_volume_check_runs_on_schedule_with_its_metric_policy(template_json: dict) -> None:
    schedule = named(template_json, "AWS::Scheduler::Schedule", "AlertsSchedule")["Properties"]
    assert schedule["ScheduleExpression"] == f"rate({CHECK_INTERVAL_MINUTES} minutes)"
    assert base_id(schedule["Target"]["Arn"]["Fn::GetAtt"][0]) == "AlertsVolumeCheck"
    policy = named(template_json, "AWS::IAM::ManagedPolicy", "AlertsVolumeCheckMetrics")["Properties"]
    read, write = policy["PolicyDocument"]["Statement"]
    assert (sorted(read["Action"]), read["Resource"]) == (sorted(METRIC_READ_ACTIONS), "*")
    assert write["Action"] == "cloudwatch:PutMetricData"
    assert write["Condition"] == {"StringEquals": {"cloudwatch:namespace": constants.METRICS_NAMESPACE}}
    role = named(template_json, "AWS::IAM::Role", "AlertsVolumeCheckRole")["Properties"]
    assert [base_id(arn["Ref"]) for arn in role["ManagedPolicyArns"]] == ["AlertsVolumeCheckMetrics"]


def test_both_functions_run_their_own_handlers_and_alarm_on_errors(template_json: dict) -> None:
    for construct, folder in (("AlertsForwarder", "alert_forwarder"), ("AlertsVolumeCheck", "alert_checker")):
        function = named(template_json, "AWS::Lambda::Function", construct)["Properties"]
        assert function["Handler"] == "handler.lambda_handler"
        assert (FUNCTIONS_DIR / folder / "handler.py").exists()
    alarm_names = {k for k in resources(template_json, "AWS::CloudWatch::Alarm")}
    assert any(k.startswith("ObservabilityAlertforwarderErrors") for k in alarm_names)
    assert any(k.startswith("ObservabilityAlertvolumecheckErrors") for k in alarm_names)


def test_the_topic_is_an_output_the_cli_finds(template_json: dict) -> None:
    assert base_id(template_json["Outputs"][OUTPUT_ALERT_TOPIC]["Value"]["Ref"]) == "AlertsTopic"
