"""API Gateway REST API (Lambda proxy, payload 1.0) events built from real HTTP requests, for tests.

The counterpart of `switchyard.devstack.http_api.to_http_api_event` for the REST API the `waf` stack
option deploys: the same stage (`v1`), resources and binary media types (`*/*`) as the stack
(constants.REST_API_STAGE, REST_API_RESOURCES), routed as API Gateway routes them (a static path
segment wins over a path variable; a resource without the request's method is API Gateway's own
403 `MISSING_AUTHENTICATION_TOKEN`, answered before Lambda, so no event).
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request

from switchyard.constants import REST_API_RESOURCES, REST_API_STAGE


@dataclass
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    variable: tuple[str, _Node] | None = None  # (name, node); `name+` is greedy
    resource: str = "/"
    methods: tuple[str, ...] = ()


def _tree() -> _Node:
    root = _Node()
    for resource, methods in REST_API_RESOURCES:
        node = root
        for part in resource.strip("/").split("/"):
            if part.startswith("{"):
                if node.variable is None:
                    node.variable = (part[1:-1], _Node())
                if node.variable[0] != part[1:-1]:
                    raise ValueError(f"two path variables below one resource: {resource}")
                node = node.variable[1]
            else:
                node = node.static.setdefault(part, _Node())
        node.resource, node.methods = resource, methods
    return root


_ROOT = _tree()


def route(path_below_stage: str, method: str) -> tuple[str, dict[str, str]] | None:
    """(resource, path parameters) API Gateway would invoke Lambda with, or None."""
    node, parameters = _ROOT, {}
    parts = path_below_stage.strip("/").split("/")
    for index, part in enumerate(parts):
        if part in node.static:
            node = node.static[part]
        elif node.variable is not None and part:
            name, child = node.variable
            if name.endswith("+"):
                parameters[name[:-1]] = "/".join(parts[index:])
                node = child
                break
            parameters[name] = part
            node = child
        else:
            return None
    if method not in node.methods:
        return None
    return node.resource, parameters


def to_rest_api_event(request: Request, body: bytes, *, custom_domain: str | None = None) -> dict[str, Any] | None:
    """The event API Gateway would send for `request` (its path starting with /v1), or None when
    API Gateway answers itself (no stage, no resource or no method)."""
    prefix = f"/{REST_API_STAGE}"
    if request.path != prefix and not request.path.startswith(f"{prefix}/"):
        return None
    below = request.path[len(prefix) :] or "/"
    matched = route(below, request.method)
    if matched is None:
        return None
    resource, parameters = matched
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():  # the client's spelling of each name
        multi_headers.setdefault(name, []).append(value)
    multi_headers.setdefault("X-Forwarded-Proto", ["https"])
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    domain = custom_domain or request.host
    now = time.time()
    return {
        "resource": resource,
        # Behind a custom domain the base path stays in `path`; on the execute-api host it does not.
        "path": f"{prefix}{below}" if custom_domain else below,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": request.method,
            "extendedRequestId": uuid.uuid4().hex,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"{prefix}{below}",
            "accountId": "000000000000",
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": REST_API_STAGE,
            "domainPrefix": domain.split(".")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent"),
            },
            "domainName": domain,
            "apiId": "local",
        },
        # Binary media types `*/*`: every body reaches Lambda base64-encoded.
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }
