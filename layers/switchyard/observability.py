"""The Logger and Metrics every handler shares (configured by POWERTOOLS_* variables).

No Powertools Tracer: it imports the X-Ray SDK (~110 ms of cold start), and Lambda's own tracing
(the `tracing` stack option: off by default, `sampled` or `active`) records the invocations it traces.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

from switchyard.constants import METRICS_NAMESPACE, SERVICE_NAME

# A request that records nothing (a CORS preflight, the settings document) is normal here.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
