"""`switchyard privacy inventory [--source S] [--days 7]`: which classes of personal data the router
saw in which fields, per source."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from switchyard import constants
from switchyard.config.store import ConfigStore
from switchyard.delivery.table import DeliveryTable
from switchyard.privacy.inventory import InventoryReport, read_inventory


def inventory_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    from switchyard.cli.targets import TargetError, resolve_target

    try:
        target = resolve_target(args.region, args.endpoint_url)
        table = DeliveryTable(target.output(constants.OUTPUT_DELIVERY_TABLE), target.client("dynamodb"))
        if args.source:
            sources = [args.source]
        else:
            store = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), target.client("dynamodb"))
            sources = [source.id for source in store.current().sources]
    except TargetError as error:
        return fail(str(error))
    if args.days < 1:
        return fail("--days must be 1 or more")
    print("\n".join(format_inventory(read_inventory(table, source, args.days)) for source in sources))
    return 0


def format_inventory(report: InventoryReport) -> str:
    title = f"{report.source_id}: personal data seen in the last {report.days} day(s)"
    if not report.seen:
        return f"{title}: none"
    lines = [f"{title} (events per field):"]
    lines += [f"  {kind:<16} {field:<40} {count}" for (kind, field), count in report.seen.items()]
    return "\n".join(lines)
