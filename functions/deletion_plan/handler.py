"""User deletion plan task: suppress the ids, list every archived version, write the manifest."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard.delivery.table import DeliveryTable
from switchyard.observability import logger
from switchyard.privacy.deletion.plan import DeletionPlanner
from switchyard.privacy.deletion.steps import PlanStep
from switchyard.privacy.deletion.store import DeletionStore
from switchyard.privacy.suppression import SuppressionStore
from switchyard.settings import DeletionSettings


@functools.cache
def step() -> PlanStep:
    settings = DeletionSettings.from_environment()
    planner = DeletionPlanner(settings.archive_bucket_name, SuppressionStore(settings.config_table_name))
    return PlanStep(planner, DeletionStore(DeliveryTable(settings.delivery_table_name)))


@logger.inject_lambda_context(log_event=False)  # the event names the users: never logged
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = step().run(event)
    logger.info("deletion planned", extra={"deletion": event["deletion"]["id"], **plan})
    return plan
