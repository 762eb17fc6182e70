"""Replay plan task: list the archive objects in range, write the manifest, size the Map."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard.delivery.table import DeliveryTable
from switchyard.observability import logger
from switchyard.replay.model import ReplayRequest
from switchyard.replay.plan import Planner
from switchyard.replay.store import ReplayStore
from switchyard.settings import ReplaySettings

_planner: Planner | None = None
_store: ReplayStore | None = None


def dependencies() -> tuple[Planner, ReplayStore]:
    global _planner, _store
    if _planner is None or _store is None:
        settings = ReplaySettings.from_environment()
        _planner = Planner(settings.archive_bucket_name)
        _store = ReplayStore(DeliveryTable(settings.delivery_table_name))
    return _planner, _store


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    planner, store = dependencies()
    request = ReplayRequest.from_input(event["replay"])
    plan = planner.plan(request)
    store.planned(request.id, plan.objects, plan.batches)
    logger.info("replay planned", extra={"replay": request.id, **plan.to_output()})
    return plan.to_output()
