"""`switchyard usage [--source S] [--month YYYY-MM]`: API calls, events and bytes per source and
day, and the month's MTUs with their error bound (per source, and across them)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime

from switchyard import constants
from switchyard.cli.sources import NamedSource, UnknownSource, every_source, find_source
from switchyard.usage.people import Estimate, Mtus
from switchyard.usage.store import SourceUsage, UsageReport, UsageStore, month_of, parse_month


def usage_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    from switchyard.cli.targets import TargetError, resolve_target
    from switchyard.config.store import ConfigStore
    from switchyard.delivery.table import DeliveryTable

    try:
        month = parse_month(args.month) if args.month else month_of(datetime.now(UTC))
        target = resolve_target(args.region, args.endpoint_url)
        workspace = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), target.client("dynamodb")).current()
        sources = [find_source(workspace, args.source)] if args.source else every_source(workspace)
        table = DeliveryTable(target.output(constants.OUTPUT_DELIVERY_TABLE), target.client("dynamodb"))
    except (TargetError, UnknownSource, ValueError) as error:
        return fail(str(error))
    report = UsageStore(table).report([source.id for source in sources], month)
    print(format_usage(report, sources))
    return 0


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def estimate_text(estimate: Estimate) -> str:
    if estimate.lower == estimate.upper == estimate.value:
        return f"{estimate.value:,} (exact)"
    return (
        f"{estimate.value:,} (±{estimate.relative_error:.1%}: {estimate.lower:,} to {estimate.upper:,} "
        "at 95% confidence)"
    )


def mtus_text(mtus: Mtus) -> str:
    return (
        f"MTUs {estimate_text(mtus.total)}: {mtus.users.value:,} userIds + "
        f"{mtus.anonymous.value:,} anonymousIds never tied to one"
    )


def format_source(usage: SourceUsage, source: NamedSource) -> list[str]:
    lines = [source.title]
    if not usage.days:
        return [*lines, "  no usage this month"]
    lines.append(f"  {'day':<12} {'API calls':>12} {'events':>12} {'bytes':>12}")
    for day in usage.days:
        lines.append(f"  {day.day:<12} {day.calls:>12,} {day.events:>12,} {size(day.bytes):>12}")
    lines.append(f"  {'month':<12} {usage.calls:>12,} {usage.events:>12,} {size(usage.bytes):>12}")
    lines.append(f"  {mtus_text(usage.mtus)}")
    return lines


def format_usage(report: UsageReport, sources: list[NamedSource]) -> str:
    lines = [
        f"Usage in {report.month} (UTC days of receipt). API calls: messages accepted, each call of a batch "
        "counted; events: those archived and routed (after dedupe and the source's controls).",
        "",
    ]
    for usage, source in zip(report.sources, sources, strict=True):
        lines += [*format_source(usage, source), ""]
    if len(sources) > 1:
        lines.append(f"All {len(sources)} sources (each person once): {mtus_text(report.mtus)}")
    return "\n".join(lines).rstrip()
