"""Ingest Lambda: the Segment-compatible tracking API behind API Gateway (HTTP API, payload v2)."""

from __future__ import annotations

import orjson
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard.config.store import CachedWorkspace, ConfigStore
from switchyard.constants import METRICS_NAMESPACE, SERVICE_NAME
from switchyard.errors import ApiError
from switchyard.ingest.body import raw_body
from switchyard.ingest.pixel import TRANSPARENT_GIF
from switchyard.ingest.service import HttpRequest, IngestOutcome, IngestService
from switchyard.observability import logger, metrics
from switchyard.settings import IngestSettings
from switchyard.streams import KinesisEventStream

SUCCESS = {"success": True}


def to_json(value: object) -> str:
    return orjson.dumps(value).decode()


app = APIGatewayHttpResolver(
    serializer=to_json,
    cors=CORSConfig(
        allow_origin="*",
        allow_headers=["content-type", "authorization", "x-retry-count"],
        expose_headers=["Retry-After"],
        max_age=600,
    ),
)
_service: IngestService | None = None


def service() -> IngestService:
    """Built on first use, not at import: no AWS calls or clients at cold-start import time."""
    global _service
    if _service is None:
        settings = IngestSettings.from_environment()
        workspace = CachedWorkspace(ConfigStore(settings.config_table_name), settings.config_cache_seconds)
        stream = KinesisEventStream(settings.events_stream_name, budget_seconds=settings.put_budget_seconds)
        _service = IngestService(workspace.get, stream, settings.region)
    return _service


def current_request() -> HttpRequest:
    event = app.current_event
    return HttpRequest(
        headers=event.headers or {},
        body=raw_body(event.body, event.is_base64_encoded),
        query=event.query_string_parameters or {},
        source_ip=event.request_context.http.source_ip,
    )


@app.post("/v1/<call>")
def post_messages(call: str) -> Response:
    outcome = IngestOutcome()
    try:
        service().receive(call, current_request(), outcome)
    finally:
        record(outcome)
    return Response(200, content_types.APPLICATION_JSON, SUCCESS)


@app.get("/v1/pixel/<call>")
def pixel(call: str) -> Response:
    """Always the GIF: a broken pixel in someone's e-mail helps nobody. Errors are counted."""
    outcome = IngestOutcome()
    try:
        service().receive_pixel(call, current_request(), outcome)
    except ApiError as error:
        count_rejection(error)
    finally:
        record(outcome)
    return Response(200, "image/gif", TRANSPARENT_GIF, headers={"Cache-Control": "no-store"})


@app.get("/v1/projects/<write_key>/settings")
def browser_settings(write_key: str) -> Response:
    event = app.current_event
    protocol = (event.headers or {}).get("x-forwarded-proto", "https")
    document = service().settings_document(write_key, event.request_context.domain_name, protocol)
    return Response(200, content_types.APPLICATION_JSON, document)


@app.exception_handler(ApiError)
def refuse(error: ApiError) -> Response:
    count_rejection(error)
    headers = {"Retry-After": "5"} if error.status in (429, 503) else None
    return Response(error.status, content_types.APPLICATION_JSON, error.body(), headers=headers)


@app.not_found
def unknown_route(_: Exception) -> Response:
    body = {"code": "unknown_path", "message": "No such endpoint; see the tracking API reference."}
    return Response(404, content_types.APPLICATION_JSON, body)


@app.exception_handler(Exception)
def internal_error(error: Exception) -> Response:
    logger.exception("unexpected error while ingesting")
    body = {"code": "internal_error", "message": "Something went wrong on our side; retry the request."}
    return Response(500, content_types.APPLICATION_JSON, body, headers={"Retry-After": "5"})


def count_rejection(error: ApiError) -> None:
    logger.info("request refused", extra={"code": error.code, "status": error.status})
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)


def record(outcome: IngestOutcome) -> None:
    """Metrics per source (received, bytes, discards by reason) and a few discard samples in the log."""
    if outcome.source_id is None:
        return
    if outcome.accepted:
        metrics.add_dimension(name="source", value=outcome.source_id)
        metrics.add_metric(name="MessagesReceived", unit=MetricUnit.Count, value=outcome.accepted)
        metrics.add_metric(name="BytesReceived", unit=MetricUnit.Bytes, value=outcome.accepted_bytes)
    for reason, count in outcome.discards.items():
        with single_metric(
            name="MessagesDiscarded",
            unit=MetricUnit.Count,
            value=count,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": SERVICE_NAME, "source": outcome.source_id},
        ) as metric:
            metric.add_dimension(name="reason", value=reason)
    for problem, sample in outcome.discard_samples:
        logger.warning(
            "message discarded",
            extra={
                "source": outcome.source_id,
                "reason": problem.reason,
                "detail": problem.detail,
                "sample": sample,
            },
        )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
