"""API Gateway HTTP API (payload format 2.0) in front of a handler, as a local WSGI server."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

# API Gateway refuses bodies over 10 MB before Lambda sees them; so do we.
_MAX_REQUEST_BYTES = 10 * 1024 * 1024
# Content types API Gateway hands to Lambda as text; everything else arrives base64-encoded.
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form",
)


def to_http_api_event(request: Request, body: bytes, route_key: str = "$default") -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    headers.setdefault("x-forwarded-proto", request.scheme)
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    text_body = _as_text(body, headers)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": text_body is None,
        "body": text_body if text_body is not None else base64.b64encode(body).decode(),
    }
    if query:
        event["queryStringParameters"] = query
    return event


def _as_text(body: bytes, headers: dict[str, str]) -> str | None:
    if not body:
        return ""
    if headers.get("content-encoding"):
        return None
    content_type = headers.get("content-type", "").lower()
    if content_type and not content_type.startswith(_TEXT_TYPES):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def to_wsgi_response(result: dict[str, Any]) -> Response:
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(data, status=int(result.get("statusCode", 200)))
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = value
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, value)
    return response


class HttpApiServer:
    """Serves `invoke(event) -> response` on 127.0.0.1:port, one thread per request."""

    def __init__(self, invoke: Callable[[dict[str, Any]], dict[str, Any]], host: str = "127.0.0.1", port: int = 8080):
        self._invoke = invoke
        self._server: BaseWSGIServer = make_server(host, port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if (request.content_length or 0) > _MAX_REQUEST_BYTES:
            response = Response('{"message":"Request Entity Too Large"}', status=413, content_type="application/json")
            return response(environ, start_response)
        body = request.get_data(cache=False)
        try:
            response = to_wsgi_response(self._invoke(to_http_api_event(request, body)))
        except Exception:  # what API Gateway answers when the function itself fails
            response = Response('{"message":"Internal Server Error"}', status=500, content_type="application/json")
        return response(environ, start_response)
