"""Replay report task: the final status and totals of a replay."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard.delivery.table import DeliveryTable
from switchyard.observability import logger
from switchyard.replay.store import FAILED, SUCCEEDED, ReplayStore
from switchyard.settings import ReplaySettings

_store: ReplayStore | None = None


def store() -> ReplayStore:
    global _store
    if _store is None:
        _store = ReplayStore(DeliveryTable(ReplaySettings.from_environment().delivery_table_name))
    return _store


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    replay_id = event["replay"]["id"]
    error = event.get("error")
    store().finish(replay_id, FAILED if error else SUCCEEDED, str(error.get("Cause", "")) if error else "")
    record = store().get(replay_id)
    if record is None:  # finish() just wrote it: only a deleted table could get here
        raise LookupError(f"replay {replay_id} has no record")
    report = {"id": replay_id, "status": record.status, "objects": record.objects, **record.counters}
    logger.info("replay finished", extra=report)
    return report
