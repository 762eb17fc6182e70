"""Volume check: every source-volume alert's window against the same window a week earlier."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard import aws
from switchyard.alerts.names import alarm_prefix
from switchyard.alerts.volume import VolumeChecker
from switchyard.observability import logger
from switchyard.settings import AlertSettings

_checker: VolumeChecker | None = None


def checker() -> VolumeChecker:
    global _checker
    if _checker is None:
        _checker = VolumeChecker(aws.client("cloudwatch"), alarm_prefix(AlertSettings.from_environment().region))
    return _checker


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    readings = checker().run()
    for reading in readings:
        logger.info(
            "source volume",
            extra={
                "source": reading.check.source,
                "window_minutes": reading.check.window_minutes,
                "received": reading.current,
                "week_earlier": reading.baseline,
                "change_percent": reading.change_percent,
            },
        )
    return {"checked": len(readings)}
