"""Domain objects shaped for the console's templates and its JSON: numbers as the pages show them,
chart series as plain lists. No reading here (console/data.py reads), no markup (templates/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchyard.cli.usage import estimate_text
from switchyard.debugger.store import DebuggerPage
from switchyard.delivery.overview import DeliveryOverview, Step, StepName
from switchyard.replay.store import ReplayRecord
from switchyard.usage.store import UsageReport


def debugger_rows(page: DebuggerPage) -> list[dict[str, Any]]:
    return [
        {
            "id": entry.id,
            "received_at": entry.received_at,
            "type": entry.type,
            "label": entry.label,
            "user": str(entry.message.get("userId") or entry.message.get("anonymousId") or ""),
            "pretty": entry.pretty(),
            "raw": entry.raw,
        }
        for entry in page.entries
    ]


def sampling_text(rate: float | None) -> str:
    if rate is None:
        return "no message yet"
    if rate >= 1.0:
        return "every message (no sampling)"
    return f"sampled: about 1 in {round(1 / rate):,} messages" if rate > 0 else "sampled"


@dataclass(frozen=True)
class StepView:
    name: str
    count: int
    share: float  # of the received, for the bar's width (0..1)
    note: str
    reasons: list[tuple[str, int, dict[str, Any] | None]]  # (reason, count, latest sample)
    kind: str  # received | dropped | pending | failed | delivered: the bar's colour


_KINDS = {
    StepName.RECEIVED: "received",
    StepName.FILTERED: "dropped",
    StepName.FAILED_ON_INGEST: "dropped",
    StepName.RETRYING: "pending",
    StepName.FAILED: "failed",
    StepName.DELIVERED: "delivered",
}


@dataclass(frozen=True)
class OverviewView:
    overview: DeliveryOverview
    steps: list[StepView]
    success_rate: str
    p95: str
    trend_labels: list[str]
    trend_values: list[float | None]


def overview_view(overview: DeliveryOverview) -> OverviewView:
    report = overview.report
    steps = overview.steps
    widest = max([step.count for step in steps] + [1])
    return OverviewView(
        overview=overview,
        steps=[_step_view(overview, step, widest) for step in steps],
        success_rate=f"{report.success_rate:.1%}" if report.success_rate is not None else "n/a",
        p95=f"{report.p95_latency_ms:,.0f} ms" if report.p95_latency_ms is not None else "n/a",
        trend_labels=[f"{point.start:%H:%M}" for point in report.latency_trend],
        trend_values=[round(point.p95_ms, 1) if point.p95_ms is not None else None for point in report.latency_trend],
    )


def _step_view(overview: DeliveryOverview, step: Step, widest: int) -> StepView:
    return StepView(
        name=str(step.name),
        count=step.count,
        share=step.count / widest,
        note=step.note,
        reasons=[(reason, count, overview.sample(reason)) for reason, count in step.reasons.items()],
        kind=_KINDS[step.name],
    )


@dataclass(frozen=True)
class ReplayView:
    record: ReplayRecord
    done: int
    total: int
    fraction: float
    destinations: str


def replay_view(record: ReplayRecord) -> ReplayView:
    destinations = ", ".join(destination.id for destination in record.request.destinations)
    return ReplayView(record, record.counter("objects_done"), record.objects, record.progress, destinations)


@dataclass(frozen=True)
class UsageView:
    report: UsageReport
    mtus: str
    source_mtus: dict[str, str]
    chart_labels: list[str]  # days of the month with usage
    chart_series: dict[str, list[int]]  # source id -> events per day (0 where none)


def usage_view(report: UsageReport) -> UsageView:
    days = sorted({day.day for source in report.sources for day in source.days})
    series = {}
    for source in report.sources:
        per_day = {day.day: day.events for day in source.days}
        series[source.source_id] = [per_day.get(day, 0) for day in days]
    per_source = {source.source_id: estimate_text(source.mtus.total) for source in report.sources}
    return UsageView(report, estimate_text(report.mtus.total), per_source, [day[5:] for day in days], series)
