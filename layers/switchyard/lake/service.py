"""The loader function's work: the hours asked for (the CLI), or the hours due (the hourly schedule).

Every hour is loaded on its own: one that fails is reported (and retried by a later scheduled run
or command) without stopping the others, and the invocation fails at the end when any did, so the
function's Errors metric (the LakeLoadsFailed alarm) sees it. An hour is compacted only once it is
closed; the open hour (a range that reaches now) loads what is archived so far, and a later load
replaces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from switchyard.config.compiled import CompiledWorkspace, LakeSync
from switchyard.lake.hours import Hour
from switchyard.lake.loader import HourLoad, LakeLoader
from switchyard.lake.schedule import closed_before, due_hours
from switchyard.observability import logger


class LakeLoadFailed(Exception):
    """Some hours could not be loaded; the others were."""


@dataclass
class LoadReport:
    loaded: list[HourLoad] = field(default_factory=list)
    failed: dict[Hour, str] = field(default_factory=dict)

    def to_output(self) -> dict[str, Any]:
        return {
            "loaded": [
                {
                    "source": load.hour.source_id,
                    "date": load.hour.date,
                    "hour": load.hour.hour,
                    "messages": load.messages,
                    "skipped": load.skipped,
                    "rows": load.rows,
                    "widened": load.widened,
                    "objects_before": load.objects_before,
                    "objects_after": load.objects_after,
                    "seconds": round(load.seconds, 3),
                }
                for load in self.loaded
            ],
            "failed": [
                {"source": hour.source_id, "date": hour.date, "hour": hour.hour, "error": error}
                for hour, error in self.failed.items()
            ],
        }


def lake_sync(workspace: Callable[[], CompiledWorkspace]) -> Callable[[str], LakeSync]:
    """Each source's selective sync, from the current workspace (everything for a source it lacks)."""

    def of(source_id: str) -> LakeSync:
        source = workspace().source(source_id)
        return source.lake if source is not None else LakeSync()

    return of


def hours_of(event: dict[str, Any]) -> list[Hour]:
    """`{"hours": [{"source", "date", "hour"}, ...]}`: what the CLI asks for."""
    return [Hour(str(item["source"]), str(item["date"]), str(item["hour"]).zfill(2)) for item in event["hours"]]


class LakeService:
    def __init__(
        self,
        loader: LakeLoader,
        workspace: Callable[[], CompiledWorkspace],
        router_lag_seconds: Callable[[], float],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._loader = loader
        self._workspace = workspace
        self._router_lag = router_lag_seconds
        self._clock = clock

    def handle(self, event: dict[str, Any]) -> LoadReport:
        now = self._clock()
        lag = self._router_lag()
        if "hours" in event:
            hours = hours_of(event)
        else:
            sources = [source.id for source in self._workspace().sources if source.lake.enabled]
            hours = due_hours(now, sources, lag, self._loader.archived_at, self._loader.loaded_at)
        limit = closed_before(now, lag)
        report = LoadReport()
        for hour in hours:
            try:
                closed = hour.start() + timedelta(hours=1) <= limit
                report.loaded.append(self._loader.load(hour, compact=closed))
            except Exception as error:  # noqa: BLE001 - one hour's failure must not stop the others
                logger.exception("lake hour not loaded", extra={"hour": hour.label})
                report.failed[hour] = f"{type(error).__name__}: {error}"
                self._record_failure(hour, report.failed[hour])
        return report

    def _record_failure(self, hour: Hour, error: str) -> None:
        try:
            self._loader.record_failure(hour, error)
        except Exception:  # noqa: BLE001 - the failure is reported and alarmed on anyway
            logger.exception("lake hour failure not recorded", extra={"hour": hour.label})
