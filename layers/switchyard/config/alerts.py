"""The workspace file's `alerts:` section: what to watch, and whom to tell.

```yaml
alerts:
  source_volume:            # one mapping, or a list of them
    - {source: web, change_percent: 50, window_minutes: 60}
  delivery_success:
    - {destination: amp, below_percent: 95, window_minutes: 15}
  notify:
    email: [data-team@example.com]                  # one address, or a list
    slack_webhook: {env: SLACK_ALERTS_WEBHOOK}      # a secret: kept in SSM, never in the config
```

`switchyard apply` turns each alert into a CloudWatch alarm (switchyard.alerts.alarms), so the
checks run in CloudWatch whether or not anyone has the CLI open.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from switchyard import constants
from switchyard.destinations.base import URL_PATTERN, SecretText

# A CloudWatch alarm evaluates at most a day of data; below 5 minutes a window holds too few events
# for a percentage to mean anything.
MIN_WINDOW_MINUTES = 5
MAX_WINDOW_MINUTES = 1440
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _one_or_many(value: Any) -> Any:
    """`key: {...}` for one, `key: [{...}, ...]` for several: a single mapping becomes a list."""
    return [value] if isinstance(value, dict | str) else value


class SourceVolumeAlert(BaseModel):
    """Events received by a source over `window_minutes` moved by more than `change_percent`
    (up or down) from the same window a week earlier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, description="The source's id")
    change_percent: float = Field(gt=0, le=10_000, description="Change from a week earlier that alerts, either way")
    window_minutes: int = Field(default=60, ge=MIN_WINDOW_MINUTES, le=MAX_WINDOW_MINUTES)


class DeliverySuccessAlert(BaseModel):
    """The share of a destination's deliveries that succeeded over `window_minutes` fell below
    `below_percent` (retries still under way do not count; refusals and dead letters do)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    destination: str = Field(min_length=1, description="The destination's id")
    below_percent: float = Field(gt=0, le=100)
    window_minutes: int = Field(default=15, ge=MIN_WINDOW_MINUTES, le=MAX_WINDOW_MINUTES)


class NotifySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Annotated[list[Annotated[str, Field(pattern=_EMAIL)]], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, description="Addresses; each confirms the subscription mail SNS sends it"
    )
    slack_webhook: SecretText | None = Field(default=None, description="A Slack incoming webhook URL (a secret)")

    @field_validator("slack_webhook")
    @classmethod
    def _a_url(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(URL_PATTERN, url):
            raise ValueError("must be the webhook's URL (https://hooks.slack.com/services/...)")
        return url

    @field_validator("email")
    @classmethod
    def _unique_emails(cls, emails: list[str]) -> list[str]:
        lowered = [email.lower() for email in emails]
        if len(set(lowered)) != len(lowered):
            raise ValueError("an address is listed twice")
        return emails


class AlertsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_volume: Annotated[list[SourceVolumeAlert], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    delivery_success: Annotated[list[DeliverySuccessAlert], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    notify: NotifySpec = Field(default_factory=NotifySpec)

    @field_validator("source_volume")
    @classmethod
    def _one_per_source_and_window(cls, alerts: list[SourceVolumeAlert]) -> list[SourceVolumeAlert]:
        keys = [(alert.source, alert.window_minutes) for alert in alerts]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"two alerts for source {key[0]!r} over {key[1]} minutes: keep one")
        return alerts

    @field_validator("delivery_success")
    @classmethod
    def _one_per_destination(cls, alerts: list[DeliverySuccessAlert]) -> list[DeliverySuccessAlert]:
        destinations = [alert.destination for alert in alerts]
        for destination in destinations:
            if destinations.count(destination) > 1:
                raise ValueError(f"two alerts for destination {destination!r}: keep one")
        return alerts


def check_alert_targets(alerts: AlertsSpec, sources: Sequence[str], destinations: Sequence[str]) -> None:
    """Each alert names a source or destination of the file that CloudWatch counts by name.

    Only the first METRIC_NAMED_IDS sources and destinations of the file have metrics of their
    own (the others are counted together as `_other`, constants.py), so an alarm on a later one
    would watch nothing: refused, with what to do instead.
    """
    named = constants.METRIC_NAMED_IDS
    for index, alert in enumerate(alerts.source_volume):
        _check_target(f"alerts.source_volume.{index}", "source", alert.source, sources, named)
    for index, alert in enumerate(alerts.delivery_success):
        _check_target(f"alerts.delivery_success.{index}", "destination", alert.destination, destinations, named)


def _check_target(where: str, kind: str, target: str, known: Sequence[str], named: int) -> None:
    if target not in known:
        listed = ", ".join(known) or "none"
        raise ValueError(f"{where}: unknown {kind} {target!r} (the file's {kind}s: {listed})")
    position = known.index(target)
    if position >= named:
        raise ValueError(
            f"{where}: {kind} {target!r} is number {position + 1} in the file, and CloudWatch metrics name only "
            f"the first {named} {kind}s (the others are counted together as {constants.OTHER_METRIC_NAME!r}); "
            f"move it among the first {named} to alert on it"
        )


def notify_warnings(alerts: AlertsSpec) -> list[str]:
    if (alerts.source_volume or alerts.delivery_success) and not (alerts.notify.email or alerts.notify.slack_webhook):
        return ["alerts: `notify` names no e-mail address or Slack webhook: alarms change state, nobody is told"]
    return []
