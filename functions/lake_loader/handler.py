"""Lake loader: loads archive hours into the lake's Parquet tables and compacts closed hours.

Invoked by the hourly schedule (`{}`: the hours due, switchyard.lake.schedule) or by
`switchyard lake load` (`{"hours": [{"source", "date", "hour"}, ...]}`).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard import aws
from switchyard.config.store import CachedWorkspace, ConfigStore
from switchyard.lake.catalog import GlueCatalog
from switchyard.lake.loader import LakeLoader
from switchyard.lake.service import LakeLoadFailed, LakeService, lake_sync
from switchyard.observability import logger
from switchyard.settings import LakeSettings

LAG_WINDOW = timedelta(minutes=10)


def router_lag_seconds(cloudwatch: Any, function_name: str) -> float:
    """The router's largest iterator age of the last minutes (0 when it has none to report)."""
    if not function_name:
        return 0.0
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="IteratorAge",
        Dimensions=[{"Name": "FunctionName", "Value": function_name}],
        StartTime=now - LAG_WINDOW,
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )
    return max((point["Maximum"] for point in answer.get("Datapoints", [])), default=0.0) / 1000


@functools.cache
def service() -> LakeService:
    settings = LakeSettings.from_environment()
    workspace = CachedWorkspace(ConfigStore(settings.config_table_name), settings.config_cache_seconds)
    catalog = GlueCatalog(aws.client("glue"), settings.archive_bucket_name, settings.archive_retention_days)
    loader = LakeLoader(settings.archive_bucket_name, aws.client("s3"), catalog, lake_sync(workspace.get))
    return LakeService(
        loader, workspace.get, lambda: router_lag_seconds(aws.client("cloudwatch"), settings.router_function_name)
    )


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = service().handle(event or {})
    output = report.to_output()
    logger.info("lake loaded", extra={"loaded": len(report.loaded), "failed": len(report.failed)})
    if report.failed:
        raise LakeLoadFailed(f"{len(report.failed)} hour(s) not loaded: {output['failed']}")
    return output
