"""A small webhook receiver: prints (and keeps) what a webhook destination sends it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from switchyard.destinations.webhook import verify_signature


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    events: list[dict[str, Any]] = field(default_factory=list)
    signature_valid: bool | None = None
    query: str = ""  # the raw query string
    method: str = "POST"


# What to answer: (status, headers, body); a body given as chunks is streamed as they come.
Answer = tuple[int, dict[str, str], bytes | Iterable[bytes]]
# The default accepts everything.
Responder = Callable[[Received], Answer]


def accept(_: Received) -> Answer:
    return 200, {}, b'{"ok":true}'


class WebhookReceiver:
    def __init__(
        self,
        port: int = 9000,
        *,
        secret: str | None = None,
        responder: Responder = accept,
        echo: Callable[[str], None] | None = None,
        host: str = "127.0.0.1",
        describe_request: Callable[[Received], str | None] = lambda _: None,
    ) -> None:
        self.secret = secret
        self.responder = responder
        self.echo = echo
        # A line for the whole request instead of one per event (a tool stand-in's request).
        self.describe_request = describe_request
        self.requests: list[Received] = []
        self.accepted: list[Received] = []  # those answered with 2xx
        self._lock = threading.Lock()
        self._echo_lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(host, port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def delivered_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for received in self.accepted for event in received.events]

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        body = request.get_data()
        received = Received(
            time.time(),
            request.path,
            dict(request.headers),
            body,
            query=request.query_string.decode("latin-1"),
            method=request.method,
        )
        try:
            parsed = orjson.loads(body)
            received.events = parsed["batch"] if isinstance(parsed, dict) and "batch" in parsed else [parsed]
        except (orjson.JSONDecodeError, KeyError):
            received.events = []
        if self.secret is not None:
            received.signature_valid = verify_signature(self.secret, request.headers, body, time.time())
        with self._lock:
            self.requests.append(received)  # at arrival: a sender that times out still reached us
        status, headers, answer = self.responder(received)
        with self._lock:
            if 200 <= status < 300:
                self.accepted.append(received)
        if self.echo is not None and 200 <= status < 300:
            line = self.describe_request(received)
            texts = [line] if line else [describe(e, received.signature_valid, received.path) for e in received.events]
            with self._echo_lock:  # requests are served by several threads: one whole line at a time
                for text in texts:
                    self.echo(text)
        return Response(answer, status=status, headers=headers, content_type="application/json")(
            environ, start_response
        )


def describe(event: dict[str, Any], signature_valid: bool | None, path: str = "/hook") -> str:
    """A Segment event as a webhook sends it; anything else (a tool's item, e.g. PostHog's) by its
    path and name."""
    deleted = event.get("distinct_ids") or event.get("user_ids")  # PostHog's, Mixpanel's, Amplitude's deletions
    if "type" not in event and isinstance(deleted, list):
        return f"[receiver] {path} delete {', '.join(map(str, deleted))}"
    if "type" not in event:
        properties = event.get("properties") if isinstance(event.get("properties"), dict) else {}
        who = properties.get("distinct_id") or event.get("distinct_id")
        return f"[receiver] {path:<8} {event.get('event', '?')!s:<24} distinct_id={who} uuid={event.get('uuid')}"
    what = event.get("event") or event.get("name") or event.get("groupId") or event.get("previousId") or ""
    who = event.get("userId") or event.get("anonymousId")
    signed = {True: " signed", False: " BAD SIGNATURE", None: ""}[signature_valid]
    return f"[receiver] {event.get('type', '?'):<8} {what!s:<24} user={who} messageId={event.get('messageId')}{signed}"
