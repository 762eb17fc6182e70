"""Ingest Lambda: the Segment-compatible tracking API behind API Gateway (HTTP API, payload v2).

Routing is a dictionary lookup rather than Powertools' APIGatewayHttpResolver: the resolver costs
~60 us per request, more than the whole per-event budget of a browser batch, and this API has
a few fixed routes, described by switchyard/ingest/openapi.json (served at `GET /openapi.json`).
Errors are still mapped in one place (`respond_error`).

It also serves the browser library where Segment's snippet loads it (switchyard/ingest/browser_library.py)
from `analytics-next` beside this file: in the repository a link to the npm package's build, in the
deployed function a copy of it (infra/ingest.py).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard.config.store import Cached, CachedWorkspace, ConfigStore
from switchyard.constants import DISCARD_LOG_LINES_PER_MINUTE, METRICS_NAMESPACE, REST_API_STAGE, SERVICE_NAME
from switchyard.delivery.table import DeliveryTable
from switchyard.errors import ApiError
from switchyard.functions.invoker import FunctionInvoker
from switchyard.ingest import browser_library
from switchyard.ingest.body import raw_body
from switchyard.ingest.discard_stats import DiscardStats
from switchyard.ingest.gateway_event import http_api_event
from switchyard.ingest.logsampling import LogBudget, message_shape
from switchyard.ingest.openapi import openapi_text
from switchyard.ingest.pixel import TRANSPARENT_GIF
from switchyard.ingest.service import HttpRequest, IngestOutcome, IngestService, unknown_path
from switchyard.ingest.settings import IngestSettings
from switchyard.metrics import Dimension, Metric
from switchyard.observability import logger, metrics
from switchyard.privacy.suppression import SuppressionStore
from switchyard.streams import KinesisEventStream

# CORS as the browser library needs it: every response readable cross-origin, Retry-After visible.
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "content-type, authorization, x-retry-count",
    "Access-Control-Max-Age": "600",
}
JSON_HEADERS = {**CORS_HEADERS, "Content-Type": "application/json"}
SETTINGS_CACHE_CONTROL = "public, max-age=300"  # five minutes, as Segment's CDN keeps it
SUCCESS_BODY = '{"success":true}'
BROWSER_LIBRARY_DIR = Path(__file__).with_name(browser_library.LIBRARY_DIR_NAME)


class IngestApi:
    """The tracking API over an IngestService; its collaborators come through the constructor."""

    def __init__(
        self,
        service: IngestService,
        *,
        discard_log: LogBudget | None = None,
        failure_log: LogBudget | None = None,
        browser: browser_library.BrowserLibrary | None = None,
        discard_stats: DiscardStats | None = None,
    ) -> None:
        self.service = service
        # The Delivery Overview's "failed on ingest" (None: discards are metrics and log lines only).
        self._discard_stats = discard_stats
        self.browser = browser or browser_library.BrowserLibrary(BROWSER_LIBRARY_DIR)
        # Per execution environment: log lines about bad input, at a bounded rate (see ingest.logsampling).
        self._discard_log = discard_log or LogBudget(DISCARD_LOG_LINES_PER_MINUTE)
        self._failure_log = failure_log or LogBudget(DISCARD_LOG_LINES_PER_MINUTE)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.route(event)
        except Exception as error:  # noqa: BLE001 - every failure becomes a JSON answer, never a crash
            return self.respond_error(error)

    def route(self, event: dict[str, Any]) -> dict[str, Any]:
        # Set directly: Powertools' correlation_id_path runs a JMESPath search on every request.
        logger.set_correlation_id(event["requestContext"].get("requestId"))
        method = event["requestContext"]["http"]["method"]
        parts = event.get("rawPath", "").strip("/").split("/")
        if method == "OPTIONS":
            return {"statusCode": 204, "headers": PREFLIGHT_HEADERS, "body": "", "isBase64Encoded": False}
        if parts[0] == "functions" and method == "POST" and len(parts) == 2:
            return self.post_to_function(event, parts[1])
        if parts[0] == "v1":
            if method == "POST" and len(parts) == 2:
                return self.post_messages(event, parts[1])
            if method == "GET" and len(parts) == 3 and parts[1] == "pixel":
                return self.pixel(event, parts[2])
            if method == "GET" and len(parts) == 4 and parts[1] == "projects" and parts[3] == "settings":
                return self.browser_settings(event, parts[2])
        elif method == "GET" and parts == ["openapi.json"]:  # no write key: the contract is public
            stage = event["requestContext"].get("stage")
            return json_response(200, openapi_text(stage if stage == REST_API_STAGE else None))
        elif method == "GET" and len(parts) == len(browser_library.LOADER_PATH) and _is_loader(parts):
            self.service.check_browser_write_key(parts[2])
            return static_response(event, self.browser.loader)
        elif method == "GET" and len(parts) == 3 and tuple(parts[:2]) == browser_library.BUNDLES_PATH:
            return static_response(event, self.browser.bundle_file(parts[2]))
        raise unknown_path()

    def post_messages(self, event: dict[str, Any], call: str) -> dict[str, Any]:
        outcome = IngestOutcome()
        try:
            self.service.receive(call, http_request(event), outcome)
        finally:
            self.record(outcome)
        return json_response(200, SUCCESS_BODY)

    def post_to_function(self, event: dict[str, Any], function_id: str) -> dict[str, Any]:
        """A source function's webhook: its emitted messages take the same path as SDK traffic."""
        outcome = IngestOutcome()
        try:
            self.service.receive_from_function(function_id, http_request(event), outcome)
        finally:
            self.record(outcome)
        return json_response(200, orjson.dumps({"success": True, "accepted": outcome.accepted}).decode())

    def pixel(self, event: dict[str, Any], call: str) -> dict[str, Any]:
        """Always the GIF: a broken image in someone's e-mail helps nobody. Errors are counted."""
        outcome = IngestOutcome()
        try:
            self.service.receive_pixel(call, http_request(event), outcome)
        except ApiError as error:
            self.count_refusal(error)
        except Exception:  # noqa: BLE001 - still the GIF; the failure is logged and counted
            logger.exception("pixel request failed")
            metrics.add_metric(name=Metric.REQUESTS_FAILED, unit=MetricUnit.Count, value=1)
        finally:
            self.record(outcome)
        return {
            "statusCode": 200,
            "headers": {**CORS_HEADERS, "Content-Type": "image/gif", "Cache-Control": "no-store"},
            "body": base64.b64encode(TRANSPARENT_GIF).decode(),
            "isBase64Encoded": True,
        }

    def browser_settings(self, event: dict[str, Any], write_key: str) -> dict[str, Any]:
        protocol = (event.get("headers") or {}).get("x-forwarded-proto", "https")
        document = self.service.settings_document(write_key, event["requestContext"]["domainName"], protocol)
        # The same for every page view of a site: browsers (and a CDN in front) keep it a few minutes
        # instead of asking on every page load. Errors (unknown or disabled keys) are not cached.
        return json_response(200, orjson.dumps(document).decode(), {"Cache-Control": SETTINGS_CACHE_CONTROL})

    def respond_error(self, error: Exception) -> dict[str, Any]:
        """Every refusal as JSON {"code", "message"}; 503 and 500 say when to retry."""
        if isinstance(error, ApiError):
            self.count_refusal(error)
            retry = {"Retry-After": "5"} if error.status in (429, 503) else None
            return json_response(error.status, orjson.dumps(error.body()).decode(), retry)
        logger.exception("unexpected error while ingesting")
        body = {"code": "internal_error", "message": "Something went wrong on our side; retry the request."}
        return json_response(500, orjson.dumps(body).decode(), {"Retry-After": "5"})

    def count_refusal(self, error: ApiError) -> None:
        details = {"code": error.code, "status": error.status}
        skipped = self._failure_log.spend() if error.log_detail else None
        if skipped is not None:  # what the caller is not told (a source function's own error)
            logger.warning("request refused", extra={**details, "detail": error.log_detail, "suppressed": skipped})
        else:
            logger.info("request refused", extra=details)
        metrics.add_metric(name=Metric.REQUESTS_REFUSED, unit=MetricUnit.Count, value=1)

    def record(self, outcome: IngestOutcome) -> None:
        """Metrics per source (received, bytes, discards by reason) and, a few times a minute, discard samples."""
        if outcome.source_id is None:
            return
        source = self.service.metric_source(outcome.source_id)
        if outcome.accepted:
            metrics.add_dimension(name=Dimension.SOURCE, value=source)
            metrics.add_metric(name=Metric.MESSAGES_RECEIVED, unit=MetricUnit.Count, value=outcome.accepted)
            metrics.add_metric(name=Metric.BYTES_RECEIVED, unit=MetricUnit.Bytes, value=outcome.accepted_bytes)
        if outcome.suppressed:
            with single_metric(
                name=Metric.MESSAGES_SUPPRESSED,
                unit=MetricUnit.Count,
                value=outcome.suppressed,
                namespace=METRICS_NAMESPACE,
                default_dimensions={Dimension.SERVICE: SERVICE_NAME, Dimension.SOURCE: source},
            ):
                pass
        for reason, count in outcome.discards.items():
            with single_metric(
                name=Metric.MESSAGES_DISCARDED,
                unit=MetricUnit.Count,
                value=count,
                namespace=METRICS_NAMESPACE,
                default_dimensions={Dimension.SERVICE: SERVICE_NAME, Dimension.SOURCE: source},
            ) as metric:
                metric.add_dimension(name=Dimension.REASON, value=reason)
        if outcome.discards and self._discard_stats is not None:
            try:
                self._discard_stats.record(outcome.source_id, outcome.discards, datetime.now(UTC))
            except Exception:  # noqa: BLE001 - a count for operators never fails the request it counts
                logger.exception("discard counts could not be written")
        skipped = self._discard_log.spend() if outcome.discard_samples else None
        if skipped is not None:
            samples = [
                {"reason": problem.reason, "shape": message_shape(message)}
                for problem, message in outcome.discard_samples
            ]
            logger.warning(
                "messages discarded",
                extra={
                    "source": outcome.source_id,
                    "discards": dict(outcome.discards),
                    "samples": samples,
                    "suppressed": skipped,  # requests with discards not logged since the last line
                },
            )


def http_request(event: dict[str, Any]) -> HttpRequest:
    return HttpRequest(
        headers=event.get("headers") or {},
        body=raw_body(event.get("body"), event.get("isBase64Encoded", False)),
        query=event.get("queryStringParameters") or {},
        source_ip=event["requestContext"]["http"].get("sourceIp"),
        url=f"https://{event['requestContext'].get('domainName', '')}{event.get('rawPath', '')}",
    )


def static_response(event: dict[str, Any], file: browser_library.StaticFile) -> dict[str, Any]:
    headers = event.get("headers") or {}
    answer = browser_library.answer(file, headers.get("if-none-match"), headers.get("accept-encoding"))
    return {
        "statusCode": answer.status,
        "headers": {**CORS_HEADERS, **answer.headers},
        "body": base64.b64encode(answer.body).decode(),
        "isBase64Encoded": True,
    }


def _is_loader(parts: list[str]) -> bool:
    """`analytics.js/v1/<writeKey>/analytics.min.js`: the path Segment's snippet loads."""
    return all(
        want == have or want == "{writeKey}" for want, have in zip(browser_library.LOADER_PATH, parts, strict=True)
    )


def json_response(status: int, body: str, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {**JSON_HEADERS, **extra_headers} if extra_headers else JSON_HEADERS
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}


@functools.cache
def api() -> IngestApi:
    """Built on first use, not at import: no AWS calls or clients at cold-start import time."""
    settings = IngestSettings.from_environment()
    workspace = CachedWorkspace(ConfigStore(settings.config_table_name), settings.config_cache_seconds)
    suppressions = Cached(SuppressionStore(settings.config_table_name).load, settings.config_cache_seconds)
    stream = KinesisEventStream(
        settings.events_stream_name, budget_seconds=settings.put_budget_seconds, compress=settings.stream_compression
    )
    service = IngestService(
        workspace.get, stream, settings.region, functions=FunctionInvoker(settings.region), suppressed=suppressions.get
    )
    return IngestApi(service, discard_stats=DiscardStats(DeliveryTable(settings.delivery_table_name)))


def lambda_handler_for(get_api: Callable[[], IngestApi]) -> Callable[[dict[str, Any], LambdaContext], Any]:
    """The Lambda entry point over an API (tests and benchmarks build theirs with their own service)."""

    @logger.inject_lambda_context(log_event=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return get_api().handle(http_api_event(event))  # REST API events (the `waf` option) too

    return handler


lambda_handler = lambda_handler_for(api)
