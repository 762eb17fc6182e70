"""A REST API proxy event (payload 1.0) as the HTTP API event (payload 2.0) the ingest handler reads.

The tracking API is an HTTP API, or, with the `waf` stack option, a REST API (AWS WAF cannot
protect an HTTP API). The handler reads one shape; the Lambda entry passes every event through
`http_api_event` first, which hands HTTP API events back as they are (one dictionary lookup) and
builds, from a REST one, the fields the handler reads:

| handler reads (2.0)                            | taken from (1.0)                                         |
| ---------------------------------------------- | -------------------------------------------------------- |
| `requestContext.http.method`                   | `httpMethod`                                             |
| `rawPath`                                      | `resource` + `pathParameters`: the HTTP API's path (below) |
| `headers`: lower-case names, repeats joined by `,` | `multiValueHeaders` (else `headers`), names lower-cased |
| `queryStringParameters`: repeats joined by `,` | `multiValueQueryStringParameters` (else the single ones)  |
| `requestContext.http.sourceIp`                 | `requestContext.identity.sourceIp`                       |
| `requestContext.requestId`, `.domainName`, `body`, `isBase64Encoded` | the same fields              |

The path comes from the resource, never from `path`: behind a custom domain `path` carries the
domain's base path (`/v1/track`), on the execute-api host it does not (`/track`). Every resource sits
below the `v1` stage, so its HTTP API path is `/v1` + the resource, except the HTTP API's paths
outside /v1: source-function webhooks (`/functions/{id}`) and `/openapi.json`
(constants.REST_API_RESOURCES, HTTP_API_ROOT_PATHS), and the browser library's resources
(infra/tracking_api.py, BROWSER_LIBRARY_RESOURCES): its loader and chunks, and the settings document
again at `/v1/projects/{writeKey}/settings` below the stage, where a library whose base is the stage
(`<host>/v1`) asks for it (switchyard.ingest.browser_library).

Bodies: the REST API declares every media type binary, so a gzip body reaches Lambda base64-encoded
with `isBase64Encoded`, as the HTTP API sends it; `body.raw_body` decodes either form.

An Application Load Balancer's event (`front_door=alb`, `requestContext.elb`) has the REST API's
`httpMethod` but no resource: the path is `path` as the client sent it (the ALB serves the contract's
paths at the root, as the HTTP API does). Its query names and values arrive as sent, percent-encoded,
and are decoded here as the HTTP API would have (`+` as a space, as form encoding has it). The client's
address is the last entry of `X-Forwarded-For`, the one the ALB itself appended (earlier ones are
whatever the client claimed), and the host is the `Host` header. The ALB reads the same answer
(`statusCode`, `headers`, `body`, `isBase64Encoded`), so answers need no conversion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from switchyard.constants import HTTP_API_ROOT_PATHS, REST_API_STAGE

_PATH_PARAMETER = re.compile(r"\{([^{}/]+?)\+?\}")
_STAGE_PREFIX = f"/{REST_API_STAGE}"
# REST resources that are HTTP API paths as they are.
_UNPREFIXED = (*HTTP_API_ROOT_PATHS, "/analytics.js/", "/analytics-next/", f"{_STAGE_PREFIX}/")


def http_api_event(event: dict[str, Any]) -> dict[str, Any]:
    """`event` in the HTTP API's shape: as it is when it already has it, else converted."""
    if "httpMethod" not in event:
        return event
    if "elb" in (event.get("requestContext") or {}):
        return _from_load_balancer(event)
    return _from_rest_api(event)


def handler_path(resource: str | None, parameters: Mapping[str, str] | None, sent_path: str | None) -> str:
    """The HTTP API path of a REST resource with its path parameters filled in."""
    if not resource:
        return sent_path or "/"
    values = parameters or {}
    filled = _PATH_PARAMETER.sub(lambda match: values.get(match.group(1)) or "", resource)
    if filled.startswith(_UNPREFIXED):
        return filled
    return _STAGE_PREFIX + filled


def _from_rest_api(event: dict[str, Any]) -> dict[str, Any]:
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    method = event["httpMethod"]
    resource = event.get("resource") or context.get("resourcePath")
    path = handler_path(resource, event.get("pathParameters"), event.get("path"))
    converted: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {resource}",
        "rawPath": path,
        "headers": _joined(event.get("multiValueHeaders"), event.get("headers"), lower_case=True),
        "requestContext": {
            "accountId": context.get("accountId"),
            "apiId": context.get("apiId"),
            "domainName": context.get("domainName", ""),
            "http": {
                "method": method,
                "path": path,
                "sourceIp": identity.get("sourceIp"),
                "userAgent": identity.get("userAgent"),
            },
            "requestId": context.get("requestId"),
            "stage": context.get("stage"),
        },
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
    }
    query = _joined(event.get("multiValueQueryStringParameters"), event.get("queryStringParameters"))
    if query:
        converted["queryStringParameters"] = query
    return converted


def _from_load_balancer(event: dict[str, Any]) -> dict[str, Any]:
    method = event["httpMethod"]
    path = event.get("path") or "/"
    headers = _joined(event.get("multiValueHeaders"), event.get("headers"), lower_case=True)
    converted: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "headers": headers,
        "requestContext": {
            "domainName": headers.get("host", ""),
            "http": {
                "method": method,
                "path": path,
                "sourceIp": headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip() or None,
                "userAgent": headers.get("user-agent"),
            },
            "requestId": headers.get("x-amzn-trace-id"),
        },
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
    }
    query = _joined(
        _decoded(event.get("multiValueQueryStringParameters")), _decoded(event.get("queryStringParameters"))
    )
    if query:
        converted["queryStringParameters"] = query
    return converted


def _decoded(parameters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query names and values (a value, or a list of them) percent-decoded, `+` as a space."""
    if not parameters:
        return None
    return {
        unquote_plus(name): [unquote_plus(each) for each in value] if isinstance(value, list) else unquote_plus(value)
        for name, value in parameters.items()
        if value is not None
    }


def _joined(
    multi: Mapping[str, list[str] | None] | None, single: Mapping[str, str | None] | None, *, lower_case: bool = False
) -> dict[str, str]:
    """Every value of each name, comma-joined (the HTTP API's form); names lower-cased if asked."""
    joined: dict[str, str] = {}
    if multi:
        pairs = ((name, ",".join(values)) for name, values in multi.items() if values is not None)
    elif single:
        pairs = ((name, value) for name, value in single.items() if value is not None)
    else:
        return joined
    for name, value in pairs:
        key = name.lower() if lower_case else name
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined
