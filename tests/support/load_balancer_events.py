"""Application Load Balancer Lambda-target events built from real HTTP requests, for tests.

The counterpart of `switchyard.devstack.http_api.to_http_api_event` for `front_door=alb`, as the
ALB documents its events (multi-value headers off, the stack's setting): header names lower-cased,
a repeated header or query parameter keeps its last value, query names and values exactly as the
client sent them (still percent-encoded), the client's address appended to `X-Forwarded-For`, and a
body base64-encoded unless it is text.
"""

from __future__ import annotations

import base64
from typing import Any

from werkzeug.wrappers import Request

TARGET_GROUP_ARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/switchyard-ingest-1a2b3c4d/6d0e"
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "application/x-www-form")


def to_load_balancer_event(request: Request, body: bytes, *, client_ip: str = "198.51.100.7") -> dict[str, Any]:
    headers = {name.lower(): value for name, value in request.headers.items()}
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {client_ip}" if forwarded else client_ip
    headers.update({"x-forwarded-proto": "https", "x-forwarded-port": "443", "x-amzn-trace-id": "Root=1-abc-def"})
    query: dict[str, str] = {}
    for pair in filter(None, request.query_string.decode("latin-1").split("&")):
        name, _, value = pair.partition("=")
        query[name] = value
    text = _as_text(body, headers)
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP_ARN}},
        "httpMethod": request.method,
        "path": request.path,
        "queryStringParameters": query,
        "headers": headers,
        "body": text if text is not None else base64.b64encode(body).decode(),
        "isBase64Encoded": text is None,
    }
    return event


def _as_text(body: bytes, headers: dict[str, str]) -> str | None:
    if not body:
        return ""
    if headers.get("content-encoding") or not headers.get("content-type", "").lower().startswith(_TEXT_TYPES):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None
