"""What `switchyard apply` does with the `alerts:` section, and what `switchyard alerts` reads back.

The alarms depend on the workspace file, which is applied at run time, so they are managed here
through the CloudWatch API rather than by the stack: every alarm of the region's workspace is
named with `alarm_prefix(region)`, created or updated when the file lists it, deleted when it no
longer does. The stack owns what does not depend on the file: the topic the alarms notify, the
Slack forwarder subscribed to it, and the volume check.

An apply is idempotent: an alarm is written only when it is new or its definition changed (its
description states every parameter), e-mail addresses are subscribed once. If it fails half-way
(a throttled call), applying again finishes the job; nothing here touches the workspace config.

E-mail subscriptions need the recipient's confirmation (SNS mails a link); until then SNS lists
them as `PendingConfirmation` and they receive nothing. A pending subscription cannot be removed
through the API: SNS deletes it after three days unconfirmed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from switchyard.alerts.alarms import AlarmDefinition, AlertKind, build_alarms
from switchyard.alerts.names import alarm_prefix, slack_webhook_parameter
from switchyard.config.alerts import AlertsSpec
from switchyard.secure_parameters import put_json

PENDING = "PendingConfirmation"  # SNS's SubscriptionArn of an unconfirmed subscription
_DELETE_BATCH = 100  # DeleteAlarms takes at most 100 names
_NAME = re.compile(r"^(?:source-volume-(?P<source>.+)-(?P<window>\d+)m|delivery-success-(?P<destination>.+))$")

# (what, what happened) -> names, as ApplyResult.changes keeps them.
Changes = dict[tuple[str, str], list[str]]


@dataclass(frozen=True)
class AlarmStatus:
    name: str
    kind: AlertKind | None  # None: a name under the prefix this version does not make
    target: str
    state: str  # OK, ALARM, INSUFFICIENT_DATA
    reason: str
    since: str  # ISO-8601, when the state last changed
    description: str


@dataclass(frozen=True)
class Recipient:
    endpoint: str  # an address; a Slack webhook is never shown
    protocol: str
    confirmed: bool


@dataclass(frozen=True)
class AlertsStatus:
    alarms: tuple[AlarmStatus, ...]
    recipients: tuple[Recipient, ...]
    slack_configured: bool


class AlertManager:
    def __init__(self, cloudwatch: Any, sns: Any, ssm: Any, region: str, topic_arn: str) -> None:
        self._cloudwatch = cloudwatch
        self._sns = sns
        self._ssm = ssm
        self._region = region
        self._topic_arn = topic_arn
        self._prefix = alarm_prefix(region)

    def apply(self, alerts: AlertsSpec | None) -> tuple[Changes, list[str]]:
        """Make the region's alarms, subscriptions and Slack webhook what `alerts` says (None: no
        alerts at all). Returns what changed, and warnings (addresses awaiting confirmation)."""
        alerts = alerts or AlertsSpec()
        changes = self._apply_alarms(build_alarms(alerts, self._region))
        changes.update(self._apply_emails(alerts.notify.email))
        url = alerts.notify.slack_webhook
        put_json(self._ssm, slack_webhook_parameter(self._region), {"url": url} if url else {})
        pending = [r.endpoint for r in self._recipients() if r.protocol == "email" and not r.confirmed]
        warnings = [
            f"alerts: {address} has not confirmed SNS's subscription mail yet and gets no alerts until it does"
            for address in pending
        ]
        return changes, warnings

    def status(self) -> AlertsStatus:
        # Those firing first, then by name (kind, then source or destination).
        found = sorted(self._alarms(), key=lambda alarm: (alarm.get("StateValue") != "ALARM", alarm["AlarmName"]))
        alarms = tuple(self._alarm_status(alarm) for alarm in found)
        try:
            self._ssm.get_parameter(Name=slack_webhook_parameter(self._region), WithDecryption=False)
            slack = True
        except self._ssm.exceptions.ParameterNotFound:
            slack = False
        return AlertsStatus(alarms, tuple(self._recipients()), slack)

    # Alarms.

    def _apply_alarms(self, desired: list[AlarmDefinition]) -> Changes:
        existing = {alarm["AlarmName"]: alarm for alarm in self._alarms()}
        added, changed = [], []
        for definition in desired:
            current = existing.get(definition.name)
            if current is None:
                added.append(definition.name)
            elif current.get("AlarmDescription") != definition.description or current.get("AlarmActions") != [
                self._topic_arn
            ]:
                changed.append(definition.name)
            else:
                continue
            self._cloudwatch.put_metric_alarm(**definition.put_request(self._topic_arn))
        removed = sorted(existing.keys() - {definition.name for definition in desired})
        for start in range(0, len(removed), _DELETE_BATCH):
            self._cloudwatch.delete_alarms(AlarmNames=removed[start : start + _DELETE_BATCH])
        return {
            ("alerts", "added"): self._short(added),
            ("alerts", "changed"): self._short(changed),
            ("alerts", "removed"): self._short(removed),
        }

    def _alarms(self) -> Iterator[dict[str, Any]]:
        paginator = self._cloudwatch.get_paginator("describe_alarms")
        for page in paginator.paginate(AlarmNamePrefix=self._prefix, AlarmTypes=["MetricAlarm"]):
            yield from page["MetricAlarms"]

    def _alarm_status(self, alarm: dict[str, Any]) -> AlarmStatus:
        short = alarm["AlarmName"].removeprefix(self._prefix)
        match = _NAME.match(short)
        kind, target = None, short
        if match and match["source"]:
            kind, target = AlertKind.SOURCE_VOLUME, f"{match['source']} ({match['window']} min)"
        elif match:
            kind, target = AlertKind.DELIVERY_SUCCESS, match["destination"]
        updated = alarm.get("StateUpdatedTimestamp")
        return AlarmStatus(
            name=alarm["AlarmName"],
            kind=kind,
            target=target,
            state=alarm.get("StateValue", "INSUFFICIENT_DATA"),
            reason=alarm.get("StateReason", ""),
            since=updated.isoformat(timespec="seconds") if updated else "",
            description=alarm.get("AlarmDescription", ""),
        )

    def _short(self, names: list[str]) -> list[str]:
        return sorted(name.removeprefix(self._prefix) for name in names)

    # Recipients.

    def _apply_emails(self, emails: list[str]) -> Changes:
        wanted = {email.lower(): email for email in emails}
        subscribed = {s["Endpoint"].lower(): s for s in self._subscriptions() if s["Protocol"] == "email"}
        added = []
        for key, email in sorted(wanted.items()):
            if key not in subscribed:
                self._sns.subscribe(TopicArn=self._topic_arn, Protocol="email", Endpoint=email)
                added.append(email)
        removed = []
        for key, subscription in sorted(subscribed.items()):
            if key not in wanted and subscription["SubscriptionArn"] != PENDING:
                self._sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
                removed.append(subscription["Endpoint"])
        return {("alert e-mails", "added"): added, ("alert e-mails", "removed"): removed}

    def _subscriptions(self) -> Iterator[dict[str, Any]]:
        paginator = self._sns.get_paginator("list_subscriptions_by_topic")
        for page in paginator.paginate(TopicArn=self._topic_arn):
            yield from page["Subscriptions"]

    def _recipients(self) -> Iterator[Recipient]:
        for subscription in self._subscriptions():
            if subscription["Protocol"] in ("email", "email-json"):
                confirmed = subscription["SubscriptionArn"] != PENDING
                yield Recipient(subscription["Endpoint"], subscription["Protocol"], confirmed)
