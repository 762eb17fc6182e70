"""One batch of stream records through the router: suppressed users, schema filters, tracking
plans, deduplicate, archive, fan out.

Suppressed users' events are dropped first, as ingest drops them: records already on the stream
when a user is suppressed (up to the config cache time, or the stream's backlog) are never
archived, so a user deletion's rewrite of the archive is not undone by records that arrive later.

Sources' schema filters run first, then their tracking plans: a blocked event is neither claimed,
archived nor delivered, and omitted fields never reach the archive (router/schema.py,
router/plans.py). What a plan forwards to another source (violations, blocked events) is claimed,
archived and fanned out as that source's, at its origin's stream position.

Failure reporting keeps every event archived exactly once and delivered at least once:

- If some dedupe claims could not be decided (throttling), the records before the first such
  record are processed completely and the batch reports that record as the first failure, so the
  retry starts there. Archive objects are named after the first record of their group, so the
  prefix's objects and the retry's never overlap.
- If archiving or fan-out fails, the batch reports its first record: the retry rewrites the same
  archive objects (same names) and fans out again. Events fanned out before the failure may then
  be delivered twice; nothing is lost or archived twice.

The report names what is settled (`settled_received`, `settled_archived`): everything before the
record the retry starts from, nothing when the whole batch is retried. Usage and the debugger take
only that, so each record is counted by the invocation that settles it.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any, Protocol

import orjson

from switchyard import stream_codec
from switchyard.config.compiled import CompiledWorkspace
from switchyard.constants import OTHER_METRIC_NAME
from switchyard.delivery.requests import DeliveryRequest
from switchyard.privacy.inventory import count_pii
from switchyard.privacy.pii import Scanners
from switchyard.privacy.suppression import is_suppressed
from switchyard.router.dedupe import Claims
from switchyard.router.plans import (
    Checked,
    PlanBlock,
    PlanCheck,
    TrackingPlans,
    ViolationType,
    forwarded_blocked,
    violation_events,
)
from switchyard.router.records import StreamEvent
from switchyard.router.routing import route
from switchyard.router.schema import SchemaFilters, SchemaReason


class Deduplicator(Protocol):
    def claim(self, events: Sequence[StreamEvent]) -> Claims: ...


class ArchiveWriter(Protocol):
    def write(self, events: Sequence[StreamEvent]) -> list[str]: ...


class RequestQueue(Protocol):
    def send(self, requests: Sequence[DeliveryRequest]) -> None: ...


@dataclass(frozen=True)
class KinesisRecord:
    """The parts of a Lambda Kinesis record the router needs."""

    shard_id: str
    sequence: str
    data_base64: str

    @classmethod
    def from_lambda(cls, record: dict[str, Any]) -> KinesisRecord:
        shard_id = record.get("eventID", "").split(":", 1)[0] or "shard"
        return cls(shard_id, record["kinesis"]["sequenceNumber"], record["kinesis"]["data"])


@dataclass
class BatchReport:
    """What a batch did, for metrics and the partial-failure answer."""

    received: int = 0
    undecodable: int = 0
    suppressed: int = 0  # events of suppressed users, dropped before anything else
    duplicates: int = 0
    archived: int = 0
    archive_objects: list[str] = field(default_factory=list)
    fanned_out: int = 0
    # (source id, reason) -> events the source's schema filters blocked or changed
    filtered_at_source: Counter[tuple[str, SchemaReason]] = field(default_factory=Counter)
    # (source id, event label, violation type) -> violations its tracking plan found
    violations: Counter[tuple[str, str, ViolationType]] = field(default_factory=Counter)
    # (source id, why) -> events its tracking plan blocked (forwarded ones included)
    blocked_by_plan: Counter[tuple[str, PlanBlock]] = field(default_factory=Counter)
    # (source id, class, field) -> archived events holding that class of personal data there
    pii_seen: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    # The latest violating (or blocked) message per (source, label, violation type), for `switchyard violations`.
    violation_samples: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    # What is done for good (a retry, if any, starts after it), for usage and the debugger: the
    # decoded records before the retry point as ingest accepted them, and of those the events
    # archived and fanned out.
    settled_received: list[StreamEvent] = field(default_factory=list)
    settled_archived: list[StreamEvent] = field(default_factory=list)
    first_failure: str | None = None  # sequence number the retry must start from
    error: str | None = None


def decode(record: KinesisRecord) -> StreamEvent | None:
    """The record's message, its data as JSON whether ingest deflated it or not (`stream_compression`)."""
    try:
        data = stream_codec.decode(b64decode(record.data_base64))
        message = orjson.loads(data)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(message, dict):
        return None
    return StreamEvent(record.shard_id, record.sequence, data, message)


def _before(decoded: list[StreamEvent], sequence: str) -> list[StreamEvent]:
    """The decoded events of the records before the one with `sequence` (they are in record order)."""
    return list(takewhile(lambda event: event.sequence != sequence, decoded))


class Router:
    def __init__(
        self,
        workspace: Callable[[], CompiledWorkspace],
        deduplicator: Deduplicator,
        archive: ArchiveWriter,
        queue: RequestQueue,
        *,
        after_archive: Callable[[], None] | None = None,
        suppressed: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        self._workspace = workspace
        self._suppressed = suppressed
        self._dedupe = deduplicator
        self._archive = archive
        self._queue = queue
        # A seam for fault-injection tests: runs between archiving and fan-out.
        self._after_archive = after_archive
        self._schema_filters = SchemaFilters()
        self._plans = TrackingPlans()
        self._pii = Scanners()

    def metric_source(self, source_id: str) -> str:
        """The source's name in CloudWatch metrics (a bounded set: CompiledWorkspace.source_metric_name)."""
        try:
            return self._workspace().source_metric_name(source_id)
        except Exception:  # noqa: BLE001 - outcomes are settled; their metrics go under the shared name
            return OTHER_METRIC_NAME

    def process(self, records: Sequence[KinesisRecord]) -> BatchReport:
        report = BatchReport(received=len(records))
        if not records:
            return report
        events: list[StreamEvent] = []
        for record in records:
            event = decode(record)
            if event is None:
                report.undecodable += 1  # ingest only writes JSON objects; skip rather than block the shard
            else:
                events.append(event)
        decoded = events
        try:
            workspace = self._workspace()  # one version for the whole batch
        except Exception as error:  # noqa: BLE001 - no configuration yet: the whole batch is retried
            report.first_failure = records[0].sequence
            report.error = f"{type(error).__name__}: {error}"
            return report
        if self._suppressed is not None:
            try:
                suppressed = self._suppressed()
            except Exception as error:  # noqa: BLE001 - never archive what a suppression might have dropped
                report.first_failure = records[0].sequence
                report.error = f"suppressed users unreadable: {type(error).__name__}: {error}"
                return report
            if suppressed:
                kept = [event for event in events if not is_suppressed(event.message, suppressed)]
                report.suppressed = len(events) - len(kept)
                events = kept
        events = self._apply_schema_filters(workspace, events, report)
        events = self._apply_tracking_plans(workspace, events, report)

        claims = self._dedupe.claim(events)
        cut = len(events)
        if claims.failed:
            cut = next(i for i, event in enumerate(events) if event.record_id in claims.failed)
            while cut > 0 and events[cut - 1].sequence == events[cut].sequence:
                cut -= 1  # what a tracking plan forwarded shares its origin's record: all of it is retried
        fresh = [event for event in events[:cut] if event.record_id in claims.fresh]
        report.duplicates = cut - len(fresh)
        self._take_pii_inventory(workspace, fresh, report)
        try:
            report.archive_objects = self._archive.write(fresh) if fresh else []
            report.archived = len(fresh)
            if self._after_archive is not None:
                self._after_archive()
            requests = self._fan_out(workspace, fresh)
            if requests:
                self._queue.send(requests)
            report.fanned_out = len(requests)
        except Exception as error:  # noqa: BLE001 - the whole batch is retried; see the module docstring
            report.first_failure = records[0].sequence
            report.error = f"{type(error).__name__}: {error}"
            return report
        report.settled_archived = fresh
        report.settled_received = decoded
        if cut < len(events):
            report.first_failure = events[cut].sequence
            report.error = "dedupe claims could not be written"
            report.settled_received = _before(decoded, report.first_failure)
        return report

    def _take_pii_inventory(self, workspace: CompiledWorkspace, fresh: list[StreamEvent], report: BatchReport) -> None:
        """Where the archived events hold personal data, when the workspace keeps the inventory."""
        privacy = workspace.privacy
        if privacy is not None and privacy.inventory and fresh:
            scanner = self._pii.get(privacy.matchers)
            report.pii_seen = count_pii(scanner, [(event.source_id, event.message) for event in fresh])

    def _apply_schema_filters(
        self, workspace: CompiledWorkspace, events: list[StreamEvent], report: BatchReport
    ) -> list[StreamEvent]:
        """The events their sources' schema filters keep, traits omitted where they say."""
        filters = self._schema_filters.by_source(workspace)
        if not filters:
            return events
        kept = []
        for event in events:
            schema = filters.get(event.source_id)
            if schema is None:
                kept.append(event)
                continue
            filtered = schema.apply(event.message)
            if filtered.reason is not None:
                report.filtered_at_source[(event.source_id, filtered.reason)] += 1
            if filtered.message is None:
                continue
            if filtered.message is not event.message:
                event = StreamEvent(event.shard_id, event.sequence, orjson.dumps(filtered.message), filtered.message)
            kept.append(event)
        return kept

    def _apply_tracking_plans(
        self, workspace: CompiledWorkspace, events: list[StreamEvent], report: BatchReport
    ) -> list[StreamEvent]:
        """The events their sources' tracking plans let through (violations recorded, fields omitted
        as the controls say), and what the plans forward to other sources, next to their origin."""
        if not workspace.tracking_plans:
            return events
        kept = []
        plans = self._plans.by_source(workspace)
        for event in events:
            plan = plans.get(event.source_id)
            if plan is None:
                kept.append(event)
                continue
            checked = plan.check(event.message)
            if checked is None:  # conforms: the common case, nothing to count
                kept.append(event)
                continue
            self._count_plan(event, checked, report)
            kept += self._plan_outcome(workspace, event, plan, checked, report)
        return kept

    @staticmethod
    def _count_plan(event: StreamEvent, checked: Checked, report: BatchReport) -> None:
        for violation in checked.violations:
            key = (event.source_id, checked.label, violation.type)
            report.violations[key] += 1
            report.violation_samples[(event.source_id, checked.label, f"{violation.type}: {violation.field}")] = {
                "violation": violation.to_document(),
                "received": event.message,
            }
        if checked.blocked is not None:
            report.blocked_by_plan[(event.source_id, checked.blocked)] += 1
            report.violation_samples[(event.source_id, checked.label, f"blocked: {checked.blocked}")] = {
                "received": event.message
            }

    @staticmethod
    def _plan_outcome(
        workspace: CompiledWorkspace, event: StreamEvent, plan: PlanCheck, checked: Checked, report: BatchReport
    ) -> list[StreamEvent]:
        """The event as the plan leaves it (if kept), then what it forwards. A forwarded event keeps
        its origin's stream position (a retry makes it again, and dedupe drops the copy) under a
        record id of its own."""
        out = []
        controls = plan.plan.controls
        if checked.message is not None:
            out.append(StreamEvent(event.shard_id, event.sequence, orjson.dumps(checked.message), checked.message))
        elif controls.forward_blocked_to is not None:
            message = forwarded_blocked(event.message, checked, controls.forward_blocked_to)
            out.append(StreamEvent(event.shard_id, event.sequence, orjson.dumps(message), message))
        if checked.violations and controls.forward_violations_to is not None:
            source = workspace.source(event.source_id)
            name = source.name if source is not None else event.source_id
            for index, message in enumerate(
                violation_events(event.message, checked, plan.plan, name, controls.forward_violations_to)
            ):
                derived = StreamEvent(event.shard_id, event.sequence, orjson.dumps(message), message)
                derived.record_id = f"{derived.record_id}:violation-{index}"
                out.append(derived)
        return out

    def _fan_out(self, workspace: CompiledWorkspace, events: Sequence[StreamEvent]) -> list[DeliveryRequest]:
        return [
            DeliveryRequest(destination.id, event.message, options, event_json=event.data)
            for event in events
            for destination, options in route(event.message, workspace)
        ]
