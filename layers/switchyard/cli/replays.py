"""`switchyard replay start|status|list|cancel`, against a deployed region or the local stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from switchyard import constants
from switchyard.cli.progress import bar, follow
from switchyard.cli.targets import Target, TargetError, resolve_target
from switchyard.config.store import ConfigStore
from switchyard.delivery.table import DeliveryTable
from switchyard.replay.model import ReplayRequestError
from switchyard.replay.operator import ReplayOperator, build_request
from switchyard.replay.store import FINISHED, ReplayRecord, ReplayStore


def operator_for(target: Target) -> ReplayOperator:
    table = DeliveryTable(target.output(constants.OUTPUT_DELIVERY_TABLE), target.client("dynamodb"))
    return ReplayOperator(
        ReplayStore(table), target.client("stepfunctions"), target.output(constants.OUTPUT_REPLAY_STATE_MACHINE)
    )


def replay_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    try:
        target = resolve_target(args.region, args.endpoint_url)
        operator = operator_for(target)
        if args.replay_command == "start":
            return start(args, target, operator)
    except (TargetError, ReplayRequestError) as error:
        return fail(str(error))
    if args.replay_command == "list":
        for record in operator.list():
            print(summary_line(record))
        return 0
    record = operator.cancel(args.replay_id) if args.replay_command == "cancel" else operator.status(args.replay_id)
    if record is None:
        return fail(f"no replay {args.replay_id!r} in {target.region}")
    print(describe(record, operator.execution_status(record)))
    return 0


def start(args: argparse.Namespace, target: Target, operator: ReplayOperator) -> int:
    workspace = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), target.client("dynamodb")).current()
    request = build_request(
        workspace,
        source=args.source,
        destinations=args.destination,
        start=args.start,
        end=args.end,
        retention_days=int(target.output(constants.OUTPUT_ARCHIVE_RETENTION_DAYS)),
        types=args.type,
        events=args.event,
        rate=args.rate,
    )
    replay_id = operator.start(request)
    print(replay_id)
    if not args.wait:
        return 0
    record = wait(operator, replay_id)
    if record is None:
        print(f"replay {replay_id} vanished while waiting for it", file=sys.stderr)
        return 1
    print(describe(record, operator.execution_status(record)))
    return 0 if record.status == "SUCCEEDED" else 1


def wait(operator: ReplayOperator, replay_id: str, interval: float = 1.0) -> ReplayRecord | None:
    """Poll until the replay finishes, drawing a progress bar on stderr (None: its record is gone)."""
    return follow(lambda: operator.status(replay_id), lambda record: record.status in FINISHED, progress_bar, interval)


def progress_bar(record: ReplayRecord) -> str:
    done, total, fraction = record.counter("objects_done"), record.objects, record.progress
    return f"{bar(fraction)} {fraction:6.1%}  objects {done}/{total}  sent {record.counter('sent')}  {record.status:<9}"


def summary_line(record: ReplayRecord) -> str:
    request = record.request
    destinations = ",".join(destination.id for destination in request.destinations)
    return (
        f"{request.id}  {record.status:<9}  {request.source} -> {destinations}  "
        f"{request.start} .. {request.end}  sent {record.counter('sent')}"
    )


def describe(record: ReplayRecord, execution_status: str) -> str:
    request = record.request
    lines = [
        f"replay {request.id}: {record.status} (workflow {execution_status})",
        f"  source        {request.source}",
        f"  destinations  {', '.join(d.id for d in request.destinations)}",
        f"  received      {request.start} .. {request.end}",
        f"  filters       types={list(request.types) or 'all'} events={list(request.events) or 'all'}",
        f"  rate          {request.rate} events/s",
        f"  objects       {record.counter('objects_done')} of {record.objects} read",
        f"  read          {record.counter('read')}",
        f"  matched       {record.counter('matched')}",
        f"  filtered      {record.counter('filtered')}",
        f"  sent          {record.counter('sent')}",
        f"  failed        {record.counter('failed')}",
    ]
    if record.error:
        lines.append(f"  error         {record.error}")
    return "\n".join(lines)
