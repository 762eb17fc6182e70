"""Names the stack, `switchyard apply`, the alert functions and the local stack share."""

from __future__ import annotations

from switchyard import constants

# Stack outputs: the topic every workspace alarm notifies (the forwarder and the e-mail addresses
# of `notify` are its subscribers).
OUTPUT_ALERT_TOPIC = "AlertTopicArn"
ENV_ALERT_PREFIX = "SWITCHYARD_ALERT_PREFIX"
ENV_SLACK_WEBHOOK_PARAMETER = "SWITCHYARD_SLACK_WEBHOOK_PARAMETER"
# The volume check runs this often; its metric's period, and so the alarms', is the same.
CHECK_INTERVAL_MINUTES = 5
ALERTS_TOPIC = "alerts"  # resource kind: the topic's name is switchyard-alerts-<region>


def alarm_prefix(region: str) -> str:
    """Every alarm `apply` manages starts with this; nothing else may, since apply deletes those
    of them the workspace file no longer lists."""
    return f"{constants.resource_name('alert', region)}-"


def slack_webhook_parameter(region: str) -> str:
    """SSM SecureString holding `notify.slack_webhook` (JSON: {"url": ...})."""
    return f"/switchyard/{region}/alerts/slack-webhook"
