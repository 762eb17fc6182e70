"""What operators do with user deletions: start one, watch it, list them, read a report."""

from __future__ import annotations

from typing import Any

import orjson

from switchyard.asl import execution_arn
from switchyard.privacy.deletion.model import DeletionRequest
from switchyard.privacy.deletion.reports import AuditObjects
from switchyard.privacy.deletion.store import DeletionRecord, DeletionStore


class DeletionOperator:
    def __init__(self, store: DeletionStore, stepfunctions: Any, state_machine_arn: str, audit: AuditObjects) -> None:
        self._store = store
        self._sfn = stepfunctions
        self._state_machine = state_machine_arn
        self._audit = audit

    def start(self, request: DeletionRequest) -> str:
        self._store.create(request, execution_arn(self._state_machine, request.id))
        self._sfn.start_execution(
            stateMachineArn=self._state_machine,
            name=request.id,
            input=orjson.dumps({"deletion": request.to_input()}).decode(),
        )
        return request.id

    def status(self, deletion_id: str) -> DeletionRecord | None:
        return self._store.get(deletion_id)

    def list(self, limit: int = 20) -> list[DeletionRecord]:
        return self._store.list(limit)

    def report(self, deletion_id: str) -> dict[str, Any] | None:
        return self._audit.report(deletion_id)


def progress(record: DeletionRecord) -> float:
    """Both passes over the archive (scan, then rewrite), as a fraction."""
    if record.objects == 0:
        return 0.0
    done = record.counter("objects_scanned") + record.counter("objects_checked")
    return min(1.0, done / (2 * record.objects))
