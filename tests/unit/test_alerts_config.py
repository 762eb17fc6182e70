"""The workspace file's `alerts:` section: its forms, and errors that say what to fix."""

from __future__ import annotations

import pytest

from switchyard.config.alerts import notify_warnings
from switchyard.config.workspace import ConfigError, parse_workspace
from switchyard.constants import METRIC_NAMED_IDS

BASE = """\
workspace: acme
sources:
  - {id: web, name: Web, write_key: wk_web_12345}
  - {id: ios, name: iOS, write_key: wk_ios_12345}
destinations:
  - {id: amp, type: webhook, sources: [web], settings: {url: "https://example.com/hook"}}
"""


def parse(alerts: str, base: str = BASE):  # type: ignore[no-untyped-def]
    return parse_workspace(base + "alerts:\n" + alerts)


def test_the_issues_single_mapping_form_is_one_alert_each():
    spec = parse(
        "  source_volume: {source: web, change_percent: 50, window_minutes: 60}\n"
        "  delivery_success: {destination: amp, below_percent: 95, window_minutes: 15}\n"
        "  notify: {email: ops@example.com}\n"
    )
    assert spec.alerts is not None
    assert [(a.source, a.change_percent, a.window_minutes) for a in spec.alerts.source_volume] == [("web", 50, 60)]
    assert [(a.destination, a.below_percent) for a in spec.alerts.delivery_success] == [("amp", 95)]
    assert spec.alerts.notify.email == ["ops@example.com"]


def test_lists_watch_several_sources_and_notify_several_addresses():
    spec = parse(
        "  source_volume:\n"
        "    - {source: web, change_percent: 50}\n"
        "    - {source: ios, change_percent: 30, window_minutes: 1440}\n"
        "  notify: {email: [a@example.com, b@example.com]}\n"
    )
    assert spec.alerts is not None
    assert [(a.source, a.window_minutes) for a in spec.alerts.source_volume] == [("web", 60), ("ios", 1440)]
    assert spec.alerts.notify.email == ["a@example.com", "b@example.com"]


def test_an_unknown_source_is_refused_naming_the_alert_and_the_known_sources():
    with pytest.raises(
        ConfigError, match=r"alerts.source_volume.0: unknown source 'shop' \(the file's sources: web, ios\)"
    ):
        parse("  source_volume: {source: shop, change_percent: 50}\n")


def test_an_unknown_destination_is_refused():
    with pytest.raises(ConfigError, match=r"alerts.delivery_success.0: unknown destination 'mixpanel'"):
        parse("  delivery_success: {destination: mixpanel, below_percent: 90}\n")


def test_a_source_beyond_the_metric_cap_is_refused_with_what_to_do():
    sources = "".join(
        f"  - {{id: s{i}, name: S{i}, write_key: wk_source_{i:04d}}}\n" for i in range(METRIC_NAMED_IDS + 1)
    )
    base = f"workspace: acme\nsources:\n{sources}"
    parse(f"  source_volume: {{source: s{METRIC_NAMED_IDS - 1}, change_percent: 50}}\n", base)  # the last one named
    with pytest.raises(ConfigError, match=rf"number {METRIC_NAMED_IDS + 1} in the file.*move it among the first"):
        parse(f"  source_volume: {{source: s{METRIC_NAMED_IDS}, change_percent: 50}}\n", base)


def test_two_alerts_on_one_source_and_window_are_refused():
    with pytest.raises(ConfigError, match="two alerts for source 'web' over 60 minutes"):
        parse("  source_volume: [{source: web, change_percent: 50}, {source: web, change_percent: 20}]\n")


@pytest.mark.parametrize(
    ("alert", "message"),
    [
        ("source_volume: {source: web, change_percent: 0}", "greater than 0"),
        ("source_volume: {source: web, change_percent: 50, window_minutes: 1}", "greater than or equal to 5"),
        ("delivery_success: {destination: amp, below_percent: 120}", "less than or equal to 100"),
        ("source_volume: {source: web, change_pct: 50}", "change_pct"),
        ("notify: {email: not-an-address}", "should match pattern"),
        ("notify: {email: [a@example.com, A@example.com]}", "listed twice"),
    ],
)
def test_bad_values_name_the_line_and_key(alert: str, message: str):
    with pytest.raises(ConfigError, match=message) as error:
        parse(f"  {alert}\n")
    assert "line 8" in str(error.value)


def test_the_slack_webhook_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLACK_ALERTS", "https://hooks.slack.com/services/T0/B0/secret")
    spec = parse("  notify: {slack_webhook: {env: SLACK_ALERTS}}\n")
    assert (
        spec.alerts is not None and spec.alerts.notify.slack_webhook == "https://hooks.slack.com/services/T0/B0/secret"
    )
    monkeypatch.delenv("SLACK_ALERTS")
    with pytest.raises(ConfigError, match="'SLACK_ALERTS' is not set"):
        parse("  notify: {slack_webhook: {env: SLACK_ALERTS}}\n")


def test_alerts_without_anyone_to_notify_are_applied_with_a_warning():
    spec = parse("  source_volume: {source: web, change_percent: 50}\n")
    assert spec.alerts is not None
    assert notify_warnings(spec.alerts) == [
        "alerts: `notify` names no e-mail address or Slack webhook: alarms change state, nobody is told"
    ]
