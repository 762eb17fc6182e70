"""User deletion worker task: one batch of the manifest, in the scan or the rewrite pass."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard.delivery.table import DeliveryTable
from switchyard.observability import logger
from switchyard.privacy.deletion.reports import AuditObjects
from switchyard.privacy.deletion.rewrite import ArchiveRewriter
from switchyard.privacy.deletion.steps import BatchStep
from switchyard.privacy.deletion.store import DeletionStore
from switchyard.privacy.suppression import SuppressionStore
from switchyard.settings import DeletionSettings


@functools.cache
def step() -> BatchStep:
    settings = DeletionSettings.from_environment()
    return BatchStep(
        ArchiveRewriter(settings.archive_bucket_name, settings.dedupe_table_name),
        DeletionStore(DeliveryTable(settings.delivery_table_name)),
        SuppressionStore(settings.config_table_name),
        AuditObjects(settings.archive_bucket_name),
    )


@logger.inject_lambda_context(log_event=False)  # the event names the users: never logged
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return step().run(event)
