"""The deletion workflow's steps as the Lambda handlers run them: plan, scan or rewrite a batch, finish."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from switchyard.config.compiled import CompiledWorkspace
from switchyard.privacy.deletion.definition import SCAN
from switchyard.privacy.deletion.destinations import DestinationDeletions, DestinationOutcome
from switchyard.privacy.deletion.model import DeletionRequest, DeletionStatus, Subjects
from switchyard.privacy.deletion.plan import DeletionPlanner
from switchyard.privacy.deletion.reports import AuditObjects
from switchyard.privacy.deletion.rewrite import ArchiveRewriter, Rewritten
from switchyard.privacy.deletion.store import DeletionStore
from switchyard.privacy.deletion.stored import StoredEvents
from switchyard.privacy.suppression import entries

# A destination that may still hold the users' data and was not (successfully) asked to delete it.
INCOMPLETE_OUTCOMES = frozenset({DestinationOutcome.FAILED, DestinationOutcome.NOT_CONFIGURED})


class Suppressions(Protocol):
    def add(self, ids: set[str]) -> None: ...


def subjects_of(request: DeletionRequest, tied: frozenset[str] = frozenset()) -> Subjects:
    return Subjects(frozenset(request.user_ids), frozenset(request.anonymous_ids) | tied)


class PlanStep:
    def __init__(self, planner: DeletionPlanner, store: DeletionStore) -> None:
        self._planner = planner
        self._store = store

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        request = DeletionRequest.from_input(event["deletion"])
        plan = self._planner.plan(request)
        self._store.planned(request.id, plan.objects, plan.batches)
        return plan.to_output()


class BatchStep:
    """One batch of the manifest, in the scan or the rewrite pass."""

    def __init__(
        self, rewriter: ArchiveRewriter, store: DeletionStore, suppressions: Suppressions, audit: AuditObjects
    ) -> None:
        self._rewriter = rewriter
        self._store = store
        self._suppressions = suppressions
        self._audit = audit

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        request = DeletionRequest.from_input(event["deletion"])
        objects = event["objects"]
        if event["phase"] == SCAN:
            tied, read = self._rewriter.scan(subjects_of(request), objects)
            found = tied - set(request.anonymous_ids)
            # Suppressed before any rewrite starts, so nothing new under these ids lands behind it.
            self._suppressions.add(entries((), found))
            self._store.add_ties(request.id, found)
            self._store.add_progress(request.id, {"objects_scanned": len(objects), "versions_scanned": read})
            return {"objects": len(objects)}
        record = self._store.get(request.id)
        tied_ids = record.tied_anonymous_ids if record is not None else frozenset()
        done = Rewritten()
        try:
            self._rewriter.rewrite(subjects_of(request, tied_ids), objects, done)
        finally:  # a failed batch is retried; the retry finds these objects clean and cannot list them
            if done.keys:
                self._audit.put_part(request.id, int(event["batch"]), done.keys)
            self._store.add_progress(request.id, dict(done.counts))
        return {"objects": len(objects)}


class LakeReloader(Protocol):
    def request(self, keys: Iterable[str]) -> int: ...


class DebuggerSamples(Protocol):
    def clear(self) -> int: ...


class FinishStep:
    def __init__(
        self,
        store: DeletionStore,
        workspace: Callable[[], CompiledWorkspace],
        stored: StoredEvents,
        destinations: DestinationDeletions,
        audit: AuditObjects,
        *,
        lake: LakeReloader | None = None,
        debugger: DebuggerSamples | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lake = lake
        self._debugger = debugger
        self._store = store
        self._workspace = workspace
        self._stored = stored
        self._destinations = destinations
        self._audit = audit
        self._clock = clock

    def run(self, event: dict[str, Any], seconds_left: float) -> dict[str, Any]:
        request = DeletionRequest.from_input(event["deletion"])
        error = event.get("error")
        record = self._store.get(request.id)
        tied = record.tied_anonymous_ids if record is not None else frozenset()
        workspace = self._workspace()
        cleared = self._stored.clear(workspace, subjects_of(request, tied))
        if self._debugger is not None:  # its samples may hold the users' events: cleared whole
            cleared["debugger_objects_removed"] = self._debugger.clear()
        self._store.add_progress(request.id, dict(cleared))
        deadline = self._clock() + max(0.0, seconds_left - 30)  # time left to write the report
        answered = self._destinations.delete(workspace, request.user_ids, deadline)
        if error:
            status = DeletionStatus.FAILED
        elif any(answer.outcome in INCOMPLETE_OUTCOMES for answer in answered):
            status = DeletionStatus.INCOMPLETE
        else:
            status = DeletionStatus.SUCCEEDED
        record = self._store.get(request.id)
        destinations = [answer.to_record() for answer in answered]
        changed = self._audit.changed_objects(request.id)
        lake_hours = self._lake.request(entry["key"] for entry in changed) if self._lake is not None else 0
        report = {
            "deletion": request.to_input(),
            "status": status.value,
            "error": str(error.get("Cause", error)) if error else "",
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tied_anonymous_ids": sorted(tied),
            "counts": record.counters if record is not None else {},
            "objects": changed,
            "lake_hours_reloaded": lake_hours,
            "destinations": destinations,
        }
        key = self._audit.put_report(request.id, report)
        self._store.finish(request.id, status, destinations=destinations, report_key=key, error=report["error"])
        return {"id": request.id, "status": status.value, "report": key}
