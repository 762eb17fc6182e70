"""`switchyard users delete|deletions|deletion`: user deletions (Segment's User Deletion)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from switchyard import constants
from switchyard.cli.progress import bar, follow
from switchyard.cli.targets import Target
from switchyard.delivery.table import DeliveryTable
from switchyard.privacy.deletion.model import FINISHED, DeletionRequestError, DeletionStatus, new_request
from switchyard.privacy.deletion.operator import DeletionOperator, progress
from switchyard.privacy.deletion.reports import AuditObjects
from switchyard.privacy.deletion.store import DeletionRecord, DeletionStore

# The order `describe` prints the counts in, with what each means.
COUNTS = (
    ("objects_scanned", "archive objects scanned for ties"),
    ("objects_rewritten", "objects rewritten without them"),
    ("objects_deleted", "objects deleted (nothing else in them)"),
    ("objects_older_versions_deleted", "objects whose older versions held them"),
    ("versions_deleted", "object versions deleted"),
    ("events_removed", "events removed"),
    ("dedupe_claims_removed", "dedupe claims removed"),
    ("error_samples_removed", "Event Delivery samples removed"),
    ("violation_samples_removed", "violation samples removed"),
    ("dead_letters_removed", "dead letters removed"),
)


def operator_for(target: Target) -> DeletionOperator:
    table = DeliveryTable(target.output(constants.OUTPUT_DELIVERY_TABLE), target.client("dynamodb"))
    return DeletionOperator(
        DeletionStore(table),
        target.client("stepfunctions"),
        target.output(constants.OUTPUT_DELETION_STATE_MACHINE),
        AuditObjects(target.output(constants.OUTPUT_ARCHIVE_BUCKET), target.client("s3")),
    )


def requester(target: Target) -> str:
    """Who asks, for the audit record: the caller's AWS identity."""
    try:
        return target.client("sts").get_caller_identity()["Arn"]
    except Exception:  # noqa: BLE001 - the deletion matters more than the name on it
        return "unknown"


def deletion_command(args: argparse.Namespace, target: Target, fail: Callable[[str], int]) -> int:
    operator = operator_for(target)
    if args.users_command == "deletions":
        records = operator.list(args.limit)
        if not records:
            print("no deletions yet")
        for record in records:
            print(summary_line(record))
        return 0
    if args.users_command == "deletion":
        record = operator.status(args.deletion_id)
        if record is None:
            return fail(f"no deletion {args.deletion_id!r} in {target.region}")
        print(describe(record))
        return 0
    try:
        request = new_request(args.user_ids, args.anonymous_id or [], requester(target))
    except DeletionRequestError as error:
        return fail(str(error))
    operator.start(request)
    print(request.id)
    if not args.wait:
        print(f"follow it with `switchyard users deletion {request.id}`", file=sys.stderr)
        return 0
    record = wait(operator, request.id)
    if record is None:
        return fail(f"deletion {request.id} vanished while waiting for it")
    print(describe(record))
    return 0 if record.status is DeletionStatus.SUCCEEDED else 1


def wait(operator: DeletionOperator, deletion_id: str, interval: float = 1.0) -> DeletionRecord | None:
    """Poll until the deletion finishes, drawing a progress bar on stderr."""
    return follow(
        lambda: operator.status(deletion_id), lambda record: record.status in FINISHED, progress_bar, interval
    )


def progress_bar(record: DeletionRecord) -> str:
    fraction = 1.0 if record.status in FINISHED else progress(record)
    return (
        f"{bar(fraction)} {fraction:6.1%}  objects {record.objects}  "
        f"rewritten {record.counter('objects_rewritten') + record.counter('objects_deleted')}  {record.status:<10}"
    )


def summary_line(record: DeletionRecord) -> str:
    request = record.request
    ids = len(request.user_ids) + len(request.anonymous_ids)
    return (
        f"{request.id}  {record.status:<10}  {request.requested_at}  {ids} id(s)  by {request.requested_by}  "
        f"events removed {record.counter('events_removed')}"
    )


def describe(record: DeletionRecord) -> str:
    request = record.request
    lines = [
        f"deletion {request.id}: {record.status}",
        f"  requested     {request.requested_at} by {request.requested_by}",
        f"  userIds       {', '.join(request.user_ids) or '-'}",
        f"  anonymousIds  {', '.join(sorted({*request.anonymous_ids, *record.tied_anonymous_ids})) or '-'}",
        f"  finished      {record.finished_at or '-'}",
        f"  archive       {record.objects} object(s) listed",
        *(f"  {record.counter(name):>8}  {meaning}" for name, meaning in COUNTS),
        "  destinations:",
    ]
    for answer in record.destinations:
        codes = ", ".join(sorted({item["code"] for item in answer["answers"]})) or "-"
        lines.append(f"    {answer['destination']:<20} {answer['type']:<22} {answer['outcome']:<18} {codes}")
    if not record.destinations:
        lines.append("    -")
    if record.report_key:
        lines.append(f"  report        s3://.../{record.report_key}")
    if record.error:
        lines.append(f"  error         {record.error}")
    return "\n".join(lines)
