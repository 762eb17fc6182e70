"""`switchyard alerts`: the workspace's alerts with their state, and who they notify."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from switchyard.alerts.alarms import AlertKind
from switchyard.alerts.manager import AlertManager, AlertsStatus
from switchyard.alerts.names import OUTPUT_ALERT_TOPIC
from switchyard.cli.targets import Target, TargetError, resolve_target

_KIND_TITLES = {AlertKind.SOURCE_VOLUME: "source volume", AlertKind.DELIVERY_SUCCESS: "delivery success"}


def alert_manager(target: Target) -> AlertManager | None:
    """The region's alert manager; None for a stack deployed before alerts (no alert topic)."""
    topic = target.outputs.get(OUTPUT_ALERT_TOPIC)
    if topic is None:
        return None
    return AlertManager(target.client("cloudwatch"), target.client("sns"), target.client("ssm"), target.region, topic)


def alerts_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    try:
        target = resolve_target(args.region, args.endpoint_url)
        manager = alert_manager(target)
        if manager is None:
            target.output(OUTPUT_ALERT_TOPIC)  # raises TargetError naming what is missing
            return fail("the stack has no alert topic")
    except TargetError as error:
        return fail(str(error))
    print(format_status(manager.status()))
    return 0


HEADINGS = ("ALERT", "ON", "STATE", "SINCE")


def format_status(status: AlertsStatus) -> str:
    lines = []
    if not status.alarms:
        lines.append("No alerts: add an `alerts:` section to the workspace file and apply it (README: Alerts).")
    else:
        rows = [
            (_KIND_TITLES[alarm.kind] if alarm.kind else "other", alarm.target, alarm.state, alarm.since)
            for alarm in status.alarms
        ]
        widths = [max(len(row[column]) for row in (HEADINGS, *rows)) for column in range(len(HEADINGS))]
        lines.append(_row(HEADINGS, widths))
        for row, alarm in zip(rows, status.alarms, strict=True):
            lines.append(_row(row, widths))
            if alarm.state != "OK" and alarm.reason:
                lines.append(f"    {alarm.reason}")
    lines += ["", "Notify:"]
    for recipient in status.recipients:
        state = "confirmed" if recipient.confirmed else "pending confirmation (the address must click SNS's link)"
        lines.append(f"  e-mail  {recipient.endpoint}  {state}")
    lines.append(f"  slack   {'webhook set' if status.slack_configured else 'none'}")
    if not status.recipients and not status.slack_configured:
        lines.append("  (nobody: alarms change state silently)")
    return "\n".join(lines)


def _row(values: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)).rstrip()
