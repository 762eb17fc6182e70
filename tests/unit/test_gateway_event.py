"""REST API proxy events (payload 1.0) turned into the HTTP API shape (payload 2.0) the ingest handler reads."""

from __future__ import annotations

import base64
import copy
import gzip
from typing import Any

import pytest

from switchyard.ingest.gateway_event import handler_path, http_api_event


def rest_event(**overrides: Any) -> dict[str, Any]:
    """A REST API Lambda proxy event as API Gateway sends it (binary media types `*/*`)."""
    body = base64.b64encode(gzip.compress(b'{"batch": []}')).decode()
    event: dict[str, Any] = {
        "resource": "/{call}",
        "path": "/batch",
        "httpMethod": "POST",
        "headers": {
            "Authorization": "Basic d2tfd2ViXzEyMzo=",
            "Content-Encoding": "gzip",
            "Content-Type": "text/plain",
            "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "X-Retry-Count": "2",
        },
        "multiValueHeaders": {
            "Authorization": ["Basic d2tfd2ViXzEyMzo="],
            "Content-Encoding": ["gzip"],
            "Content-Type": ["text/plain"],
            "Host": ["abc123.execute-api.eu-west-1.amazonaws.com"],
            "X-Forwarded-For": ["203.0.113.9"],
            "X-Forwarded-Proto": ["https"],
            "X-Retry-Count": ["1", "2"],
        },
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"call": "batch"},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "r1",
            "resourcePath": "/{call}",
            "httpMethod": "POST",
            "extendedRequestId": "ext-1",
            "requestTime": "30/Nov/2026:12:00:01 +0000",
            "path": "/v1/batch",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "v1",
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1795953601000,
            "requestId": "req-1",
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "analytics-node/2.1"},
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": body,
        "isBase64Encoded": True,
    }
    event.update(overrides)
    return event


def test_an_http_api_event_is_handed_back_untouched():
    event = {"version": "2.0", "rawPath": "/v1/track", "requestContext": {"http": {"method": "POST"}}}
    assert http_api_event(event) is event


def test_the_fields_the_handler_reads():
    converted = http_api_event(rest_event())
    assert converted["version"] == "2.0"
    assert converted["rawPath"] == "/v1/batch"
    assert converted["requestContext"]["http"]["method"] == "POST"
    assert converted["requestContext"]["http"]["sourceIp"] == "203.0.113.9"
    assert converted["requestContext"]["requestId"] == "req-1"
    assert converted["requestContext"]["domainName"] == "abc123.execute-api.eu-west-1.amazonaws.com"
    assert converted["isBase64Encoded"] is True
    assert gzip.decompress(base64.b64decode(converted["body"])) == b'{"batch": []}'
    assert "queryStringParameters" not in converted, "absent, as on the HTTP API"


def test_header_names_are_lower_cased_and_repeats_joined_as_the_http_api_does():
    headers = http_api_event(rest_event())["headers"]
    assert headers["authorization"] == "Basic d2tfd2ViXzEyMzo="
    assert headers["content-encoding"] == "gzip"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-retry-count"] == "1,2"
    assert all(name == name.lower() for name in headers)


def test_headers_sent_twice_in_different_cases_become_one():
    event = rest_event(multiValueHeaders={"Content-Type": ["text/plain"], "content-type": ["application/json"]})
    assert http_api_event(event)["headers"] == {"content-type": "text/plain,application/json"}


def test_single_value_headers_are_used_when_there_are_no_multi_value_ones():
    event = rest_event(multiValueHeaders=None, headers={"Authorization": "Basic x", "X-Forwarded-Proto": "http"})
    assert http_api_event(event)["headers"] == {"authorization": "Basic x", "x-forwarded-proto": "http"}


def test_no_headers_at_all():
    assert http_api_event(rest_event(multiValueHeaders=None, headers=None))["headers"] == {}


def test_query_parameters_keep_every_value_joined_by_commas():
    event = rest_event(
        resource="/pixel/{type}",
        httpMethod="GET",
        pathParameters={"type": "track"},
        queryStringParameters={"event": "Opened", "properties.tag": "b"},
        multiValueQueryStringParameters={"event": ["Opened"], "properties.tag": ["a", "b"]},
        body=None,
        isBase64Encoded=False,
    )
    converted = http_api_event(event)
    assert converted["queryStringParameters"] == {"event": "Opened", "properties.tag": "a,b"}
    assert converted["rawPath"] == "/v1/pixel/track"
    assert converted["body"] is None and converted["isBase64Encoded"] is False


def test_single_value_query_parameters_are_used_when_there_are_no_multi_value_ones():
    event = rest_event(queryStringParameters={"token": "t"}, multiValueQueryStringParameters=None)
    assert http_api_event(event)["queryStringParameters"] == {"token": "t"}


@pytest.mark.parametrize(
    ("resource", "parameters", "expected"),
    [
        ("/{call}", {"call": "track"}, "/v1/track"),
        ("/{call}", {"call": "t"}, "/v1/t"),
        ("/pixel/{type}", {"type": "page"}, "/v1/pixel/page"),
        ("/projects/{writeKey}/settings", {"writeKey": "wk_web_123"}, "/v1/projects/wk_web_123/settings"),
        # Webhooks: /v1/functions/{id} on the REST API, routed as the HTTP API's /functions/{id}.
        ("/functions/{function_id}", {"function_id": "stripe-events"}, "/functions/stripe-events"),
        ("/openapi.json", None, "/openapi.json"),  # /v1/openapi.json, the HTTP API's /openapi.json
        ("/{proxy+}", {"proxy": "projects/wk/settings"}, "/v1/projects/wk/settings"),
    ],
)
def test_the_path_is_the_http_api_path_of_the_resource(resource: str, parameters: dict, expected: str):
    assert handler_path(resource, parameters, None) == expected


def test_the_path_ignores_a_custom_domains_base_path():
    # Behind a custom domain's `v1` mapping, `path` carries the base path; `resource` does not.
    event = rest_event(path="/v1/batch", requestContext={**rest_event()["requestContext"], "path": "/v1/batch"})
    assert http_api_event(event)["rawPath"] == "/v1/batch"
    assert http_api_event(rest_event(path="/batch"))["rawPath"] == "/v1/batch"


def test_without_a_resource_the_path_as_sent_is_used():
    assert handler_path(None, None, "/v1/track") == "/v1/track"
    assert handler_path(None, None, None) == "/"


def test_a_missing_path_parameter_leaves_an_empty_segment_the_handler_refuses():
    assert handler_path("/pixel/{type}", None, None) == "/v1/pixel/"


def test_the_event_is_not_changed_in_place():
    event = rest_event()
    before = copy.deepcopy(event)
    http_api_event(event)
    assert event == before


def test_a_bare_event_from_a_test_invoke_does_not_crash():
    converted = http_api_event({"httpMethod": "OPTIONS", "path": "/v1/track"})
    assert converted["rawPath"] == "/v1/track"
    assert converted["requestContext"]["http"] == {
        "method": "OPTIONS",
        "path": "/v1/track",
        "sourceIp": None,
        "userAgent": None,
    }
    assert converted["headers"] == {}
    assert converted["isBase64Encoded"] is False


# Application Load Balancer events (`front_door=alb`).


def alb_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/t/1"}},
        "httpMethod": "GET",
        "path": "/v1/pixel/track",
        "queryStringParameters": {"data": "eyJ1%2BIjoi%2Fn0%3D", "note": "a+b%20c", "k%20ey": "v"},
        "headers": {
            "host": "events.eu.example.com",
            "user-agent": "curl/8",
            "x-forwarded-for": "10.0.0.1, 203.0.113.9",
            "x-amzn-trace-id": "Root=1-abc",
        },
        "body": "",
        "isBase64Encoded": False,
    }
    event.update(overrides)
    return event


def test_a_load_balancer_event_becomes_the_http_api_shape():
    converted = http_api_event(alb_event())
    assert converted["rawPath"] == "/v1/pixel/track", "served at the root, as the HTTP API"
    assert converted["requestContext"]["http"] == {
        "method": "GET",
        "path": "/v1/pixel/track",
        "sourceIp": "203.0.113.9",
        "userAgent": "curl/8",
    }
    assert converted["requestContext"]["domainName"] == "events.eu.example.com"
    assert converted["queryStringParameters"] == {"data": "eyJ1+Ijoi/n0=", "note": "a b c", "k ey": "v"}


def test_a_load_balancer_event_with_multi_value_headers_and_query_joins_repeats():
    event = alb_event(
        headers=None,
        queryStringParameters=None,
        multiValueHeaders={"Host": ["events.example.com"], "X-Retry-Count": ["1", "2"]},
        multiValueQueryStringParameters={"tag": ["a%2Cb", "c"]},
    )
    converted = http_api_event(event)
    assert converted["headers"] == {"host": "events.example.com", "x-retry-count": "1,2"}
    assert converted["queryStringParameters"] == {"tag": "a,b,c"}
    assert converted["requestContext"]["http"]["sourceIp"] is None, "no X-Forwarded-For: no address"


def test_a_load_balancer_event_without_query_or_body_does_not_crash():
    converted = http_api_event(alb_event(queryStringParameters={}, body=None, path=None))
    assert (converted["rawPath"], converted["body"]) == ("/", None)
    assert "queryStringParameters" not in converted
