"""The ingest handler behind the REST API (the `waf` stack option): every contract path, sent as a
real HTTP request, turned into the REST API's proxy event (payload 1.0), through the real handler
against moto."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from switchyard.config.compiled import CompiledWorkspace, FunctionConfig, Source, write_key_hash
from switchyard.constants import REST_API_RESOURCES
from switchyard.devstack.resources import LocalResources
from switchyard.functions.runtime import FunctionRunner, load_module
from switchyard.functions.secrets import token_hash
from switchyard.ingest.service import IngestService
from switchyard.streams import KinesisEventStream
from tests.integration.conftest import invoke
from tests.support.rest_api_events import route, to_rest_api_event
from tests.support.streams import StreamReader

KEY = "wk_int_web_123"
EXECUTE_API = "abc123.execute-api.us-west-2.amazonaws.com"
CUSTOM_DOMAIN = "events.example.com"
HOSTS = pytest.mark.parametrize("domain", [None, CUSTOM_DOMAIN], ids=["execute-api", "custom-domain"])


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = KEY,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | list[tuple[str, str]] | None = None,
    domain: str | None = None,
) -> dict[str, Any]:
    """A REST API proxy event for a real HTTP request to `https://<host><path>`."""
    all_headers = {"Content-Type": "application/json", "User-Agent": "analytics-node/2.1", **(headers or {})}
    if key:
        all_headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    builder = EnvironBuilder(
        path=path,
        method=method,
        data=data,
        headers=all_headers,
        query_string=query,
        base_url=f"https://{domain or EXECUTE_API}",
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    event = to_rest_api_event(Request(builder.get_environ()), data, custom_domain=domain)
    assert event is not None, f"API Gateway itself answers {method} {path}"
    return event


@HOSTS
def test_a_track_call_lands_in_the_stream(ingest: ModuleType, stream: StreamReader, domain: str | None):
    status, body, headers = invoke(
        ingest, rest_event("POST", "/v1/track", {"userId": "u1", "event": "Signed Up"}, domain=domain)
    )
    assert (status, body) == (200, {"success": True})
    assert headers["Access-Control-Allow-Origin"] == "*"
    [stored] = stream.read_new()
    assert (stored["event"], stored["projectId"], stored["context"]["ip"]) == ("Signed Up", "web", "198.51.100.7")


@pytest.mark.parametrize("call", ["identify", "page", "screen", "group", "alias", "i", "p", "s", "g", "a"])
def test_every_single_call_path(ingest: ModuleType, stream: StreamReader, call: str):
    message = {"userId": "u1", "groupId": "g1", "previousId": "u0", "name": "Home"}
    status, body, _ = invoke(ingest, rest_event("POST", f"/v1/{call}", message))
    assert (status, body) == (200, {"success": True})
    assert len(stream.read_new()) == 1


@pytest.mark.parametrize("call", ["batch", "import", "b"])
def test_a_gzip_batch_arrives_base64_encoded_and_is_inflated(ingest: ModuleType, stream: StreamReader, call: str):
    items = [{"type": "track", "userId": f"u{i}", "event": "E", "messageId": f"m{i}"} for i in range(50)]
    data = gzip.compress(orjson.dumps({"batch": items}))
    event = rest_event("POST", f"/v1/{call}", data, headers={"Content-Encoding": "gzip"})
    assert event["isBase64Encoded"] is True
    status, body, _ = invoke(ingest, event)
    assert (status, body) == (200, {"success": True})
    assert sorted(m["messageId"] for m in stream.read_new()) == sorted(f"m{i}" for i in range(50))


def test_the_browser_librarys_text_plain_short_path_with_the_key_in_the_body(ingest: ModuleType, stream: StreamReader):
    message = {"type": "track", "event": "Clicked", "anonymousId": "a1", "writeKey": KEY}
    event = rest_event("POST", "/v1/t", message, key=None, headers={"Content-Type": "text/plain"})
    status, body, _ = invoke(ingest, event)
    assert (status, body) == (200, {"success": True})
    [stored] = stream.read_new()
    assert stored["event"] == "Clicked" and "writeKey" not in stored


@HOSTS
def test_the_pixel_answers_a_gif_and_stores_the_event(ingest: ModuleType, stream: StreamReader, domain: str | None):
    data = base64.b64encode(orjson.dumps({"userId": "u", "event": "Opened", "writeKey": KEY})).decode()
    event = rest_event("GET", "/v1/pixel/track", key=None, query={"data": data}, domain=domain)
    status, body, headers = invoke(ingest, event)
    assert (status, headers["Content-Type"], body[:6]) == (200, "image/gif", b"GIF89a")
    assert [m["event"] for m in stream.read_new()] == ["Opened"]


def test_a_flat_pixel_query_with_a_repeated_parameter(ingest: ModuleType, stream: StreamReader):
    query = [("userId", "u"), ("event", "Opened"), ("writeKey", KEY), ("properties.tag", "a"), ("properties.tag", "b")]
    status, _, _ = invoke(ingest, rest_event("GET", "/v1/pixel/track", key=None, query=query))
    assert status == 200
    [stored] = stream.read_new()
    assert stored["properties"]["tag"] == "a,b", "joined as the HTTP API joins repeats"


@pytest.mark.parametrize(("domain", "host"), [(None, EXECUTE_API), (CUSTOM_DOMAIN, CUSTOM_DOMAIN)])
def test_the_settings_document_points_the_browser_back_at_the_same_host(
    ingest: ModuleType, domain: str | None, host: str
):
    event = rest_event("GET", f"/v1/projects/{KEY}/settings", key=None, domain=domain)
    status, body, headers = invoke(ingest, event)
    assert status == 200
    assert body["integrations"]["Segment.io"] == {"apiKey": KEY, "apiHost": f"{host}/v1", "protocol": "https"}
    assert headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/v1/track", "/v1/b", "/v1/pixel/page", f"/v1/projects/{KEY}/settings"])
def test_preflights_are_answered(ingest: ModuleType, path: str):
    event = rest_event("OPTIONS", path, key=None, headers={"Access-Control-Request-Method": "POST"})
    status, _, headers = invoke(ingest, event)
    assert status == 204
    assert headers["Access-Control-Allow-Headers"] == "content-type, authorization, x-retry-count"


@pytest.mark.parametrize(("key", "status"), [("wk_int_nope_000", 401), ("wk_int_off_456", 403)])
def test_unknown_and_disabled_keys_are_json_errors(ingest: ModuleType, stream: StreamReader, key: str, status: int):
    code, body, _ = invoke(ingest, rest_event("POST", "/v1/track", {"userId": "u", "event": "E"}, key=key))
    assert code == status
    assert set(body) == {"code", "message"}
    assert stream.read_new() == []


def test_an_unknown_call_under_the_call_resource_is_the_handlers_404(ingest: ModuleType):
    status, body, _ = invoke(ingest, rest_event("POST", "/v1/nope", {"userId": "u"}))
    assert (status, body["code"]) == (404, "unknown_path")


def test_the_openapi_document_is_served_below_the_stage(ingest: ModuleType):
    status, body, headers = invoke(ingest, rest_event("GET", "/v1/openapi.json", key=None))
    assert status == 200
    assert body["openapi"].startswith("3.1")
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_paths_outside_the_resources_never_reach_lambda():
    assert route("/track/extra", "POST") is None
    assert route("/pixel", "POST") is None, "the static /pixel resource wins over {call}, and has no POST"
    assert route("/track", "GET") is None
    assert route("/functions/hook", "OPTIONS") is None


# Source-function webhooks: /v1/functions/{id} on the REST API.

TOKEN = "tok_rest_0123456789"
HOOK_CODE = """
from switchyard.functions import track
def on_request(request, settings):
    track(user_id=request.query["customer"], event="Invoice Paid", properties={"amount": request.json()["amount"]})
"""


class RunInProcess:
    """The invoker's job without Lambda: run the function module on the request."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner

    def run_request(self, function: FunctionConfig, request: dict[str, Any]) -> Any:
        return self.runner.run_request(orjson.loads(orjson.dumps(request)), {})


@pytest.fixture
def webhook_handler(ingest: ModuleType, aws: LocalResources, tmp_path: Path) -> Any:
    (tmp_path / "hook.py").write_text(HOOK_CODE)
    hook = FunctionConfig("hook", "source", "billing", "hook.py", {}, (), 5, token_hash(TOKEN))
    workspace = CompiledWorkspace(
        "integration", sources=(Source("billing", "Billing", True, write_key_hash("wk_bill_000")),), functions=(hook,)
    )
    functions = RunInProcess(FunctionRunner(load_module(tmp_path / "hook.py"), "source", 2))
    stream = KinesisEventStream(aws.events_stream)
    api = ingest.IngestApi(IngestService(lambda: workspace, stream, aws.region, functions=functions))
    return ingest.lambda_handler_for(lambda: api)


@HOSTS
def test_a_source_function_webhook_runs_and_its_events_land(
    webhook_handler: Any, stream: StreamReader, domain: str | None
):
    event = rest_event(
        "POST", "/v1/functions/hook", {"amount": 42}, key=None, query={"token": TOKEN, "customer": "c1"}, domain=domain
    )
    status, body, _ = invoke(webhook_handler, event)
    assert (status, body) == (200, {"success": True, "accepted": 1})
    [stored] = stream.read_new()
    assert (stored["userId"], stored["projectId"], stored["properties"]) == ("c1", "billing", {"amount": 42})


def test_a_webhook_with_a_wrong_token_is_the_handlers_401_not_a_404(webhook_handler: Any, stream: StreamReader):
    event = rest_event("POST", "/v1/functions/hook", {"amount": 1}, key=None, query={"token": "wrong"})
    status, body, _ = invoke(webhook_handler, event)
    assert (status, body["code"]) == (401, "invalid_token")
    assert stream.read_new() == []


def test_every_resource_and_method_of_the_rest_api_reaches_a_handler_route(ingest: ModuleType):
    """No (resource, method) the stack deploys falls through to the handler's unknown_path."""
    examples = {
        "/{call}": "/v1/track",
        "/pixel/{type}": "/v1/pixel/track",
        "/projects/{writeKey}/settings": f"/v1/projects/{KEY}/settings",
        "/functions/{function_id}": "/v1/functions/hook",
        "/openapi.json": "/v1/openapi.json",
    }
    assert set(examples) == {resource for resource, _ in REST_API_RESOURCES}
    for resource, methods in REST_API_RESOURCES:
        for method in methods:
            event = rest_event(method, examples[resource], {"userId": "u", "event": "E"}, query={"token": "t"})
            assert event["resource"] == resource
            status, body, _ = invoke(ingest, event)
            assert not (status == 404 and body and body.get("code") == "unknown_path"), (method, resource)
