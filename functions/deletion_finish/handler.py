"""User deletion finish task: stored samples, dead letters and the debugger's messages, destinations'
delete calls, the report and the audit record."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard import aws
from switchyard.config.credentials import CachedCredentials
from switchyard.config.store import Cached, ConfigStore
from switchyard.debugger.store import DebuggerStore
from switchyard.delivery.http import BoundedHttp
from switchyard.delivery.table import DeliveryTable
from switchyard.destinations.catalog import FUNCTION_TYPE, TOOLS
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.function import FunctionDestinationAdapter
from switchyard.functions.invoker import FunctionInvoker
from switchyard.lake.reloads import LakeReloads
from switchyard.observability import logger
from switchyard.privacy.deletion.destinations import DeletionAdapter, DestinationDeletions
from switchyard.privacy.deletion.reports import AuditObjects
from switchyard.privacy.deletion.steps import FinishStep
from switchyard.privacy.deletion.store import DeletionStore
from switchyard.privacy.deletion.stored import StoredEvents
from switchyard.settings import DeletionSettings

# Destination credentials and the workspace are read once per deletion: no reason to keep them longer.
CACHE_SECONDS = 60


@functools.cache
def step() -> FinishStep:
    settings = DeletionSettings.from_environment()
    table = DeliveryTable(settings.delivery_table_name)
    # One read of the workspace serves the step and the destination functions' adapter.
    workspace = Cached(ConfigStore(settings.config_table_name).current, CACHE_SECONDS).get
    credentials = CachedCredentials(aws.client("ssm"), settings.region, CACHE_SECONDS)
    http = BoundedHttp()
    adapters: dict[str, DeletionAdapter] = {
        name: ToolAdapter(kind, settings.region, http=http, credentials=credentials) for name, kind in TOOLS.items()
    }
    adapters[FUNCTION_TYPE] = FunctionDestinationAdapter(workspace, FunctionInvoker(settings.region))
    return FinishStep(
        DeletionStore(table),
        workspace,
        StoredEvents(table),
        DestinationDeletions(adapters),
        AuditObjects(settings.archive_bucket_name),
        lake=LakeReloads(aws.client("lambda"), settings.lake_loader_function)
        if settings.lake_loader_function
        else None,
        debugger=DebuggerStore(settings.archive_bucket_name),
    )


@logger.inject_lambda_context(log_event=False)  # the event names the users: never logged
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = step().run(event, context.get_remaining_time_in_millis() / 1000)
    logger.info("deletion finished", extra=summary)
    return summary
