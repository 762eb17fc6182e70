"""What tracking plans and schema filters did, per source and minute, for `switchyard violations` and
the Delivery Overview: counts per event and violation type, blocked events per reason, schema
filters' drops and changes, and the latest sample of each, in the delivery table next to Event
Delivery (keys `violations#<source>` and `violation-samples#<source>`).

The router writes once per batch: one update per source and minute that had violations, and one
sample per (event, violation type and field); a batch without violations writes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from switchyard.delivery.table import SK, DeliveryTable
from switchyard.router.service import BatchReport
from switchyard.timeutil import minute_key

RETENTION_DAYS = 30
_SEPARATOR = " | "  # between the event label and the violation type in an attribute name
PLAN_BLOCK_PREFIX = "b_"
SCHEMA_FILTER_PREFIX = "s_"  # what the source's schema filters blocked or changed (the Delivery Overview reads it)


def _expiry(at: datetime) -> int:
    return int((at + timedelta(days=RETENTION_DAYS)).timestamp())


class ViolationStats:
    def __init__(self, table: DeliveryTable) -> None:
        self._table = table

    def record(self, report: BatchReport, at: datetime) -> None:
        counts: dict[str, Counter[str]] = {}
        for (source, label, kind), count in report.violations.items():
            counts.setdefault(source, Counter())[f"v_{label}{_SEPARATOR}{kind}"] += count
        for (source, reason), count in report.blocked_by_plan.items():
            counts.setdefault(source, Counter())[f"{PLAN_BLOCK_PREFIX}{reason}"] += count
        for (source, reason), count in report.filtered_at_source.items():
            counts.setdefault(source, Counter())[f"{SCHEMA_FILTER_PREFIX}{reason}"] += count
        for source, fields in counts.items():
            self._table.add_counts(f"violations#{source}", minute_key(at), fields, _expiry(at))
        for (source, label, key), sample in report.violation_samples.items():
            sample_at = {**sample, "at": at.isoformat()}
            self._table.put_sample(f"violation-samples#{source}", f"{label}{_SEPARATOR}{key}", sample_at, _expiry(at))


@dataclass
class ViolationReport:
    source_id: str
    since: datetime
    until: datetime
    violations: dict[tuple[str, str], int]  # (event label, violation type) -> count
    blocked: dict[str, int]  # why -> count
    schema_filtered: dict[str, int]  # schema filter reason (router/schema.py SchemaReason) -> events
    samples: dict[str, dict[str, Any]]  # "<label> | <type>: <field>" or "<label> | blocked: <why>" -> sample


@dataclass(frozen=True)
class SourceCounts:
    """What a source's tracking plan and schema filters counted over a period."""

    violations: dict[tuple[str, str], int]  # (event label, violation type) -> count, most frequent first
    blocked: dict[str, int]  # why -> count
    schema_filtered: dict[str, int]  # schema filter reason (router/schema.py SchemaReason) -> events


def read_counts(table: DeliveryTable, source_id: str, start: datetime, end: datetime) -> SourceCounts:
    """The counts alone, without the samples (the Delivery Overview's read)."""
    violations: Counter[tuple[str, str]] = Counter()
    blocked: Counter[str] = Counter()
    schema_filtered: Counter[str] = Counter()
    for name, count in table.minute_totals(f"violations#{source_id}", start, end).items():
        if name.startswith("v_"):
            label, _, kind = name[2:].rpartition(_SEPARATOR)
            violations[(label, kind)] += count
        elif name.startswith(PLAN_BLOCK_PREFIX):
            blocked[name[2:]] += count
        elif name.startswith(SCHEMA_FILTER_PREFIX):
            schema_filtered[name[2:]] += count
    return SourceCounts(dict(violations.most_common()), dict(blocked), dict(schema_filtered))


def read_violations(
    table: DeliveryTable, source_id: str, since: timedelta, now: datetime | None = None
) -> ViolationReport:
    now = now or datetime.now(UTC)
    start = now - since
    counts = read_counts(table, source_id, start, now)
    samples = {}
    for item in table.query_all(f"violation-samples#{source_id}"):
        sample = orjson.loads(item["sample"]["S"])
        if sample.get("at", "") >= start.isoformat():
            samples[item[SK]["S"]] = sample
    return ViolationReport(source_id, start, now, counts.violations, counts.blocked, counts.schema_filtered, samples)
