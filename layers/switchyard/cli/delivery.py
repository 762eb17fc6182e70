"""`switchyard delivery <destination> [--since 1h]`: the Delivery Overview as text."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from switchyard import constants
from switchyard.cli.reports import parse_period, short
from switchyard.cli.targets import TargetError, resolve_target
from switchyard.config.store import ConfigStore
from switchyard.delivery.overview import DeliveryOverview, read_overview
from switchyard.delivery.stats import LatencyPoint
from switchyard.delivery.table import DeliveryTable

_BARS = "▁▂▃▄▅▆▇█"
REASONS_SHOWN = 8  # per step; the rest are summed on one line


def delivery_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    try:
        period = parse_period(args.since)
        target = resolve_target(args.region, args.endpoint_url)
        table = DeliveryTable(target.output(constants.OUTPUT_DELIVERY_TABLE), target.client("dynamodb"))
        workspace = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), target.client("dynamodb")).current()
        overview = read_overview(table, workspace, args.destination, period)
    except (TargetError, ValueError, LookupError) as error:
        return fail(str(error).strip("'\""))
    print(format_overview(overview))
    return 0


def format_overview(overview: DeliveryOverview) -> str:
    report = overview.report
    sources = ", ".join(overview.source_ids) or "none"
    lines = [
        f"Delivery Overview for {report.destination_id}, {report.since:%Y-%m-%d %H:%M} to {report.until:%H:%M} UTC"
        f" (sources: {sources})",
    ]
    for step in overview.steps:
        note = f"   ({step.note})" if step.note else ""
        lines.append(f"  {step.name:<22} {step.count:>9,}{note}")
        shown = list(step.reasons.items())[:REASONS_SHOWN]
        for reason, count in shown:
            lines.append(f"      {reason:<44} {count:>9,}")
            lines += _sample_lines(overview, reason)
        rest = sum(list(step.reasons.values())[REASONS_SHOWN:])
        if rest:
            lines.append(f"      {'(other reasons)':<44} {rest:>9,}")
    rate = f"{report.success_rate:.1%}" if report.success_rate is not None else "n/a"
    p95 = f"{report.p95_latency_ms:.0f} ms" if report.p95_latency_ms is not None else "n/a"
    lines.append(f"  success rate           {rate:>9}   (delivered / (delivered + failed); filters are not failures)")
    lines.append(f"  p95 latency            {p95:>9}   (receivedAt to the destination's answer)")
    if any(point.p95_ms is not None for point in report.latency_trend):
        lines.append(
            f"  p95 trend              {sparkline(report.latency_trend)}   {trend_legend(report.latency_trend)}"
        )
    return "\n".join(lines)


def _sample_lines(overview: DeliveryOverview, reason: str) -> list[str]:
    sample = overview.sample(reason)
    if not sample:
        return []
    lines = [f"        received  {short(sample.get('received'))}"]
    if sample.get("request") is not None:
        lines.append(f"        request   {short(sample.get('request'))}")
    if sample.get("response") is not None:
        lines.append(f"        response  {short(sample.get('response'))}")
    return lines


def sparkline(points: list[LatencyPoint]) -> str:
    """One character per slice of the period, its height the slice's p95; a gap where nothing was delivered."""
    values = [point.p95_ms for point in points]
    known = [value for value in values if value is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(
        " " if value is None else _BARS[min(len(_BARS) - 1, int((value - low) / span * (len(_BARS) - 1) + 0.5))]
        for value in values
    )


def trend_legend(points: list[LatencyPoint]) -> str:
    known = [point.p95_ms for point in points if point.p95_ms is not None]
    minutes = round((points[1].start - points[0].start).total_seconds() / 60) if len(points) > 1 else 0
    return f"{min(known):.0f}-{max(known):.0f} ms, one mark per {minutes} min"
