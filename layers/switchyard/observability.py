"""The Logger and Metrics every handler shares (configured by POWERTOOLS_* variables).

No Powertools Tracer here: it imports the X-Ray SDK (~110 ms of cold start). Lambda's active
tracing already records each invocation; a function that wants subsegments calls `tracer()`.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

from switchyard.constants import METRICS_NAMESPACE, SERVICE_NAME

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

# A request that records nothing (a CORS preflight, the settings document) is normal here.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


@cache
def tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE_NAME)
