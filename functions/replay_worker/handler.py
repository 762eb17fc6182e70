"""Replay worker task: one batch of archive objects from the Distributed Map."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard.delivery.queue import DeliveryQueue
from switchyard.delivery.table import DeliveryTable
from switchyard.observability import logger
from switchyard.replay.model import ReplayRequest
from switchyard.replay.store import ReplayStore
from switchyard.replay.worker import ReplayWorker
from switchyard.settings import ReplaySettings

_worker: ReplayWorker | None = None


def worker() -> ReplayWorker:
    global _worker
    if _worker is None:
        settings = ReplaySettings.from_environment()
        _worker = ReplayWorker(
            settings.archive_bucket_name,
            DeliveryQueue(settings.replay_queue_url, events_per_message=settings.delivery_events_per_message),
            ReplayStore(DeliveryTable(settings.delivery_table_name)),
        )
    return _worker


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ReplayRequest.from_input(event["replay"])
    counts = worker().run(request, event["objects"], int(event.get("concurrency") or 1))
    return dict(counts) | {"sent": counts.get("sent", 0)}
