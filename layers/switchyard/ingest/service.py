"""The tracking API's behaviour, independent of Lambda: authenticate, validate, enrich, write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from switchyard.config.compiled import CompiledWorkspace, FunctionConfig, Source
from switchyard.constants import DISCARD_SAMPLES_PER_REQUEST, MAX_BATCH_ITEMS, OTHER_METRIC_NAME
from switchyard.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from switchyard.functions.runtime import SourceResult
from switchyard.ingest import body as bodies
from switchyard.ingest import webhook
from switchyard.ingest.auth import resolve_write_key
from switchyard.ingest.messages import (
    BATCH_PATHS,
    SINGLE_CALL_PATHS,
    AcceptedMessage,
    Discard,
    RequestContext,
    process_all,
)
from switchyard.ingest.numbers import exact_json
from switchyard.ingest.pixel import decode_pixel_query
from switchyard.privacy.suppression import is_suppressed
from switchyard.streams import StreamRecord, StreamWriteFailed
from switchyard.timeutil import format_timestamp, utc_now


def unknown_path() -> NotFound:
    """The one answer to a path the API does not serve. It never repeats the path: callers put
    write keys in paths (`/v1/<key>`), and an answer is kept by proxies and browser consoles."""
    return NotFound("unknown_path", "No such endpoint; see the tracking API reference.")


class EventStream(Protocol):
    def put(self, records: list[StreamRecord]) -> None: ...


class SourceFunctions(Protocol):
    def run_request(self, function: FunctionConfig, request: dict[str, Any]) -> SourceResult: ...


@dataclass(frozen=True)
class HttpRequest:
    """The parts of an HTTP request the tracking API looks at (headers with lower-case names)."""

    headers: Mapping[str, str]
    body: bytes = b""
    query: Mapping[str, str] = field(default_factory=dict)
    source_ip: str | None = None
    url: str = ""


@dataclass
class IngestOutcome:
    """What one request did, for the response, metrics and logs."""

    source_id: str | None = None
    accepted: int = 0
    accepted_bytes: int = 0
    suppressed: int = 0  # valid messages of suppressed users, dropped (never logged)
    discards: Counter[str] = field(default_factory=Counter)
    # The first few discarded messages, as they are: the handler logs their shape, when it logs.
    discard_samples: list[tuple[Discard, Any]] = field(default_factory=list)

    def discard(self, problem: Discard, message: Any) -> None:
        self.discards[problem.reason] += 1
        if len(self.discard_samples) < DISCARD_SAMPLES_PER_REQUEST:
            self.discard_samples.append((problem, message))


class IngestService:
    def __init__(
        self,
        workspace: Callable[[], CompiledWorkspace],
        stream: EventStream,
        region: str,
        now: Callable[[], datetime] = utc_now,
        functions: SourceFunctions | None = None,
        suppressed: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        self._workspace = workspace
        self._suppressed = suppressed
        self._stream = stream
        self._region = region
        self._now = now
        self._functions = functions

    def receive(self, call_path: str, request: HttpRequest, outcome: IngestOutcome) -> None:
        """`POST /v1/{call_path}`: one message or a batch; returns only once all are in the stream."""
        is_batch = call_path in BATCH_PATHS
        call_type = SINGLE_CALL_PATHS.get(call_path)
        if not is_batch and call_type is None:
            raise unknown_path()
        bodies.check_content_type(request.headers.get("content-type"))
        raw = bodies.inflate(request.body, request.headers.get("content-encoding"))
        payload = bodies.parse_json_object(raw)
        source = self._authenticate(request.headers.get("authorization"), payload.get("writeKey"))
        outcome.source_id = source.id
        received = self._now()
        if is_batch:
            items, context = self._batch_items(payload, source, received, request.source_ip, raw)
        else:
            items = [payload]
            context = self._request_context(
                source, received, request.source_ip, exact_messages=lambda: [exact_json(raw)]
            )
        self._accept(items, call_type, context, outcome, single=not is_batch)

    def receive_pixel(self, call_path: str, request: HttpRequest, outcome: IngestOutcome) -> None:
        """`GET /v1/pixel/{type}`: the same rules as a single call, the message in the query."""
        call_type = SINGLE_CALL_PATHS.get(call_path)
        if call_type is None:
            raise unknown_path()
        message = decode_pixel_query(dict(request.query))
        source = self._authenticate(request.headers.get("authorization"), message.get("writeKey"))
        outcome.source_id = source.id
        context = self._request_context(source, self._now(), request.source_ip)
        self._accept([message], call_type, context, outcome, single=True)

    def receive_from_function(self, function_id: str, request: HttpRequest, outcome: IngestOutcome) -> None:
        """`POST /functions/{id}`: run the source function, then ingest what it emitted."""
        workspace = self._current_workspace()
        function = workspace.function(function_id)
        token = request.query.get("token") or request.headers.get("x-switchyard-token") or ""
        if not webhook.token_matches(function, token) or function is None or self._functions is None:
            raise webhook.no_such_webhook()
        source = workspace.source(function.source or "")
        if source is None or not source.enabled:
            raise Forbidden("source_disabled", "The function's source is disabled; its events are not accepted.")
        outcome.source_id = source.id
        result = self._functions.run_request(function, webhook.function_request(request))
        if result.code:
            raise webhook.function_failure(function.id, result)
        if not result.messages:
            return
        context = self._request_context(source, self._now(), request.source_ip)
        self._accept(result.messages, None, context, outcome, single=False)

    def settings_document(self, write_key: str, api_host: str, protocol: str) -> dict[str, Any]:
        """What the browser library loads before it sends anything (its `cdnURL` points here)."""
        self._source_for(write_key)
        return {
            "integrations": {"Segment.io": {"apiKey": write_key, "apiHost": f"{api_host}/v1", "protocol": protocol}},
            "plan": {"track": {"__default": {"enabled": True}}},
            "metrics": {"sampleRate": 0},
        }

    def check_browser_write_key(self, write_key: str) -> None:
        """The snippet's script is served for this region's write keys only: 404 to an unknown key,
        as Segment's CDN answers, and 403 to a disabled source, whose events would be refused."""
        try:
            self._source_for(write_key)
        except Unauthorized:
            raise NotFound("unknown_write_key", "No source of this region has this write key.") from None

    def _authenticate(self, authorization: str | None, body_key: object) -> Source:
        return self._source_for(resolve_write_key(authorization, body_key))

    def _suppressed_ids(self) -> frozenset[str]:
        if self._suppressed is None:
            return frozenset()
        try:
            return self._suppressed()
        except Exception as error:  # never take a message a suppression might have dropped
            raise ServiceUnavailable("config_unavailable", "Configuration is unavailable; retry.") from error

    def metric_source(self, source_id: str) -> str:
        """The source's name in CloudWatch metrics (a bounded set: CompiledWorkspace.source_metric_name)."""
        try:
            return self._workspace().source_metric_name(source_id)
        except Exception:  # noqa: BLE001 - the request is answered; its metrics go under the shared name
            return OTHER_METRIC_NAME

    def _current_workspace(self) -> CompiledWorkspace:
        try:
            return self._workspace()
        except Exception as error:
            raise ServiceUnavailable("config_unavailable", "Configuration is unavailable; retry.") from error

    def _source_for(self, write_key: str) -> Source:
        workspace = self._current_workspace()
        source = workspace.source_for_write_key(write_key)
        if source is None:
            raise Unauthorized("invalid_write_key", "The write key is not known in this region.")
        if not source.enabled:
            raise Forbidden("source_disabled", "This write key's source is disabled; its events are not accepted.")
        return source

    def _request_context(self, source: Source, received: datetime, ip: str | None, **batch: Any) -> RequestContext:
        return RequestContext(source_id=source.id, region=self._region, received_at=received, ip=ip, **batch)

    def _batch_items(
        self, payload: dict[str, Any], source: Source, received: datetime, ip: str | None, raw: bytes
    ) -> tuple[list[Any], RequestContext]:
        items = payload.get("batch")
        if not isinstance(items, list):
            raise BadRequest("batch_not_list", "A batch request needs `batch`: a list of messages.")
        if len(items) > MAX_BATCH_ITEMS:
            raise BadRequest("too_many_items", f"A batch holds at most {MAX_BATCH_ITEMS} messages; got {len(items)}.")
        context = payload.get("context")
        integrations = payload.get("integrations")
        if context is not None and not isinstance(context, dict):
            raise BadRequest("context_not_object", "The batch's `context` must be an object.")
        if integrations is not None and not isinstance(integrations, dict):
            raise BadRequest("integrations_not_object", "The batch's `integrations` must be an object.")

        def exact_messages() -> list[Any]:  # each item with the batch fields merged into it
            exact = exact_json(raw)
            return [[item, exact.get("context"), exact.get("integrations")] for item in exact["batch"]]

        return items, self._request_context(
            source,
            received,
            ip,
            sent_at=payload.get("sentAt"),
            context=context,
            integrations=integrations,
            exact_messages=exact_messages,
        )

    def _accept(
        self,
        items: list[Any],
        call_type: str | None,
        context: RequestContext,
        outcome: IngestOutcome,
        *,
        single: bool,
    ) -> None:
        received_text = format_timestamp(context.received_at)
        suppressed = self._suppressed_ids()
        accepted: list[AcceptedMessage] = []
        for item, result in zip(items, process_all(items, call_type, context, received_text), strict=True):
            if type(result) is not AcceptedMessage:
                outcome.discard(result, item)
            elif suppressed and is_suppressed(item, suppressed):
                outcome.suppressed += 1  # answered as taken, so the SDK does not send it again
            else:
                accepted.append(result)
        if not accepted and outcome.suppressed:
            return
        if not accepted:
            if single and outcome.discard_samples:
                problem = outcome.discard_samples[0][0]
                raise BadRequest(problem.reason, problem.detail)
            reasons = ", ".join(f"{reason} x{count}" for reason, count in outcome.discards.most_common())
            raise BadRequest("no_valid_messages", f"No message in the batch is valid ({reasons or 'empty batch'}).")
        try:
            self._stream.put(accepted)  # type: ignore[arg-type]
        except StreamWriteFailed as error:
            raise ServiceUnavailable(
                "stream_unavailable", "The events could not be stored right now; retry the request."
            ) from error
        outcome.accepted = len(accepted)
        outcome.accepted_bytes = sum(len(message.data) for message in accepted)
