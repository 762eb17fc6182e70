"""The ingest handler behind an Application Load Balancer (the `front_door=alb` stack option): every
contract path, sent as a real HTTP request, turned into the ALB's Lambda event, through the real
handler against moto."""

from __future__ import annotations

import base64
import gzip
import json
from types import ModuleType
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from switchyard.devstack.lambda_runtime import LocalLambdaContext
from tests.integration.conftest import invoke
from tests.support.load_balancer_events import to_load_balancer_event
from tests.support.streams import StreamReader

KEY = "wk_int_web_123"
DOMAIN = "events.example.com"


def alb_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = KEY,
    headers: dict[str, str] | None = None,
    query: str = "",
    client_ip: str = "198.51.100.7",
) -> dict[str, Any]:
    """The ALB's event for a real HTTP request to `https://<domain><path>?<query>` (query as sent)."""
    all_headers = {"Content-Type": "application/json", "User-Agent": "analytics-node/2.1", **(headers or {})}
    if key:
        all_headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    builder = EnvironBuilder(
        path=path, method=method, data=data, headers=all_headers, query_string=query, base_url=f"https://{DOMAIN}"
    )
    return to_load_balancer_event(Request(builder.get_environ()), data, client_ip=client_ip)


def test_a_track_call_lands_with_the_address_the_load_balancer_saw(ingest: ModuleType, stream: StreamReader):
    # A client may send its own X-Forwarded-For; only the entry the ALB appended is trusted.
    event = alb_event(
        "POST", "/v1/track", {"userId": "u1", "event": "Signed Up"}, headers={"X-Forwarded-For": "10.9.9.9"}
    )
    status, body, headers = invoke(ingest, event)
    assert (status, body) == (200, {"success": True})
    assert headers["Access-Control-Allow-Origin"] == "*"
    [stored] = stream.read_new()
    assert (stored["event"], stored["projectId"], stored["context"]["ip"]) == ("Signed Up", "web", "198.51.100.7")


@pytest.mark.parametrize("call", ["identify", "page", "screen", "group", "alias", "i", "p", "s", "g", "a"])
def test_every_single_call_path(ingest: ModuleType, stream: StreamReader, call: str):
    message = {"userId": "u1", "groupId": "g1", "previousId": "u0", "name": "Home"}
    status, body, _ = invoke(ingest, alb_event("POST", f"/v1/{call}", message))
    assert (status, body) == (200, {"success": True})
    assert len(stream.read_new()) == 1


@pytest.mark.parametrize("call", ["batch", "import", "b"])
def test_a_gzip_batch_arrives_base64_encoded_and_is_inflated(ingest: ModuleType, stream: StreamReader, call: str):
    items = [{"type": "track", "userId": f"u{i}", "event": "E", "messageId": f"m{i}"} for i in range(50)]
    data = gzip.compress(orjson.dumps({"batch": items}))
    event = alb_event("POST", f"/v1/{call}", data, headers={"Content-Encoding": "gzip"})
    assert event["isBase64Encoded"] is True
    status, body, _ = invoke(ingest, event)
    assert (status, body) == (200, {"success": True})
    assert sorted(m["messageId"] for m in stream.read_new()) == sorted(f"m{i}" for i in range(50))


def test_the_browser_librarys_text_plain_short_path_with_the_key_in_the_body(ingest: ModuleType, stream: StreamReader):
    message = {"type": "track", "event": "Clicked", "anonymousId": "a1", "writeKey": KEY}
    event = alb_event("POST", "/v1/t", message, key=None, headers={"Content-Type": "text/plain"})
    status, body, _ = invoke(ingest, event)
    assert (status, body) == (200, {"success": True})
    [stored] = stream.read_new()
    assert stored["event"] == "Clicked" and "writeKey" not in stored


def test_the_pixel_decodes_its_percent_encoded_query(ingest: ModuleType, stream: StreamReader):
    # Standard base64 has `+` and `/`, which a client percent-encodes; the ALB passes them still encoded.
    data = base64.b64encode(orjson.dumps({"userId": "u?", "event": "Opened >>>", "writeKey": KEY})).decode()
    assert "+" in data or "/" in data
    event = alb_event("GET", "/v1/pixel/track", key=None, query=f"data={quote(data, safe='')}")
    assert "%" in event["queryStringParameters"]["data"]
    status, body, headers = invoke(ingest, event)
    assert (status, headers["Content-Type"], body[:6]) == (200, "image/gif", b"GIF89a")
    assert [m["event"] for m in stream.read_new()] == ["Opened >>>"]


def test_a_flat_pixel_query_with_spaces_encoded_either_way(ingest: ModuleType, stream: StreamReader):
    query = f"userId=u&event=Order+Completed&writeKey={KEY}&properties.note=a%20b"
    status, _, _ = invoke(ingest, alb_event("GET", "/v1/pixel/track", key=None, query=query))
    assert status == 200
    [stored] = stream.read_new()
    assert (stored["event"], stored["properties"]["note"]) == ("Order Completed", "a b")


def test_the_settings_document_points_the_browser_back_at_the_domain(ingest: ModuleType):
    status, body, headers = invoke(ingest, alb_event("GET", f"/v1/projects/{KEY}/settings", key=None))
    assert status == 200
    assert body["integrations"]["Segment.io"] == {"apiKey": KEY, "apiHost": f"{DOMAIN}/v1", "protocol": "https"}
    assert headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/v1/track", "/v1/b", "/v1/pixel/page", f"/v1/projects/{KEY}/settings"])
def test_preflights_are_answered(ingest: ModuleType, path: str):
    event = alb_event("OPTIONS", path, key=None, headers={"Access-Control-Request-Method": "POST"})
    status, _, headers = invoke(ingest, event)
    assert status == 204
    assert headers["Access-Control-Allow-Headers"] == "content-type, authorization, x-retry-count"


@pytest.mark.parametrize(("key", "status"), [("wk_int_nope_000", 401), ("wk_int_off_456", 403)])
def test_unknown_and_disabled_keys_are_json_errors(ingest: ModuleType, stream: StreamReader, key: str, status: int):
    code, body, _ = invoke(ingest, alb_event("POST", "/v1/track", {"userId": "u", "event": "E"}, key=key))
    assert code == status
    assert set(body) == {"code", "message"}
    assert stream.read_new() == []


@pytest.mark.parametrize("path", ["/v1/nope", "/", "/admin", "/v1/track/extra"])
def test_every_path_reaches_ingest_which_answers_404_outside_the_contract(ingest: ModuleType, path: str):
    status, body, _ = invoke(ingest, alb_event("POST", path, {"userId": "u"}))
    assert (status, body["code"]) == (404, "unknown_path")


def test_the_openapi_document_is_served_at_the_root(ingest: ModuleType):
    status, body, _ = invoke(ingest, alb_event("GET", "/openapi.json", key=None))
    assert status == 200
    assert body["openapi"].startswith("3.1")


def test_an_answer_has_only_the_fields_the_load_balancer_reads(ingest: ModuleType):
    result = ingest.lambda_handler(
        alb_event("POST", "/v1/track", {"userId": "u", "event": "E"}), LocalLambdaContext("x")
    )
    assert set(result) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert all(isinstance(value, str) for value in result["headers"].values()), "single-value headers only"
