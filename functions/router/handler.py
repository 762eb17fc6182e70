"""Router Lambda: consumes the events stream (Kinesis), deduplicates, archives and fans out; then
records usage and the debugger's sample of what it settled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard.config.store import Cached, CachedWorkspace, ConfigStore
from switchyard.constants import METRICS_NAMESPACE, SERVICE_NAME
from switchyard.debugger.recorder import DebuggerRecorder
from switchyard.debugger.sampler import RateSampler
from switchyard.debugger.store import DebuggerStore
from switchyard.delivery.queue import DeliveryQueue
from switchyard.delivery.table import DeliveryTable
from switchyard.metrics import Dimension, Metric
from switchyard.observability import logger, metrics
from switchyard.privacy.inventory import PiiInventory
from switchyard.privacy.suppression import SuppressionStore
from switchyard.router.archive import Archive
from switchyard.router.dedupe import DedupeStore
from switchyard.router.service import BatchReport, KinesisRecord, Router
from switchyard.router.violations import ViolationStats
from switchyard.settings import RouterSettings
from switchyard.usage.store import UsageStore
from switchyard.usage.tally import tally

_router: Router | None = None
_violation_stats: ViolationStats | None = None
_pii_inventory: PiiInventory | None = None
_debugger: DebuggerRecorder | None = None
_usage: UsageStore | None = None
_after_archive: Callable[[], None] | None = None


def run_after_archive(hook: Callable[[], None] | None) -> None:
    """Fault injection (the local stack's soak and tests): `hook` runs in every batch between
    archive and fan-out, where it can fail the batch as a crash would. From the next batch on."""
    global _after_archive, _router
    _after_archive, _router = hook, None


def router() -> Router:
    global _router, _violation_stats, _pii_inventory, _debugger, _usage
    if _router is None:
        settings = RouterSettings.from_environment()
        workspace = CachedWorkspace(ConfigStore(settings.config_table_name), settings.config_cache_seconds)
        _router = Router(
            workspace.get,
            DedupeStore(settings.dedupe_table_name, window_hours=settings.dedupe_window_hours),
            Archive(settings.archive_bucket_name),
            DeliveryQueue(settings.delivery_queue_url, events_per_message=settings.delivery_events_per_message),
            after_archive=_after_archive,
            suppressed=Cached(SuppressionStore(settings.config_table_name).load, settings.config_cache_seconds).get,
        )
        _violation_stats = ViolationStats(DeliveryTable(settings.delivery_table_name))
        _pii_inventory = PiiInventory(DeliveryTable(settings.delivery_table_name))
        _debugger = DebuggerRecorder(
            DebuggerStore(settings.archive_bucket_name), RateSampler(settings.debugger_messages_per_second)
        )
        _usage = UsageStore(DeliveryTable(settings.delivery_table_name))
    return _router


def _per_source_and_type(report: BatchReport) -> Counter[tuple[str, str]]:
    """Violations per source and type: the event is left to `switchyard violations`, so the
    metric's cost does not grow with the number of planned events."""
    totals: Counter[tuple[str, str]] = Counter()
    for (source_id, _label, kind), count in report.violations.items():
        totals[(source_id, kind)] += count
    return totals


def _emit(name: Metric, count: int, source_id: str, dimension: Dimension, value: str) -> None:
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=count,
        namespace=METRICS_NAMESPACE,
        default_dimensions={Dimension.SERVICE: SERVICE_NAME, Dimension.SOURCE: router().metric_source(source_id)},
    ) as metric:
        metric.add_dimension(name=dimension, value=value)


def record_for_operators(report: BatchReport) -> None:
    """What tracking plans found and where personal data was seen: metrics, and the counts and
    samples `switchyard violations` and `switchyard privacy inventory` read."""
    for (source_id, kind), count in _per_source_and_type(report).items():
        _emit(Metric.PLAN_VIOLATIONS, count, source_id, Dimension.VIOLATION_TYPE, kind)
    for (source_id, reason), count in report.blocked_by_plan.items():
        _emit(Metric.BLOCKED_BY_PLAN, count, source_id, Dimension.REASON, reason)
    if (report.violations or report.blocked_by_plan or report.filtered_at_source) and _violation_stats is not None:
        try:
            _violation_stats.record(report, datetime.now(UTC))
        except Exception:  # noqa: BLE001 - the counts are for operators; the batch is done, never redone for them
            logger.exception("violation counts could not be written")
    if report.pii_seen and _pii_inventory is not None:
        try:
            _pii_inventory.record(report.pii_seen, datetime.now(UTC))
        except Exception:  # noqa: BLE001 - the inventory is for operators; the batch is done, never redone for it
            logger.exception("the personal data inventory could not be written")


def record_settled(report: BatchReport) -> None:
    """Usage and the debugger's messages, from what the batch settled (also the part of a batch
    retried from its middle that the retry will not see again)."""
    if _usage is not None and report.settled_received:
        now = datetime.now(UTC)
        try:
            _usage.record(tally(report.settled_received, report.settled_archived, now), now)
        except Exception:  # noqa: BLE001 - usage is for operators; the batch is done, never redone for it
            logger.exception("usage could not be written")
    if _debugger is not None and report.settled_archived:
        try:
            _debugger.record(report.settled_archived)
        except Exception:  # noqa: BLE001 - the debugger is for operators; the batch is done, never redone for it
            logger.exception("debugger messages could not be written")


def record(report: BatchReport) -> None:
    metrics.add_metric(name=Metric.ROUTER_RECORDS, unit=MetricUnit.Count, value=report.received)
    metrics.add_metric(name=Metric.DUPLICATES, unit=MetricUnit.Count, value=report.duplicates)
    if report.suppressed:
        metrics.add_metric(name=Metric.ROUTER_SUPPRESSED, unit=MetricUnit.Count, value=report.suppressed)
    metrics.add_metric(name=Metric.ARCHIVED, unit=MetricUnit.Count, value=report.archived)
    metrics.add_metric(name=Metric.FANNED_OUT, unit=MetricUnit.Count, value=report.fanned_out)
    for (source_id, reason), count in report.filtered_at_source.items():
        _emit(Metric.FILTERED_AT_SOURCE, count, source_id, Dimension.REASON, reason)
    if report.first_failure is None:  # a batch that will be retried is counted by its retry
        record_for_operators(report)
    record_settled(report)
    if report.undecodable:
        metrics.add_metric(name=Metric.ROUTER_UNDECODABLE, unit=MetricUnit.Count, value=report.undecodable)
        logger.error("undecodable stream records skipped", extra={"count": report.undecodable})
    if report.first_failure is not None:
        logger.warning("batch will be retried", extra={"from_sequence": report.first_failure, "error": report.error})


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = [KinesisRecord.from_lambda(record) for record in event.get("Records", [])]
    report = router().process(records)
    record(report)
    failures = [{"itemIdentifier": report.first_failure}] if report.first_failure is not None else []
    return {"batchItemFailures": failures}
