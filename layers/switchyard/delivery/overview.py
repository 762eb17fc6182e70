"""The Delivery Overview: one destination's pipeline over a period, step by step, as Segment's Event
Delivery shows it — received from its sources, filtered, failed on ingest, retrying, failed,
delivered — each step with its reasons, the latest sample of each, and the P95 latency trend.

The destination's own steps come from its Event Delivery statistics (delivery/stats.py). Two steps
happen before an event is routed to any destination, so they are its sources' figures, shared by
every destination connected to them: what the sources' tracking plans and schema filters blocked
(router/violations.py) and what ingest discarded from their requests (ingest/discard_stats.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from switchyard.config.compiled import CompiledWorkspace
from switchyard.delivery.stats import DeliveryReport, read_report
from switchyard.delivery.table import DeliveryTable
from switchyard.ingest.discard_stats import read_discards
from switchyard.router.schema import SchemaReason
from switchyard.router.violations import read_counts

# What a schema filter does that keeps an event from every destination (omitted traits do not).
_SCHEMA_DROPS = {SchemaReason.EVENT_BLOCKED, SchemaReason.PAGE_BLOCKED, SchemaReason.SCREEN_BLOCKED}


class StepName(StrEnum):
    RECEIVED = "received from sources"
    FILTERED = "filtered"
    FAILED_ON_INGEST = "failed on ingest"
    RETRYING = "retrying"
    FAILED = "failed"
    DELIVERED = "delivered"


@dataclass(frozen=True)
class Step:
    name: StepName
    count: int
    reasons: dict[str, int] = field(default_factory=dict)  # most frequent first
    note: str = ""  # what the figure covers, when it is not obvious


@dataclass
class DeliveryOverview:
    report: DeliveryReport
    source_ids: tuple[str, ...]
    filtered_at_sources: dict[str, int]  # "<source>: plan <why>" / "<source>: schema <reason>" -> events
    failed_on_ingest: dict[str, int]  # "<source>: <reason>" -> messages

    @property
    def destination_id(self) -> str:
        return self.report.destination_id

    @property
    def steps(self) -> list[Step]:
        report = self.report
        filtered = Counter(self.filtered_at_sources) + Counter(report.filtered_reasons)
        if report.dropped_by_insert_function:
            filtered["dropped by its insert function"] += report.dropped_by_insert_function
        replayed = f"and {report.replayed} replayed" if report.replayed else ""
        return [
            Step(StepName.RECEIVED, report.received, note=replayed),
            Step(
                StepName.FILTERED,
                sum(filtered.values()),
                dict(filtered.most_common()),
                note="first its sources' plans and schema filters, shared by every destination",
            ),
            Step(
                StepName.FAILED_ON_INGEST,
                sum(self.failed_on_ingest.values()),
                dict(Counter(self.failed_on_ingest).most_common()),
                note="its sources' messages ingest refused, shared by every destination",
            ),
            Step(StepName.RETRYING, report.retried, report.retrying_reasons, note="attempts to be tried again"),
            Step(
                StepName.FAILED,
                report.not_delivered,
                report.failed_reasons,
                note=f"{report.dead_lettered} dead-lettered" if report.dead_lettered else "",
            ),
            Step(StepName.DELIVERED, report.delivered, report.omitted_reasons),
        ]

    def sample(self, reason: str) -> dict[str, Any] | None:
        return self.report.samples.get(reason)


def read_overview(
    table: DeliveryTable,
    workspace: CompiledWorkspace,
    destination_id: str,
    since: timedelta,
    now: datetime | None = None,
) -> DeliveryOverview:
    """Raises LookupError for a destination the workspace does not have."""
    destination = workspace.destination(destination_id)
    if destination is None:
        known = ", ".join(d.id for d in workspace.destinations) or "none"
        raise LookupError(f"no destination {destination_id!r} in workspace {workspace.workspace!r} (known: {known})")
    now = now or datetime.now(UTC)
    report = read_report(table, destination_id, since, now)
    filtered: Counter[str] = Counter()
    failed_on_ingest: Counter[str] = Counter()
    for source_id in destination.sources:
        violations = read_counts(table, source_id, now - since, now)
        for why, count in violations.blocked.items():
            filtered[f"{source_id}: tracking plan, {why}"] += count
        for reason, count in violations.schema_filtered.items():
            if reason in _SCHEMA_DROPS:
                filtered[f"{source_id}: schema filter, {reason}"] += count
        for reason, count in read_discards(table, source_id, since, now).items():
            failed_on_ingest[f"{source_id}: {reason}"] += count
    return DeliveryOverview(report, tuple(destination.sources), dict(filtered), dict(failed_on_ingest))
