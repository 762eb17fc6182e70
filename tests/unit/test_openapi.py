"""The OpenAPI document of the tracking API: valid OpenAPI 3.1, served without a write key, and
true to the handler: every documented operation is served, anything else is a 404, and each
error code the code can answer with is documented under its status (and nothing more)."""

from __future__ import annotations

import ast
import base64
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from openapi_spec_validator import validate

from switchyard.config.compiled import CompiledWorkspace, Source, write_key_hash
from switchyard.constants import REST_API_STAGE
from switchyard.devstack.lambda_runtime import load_handler_module
from switchyard.errors import ApiError
from switchyard.functions import runtime
from switchyard.ingest import messages, openapi
from switchyard.ingest.gateway_event import http_api_event
from switchyard.ingest.messages import BATCH_PATHS, SINGLE_CALL_PATHS
from switchyard.ingest.service import IngestService

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = orjson.loads(openapi.DOCUMENT_PATH.read_bytes())
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
KEY = "wk_openapi_0001"
WORKSPACE = CompiledWorkspace("test", sources=(Source("web", "Web", True, write_key_hash(KEY)),))


class Stream:
    def put(self, records: list[Any]) -> None:
        pass


@pytest.fixture(scope="module")
def handler() -> ModuleType:
    return load_handler_module("ingest")


def call(handler: ModuleType, method: str, path: str, body: bytes = b"") -> dict[str, Any]:
    api = handler.IngestApi(IngestService(lambda: WORKSPACE, Stream(), "us-west-2"))
    event = {
        "rawPath": path,
        "headers": {"authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()},
        "requestContext": {"http": {"method": method, "sourceIp": "192.0.2.1"}, "domainName": "api.example"},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    return api.handle(event)


def path_item(path: str) -> dict[str, Any]:
    item = DOCUMENT["paths"][path]
    if "$ref" in item:  # shared by a path and its short alias: #/components/pathItems/<name>
        return DOCUMENT["components"]["pathItems"][item["$ref"].rsplit("/", 1)[1]]
    return item


def operations() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path in DOCUMENT["paths"] for method in path_item(path) if method in METHODS}


def concrete(path: str) -> str:
    """A request path for a documented path: its parameters filled with plausible values."""
    return (
        path.replace("{type}", "track")
        .replace("{writeKey}", KEY)
        .replace("{proxy+}", "track")
        .replace("{function_id}", "hook")
        .replace("{file}", "analytics.min.js.map")  # the one browser library file whose name has no hash
    )


def test_the_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT)


def test_every_single_call_and_batch_path_is_documented():
    """The handler's own tables: a path they accept and the document lacks is a hidden endpoint."""
    posted = {path for method, path in operations() if method == "POST" and path.startswith("/v1/")}
    assert posted == {f"/v1/{call}" for call in (*SINGLE_CALL_PATHS, *BATCH_PATHS)}
    pixel_types = next(p for p in DOCUMENT["paths"]["/v1/pixel/{type}"]["get"]["parameters"] if p["name"] == "type")
    assert set(pixel_types["schema"]["enum"]) == set(SINGLE_CALL_PATHS)


@pytest.mark.parametrize(("method", "path"), sorted(operations()))
def test_every_documented_operation_is_served(handler: ModuleType, method: str, path: str):
    answer = call(handler, method, concrete(path), b'{"userId": "u", "event": "E"}' if method == "POST" else b"")
    body = orjson.loads(answer["body"]) if answer["headers"].get("Content-Type") == "application/json" else {}
    assert answer["statusCode"] != 404 and body.get("code") != "unknown_path", answer
    assert str(answer["statusCode"]) in path_item(path)[method.lower()]["responses"]


def matches(url: str, template: str) -> bool:
    """Whether a request path falls under a documented path (`{x}`: one segment, `{x+}`: one or more)."""
    have, want = url.strip("/").split("/"), template.strip("/").split("/")
    if want[-1].endswith("+}"):
        return len(have) >= len(want) and all(w[0] == "{" or w == h for w, h in zip(want, have, strict=False))
    return len(have) == len(want) and all(w[0] == "{" or w == h for w, h in zip(want, have, strict=True))


def undocumented() -> list[tuple[str, str]]:
    """Neighbours of every documented operation: other methods, an extra segment, a typo, a prefix.

    OPTIONS is left out: the handler answers a preflight on any path (on AWS, API Gateway routes
    only /v1/{proxy+} to it). A pixel of an unknown type is under `/v1/pixel/{type}` (always the GIF).
    """
    found: set[tuple[str, str]] = set()
    documented = operations()
    for method, path in documented:
        url = concrete(path)
        found |= {(other, url) for other in ("GET", "POST", "PUT", "DELETE", "PATCH")}
        found |= {(method, url + "/extra"), (method, url + "x"), (method, "/v2" + url[3:]), (method, url.upper())}
    return sorted(
        (method, url)
        for method, url in found
        if method != "OPTIONS" and not any(m == method and matches(url, p) for m, p in documented)
    )


@pytest.mark.parametrize(("method", "path"), undocumented())
def test_anything_not_documented_is_a_404(handler: ModuleType, method: str, path: str):
    answer = call(handler, method, path, b"{}")
    assert (answer["statusCode"], orjson.loads(answer["body"])["code"]) == (404, "unknown_path")


def test_the_document_is_served_without_a_write_key_and_with_cors(handler: ModuleType):
    api = handler.IngestApi(IngestService(lambda: WORKSPACE, Stream(), "us-west-2"))
    answer = api.handle({"rawPath": "/openapi.json", "requestContext": {"http": {"method": "GET"}}})
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["headers"]["Access-Control-Allow-Origin"] == "*"
    assert orjson.loads(answer["body"]) == DOCUMENT


def test_the_document_is_not_read_at_import():
    openapi.openapi_text.cache_clear()
    load_handler_module("ingest")
    assert openapi.openapi_text.cache_info().currsize == 0


# --- error codes: what the code raises, by status, is what the document lists ---------------------

STATUS_OF = {cls.__name__: cls.status for cls in ApiError.__subclasses__()}


def raised_codes() -> dict[int, set[str]]:
    """`SomeApiError("code", ...)` and `Discard("reason", ...)` literals in ingest's code, by status.

    A discard's reason is the code of a single call's 400; a source function's outcome codes come
    from the runtime (retryable ones as 503); a webhook answers 400 where others answer 413.
    """
    codes: dict[int, set[str]] = {}
    files = [*(ROOT / "layers/switchyard/ingest").glob("*.py"), ROOT / "functions/ingest/handler.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            status = 400 if node.func.id == "Discard" else STATUS_OF.get(node.func.id)
            if status is not None:
                codes.setdefault(status, set()).add(first.value)
    codes[400] |= {reason for _, reason in messages._OBJECT_FIELDS}  # a table, not Discard(...) calls
    function_codes = {runtime.REJECTED, runtime.UNSUPPORTED, runtime.INVALID_OUTPUT, runtime.BAD_REQUEST}
    codes[400] |= function_codes | codes[413]
    codes.setdefault(503, set()).update(runtime.RETRYABLE)
    codes[500] = {"internal_error"}  # respond_error's answer to the unexpected
    return codes


def documented_codes() -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for name, response in DOCUMENT["components"]["responses"].items():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        target = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        if "enum" in target.get("properties", {}).get("code", {}):  # the handler's (not API Gateway's)
            status = {"BadRequest": 400, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404}.get(name) or {
                "PayloadTooLarge": 413,
                "ServiceUnavailable": 503,
                "InternalError": 500,
            }[name]
            found[status] = set(target["properties"]["code"]["enum"])
    return found


def test_every_error_code_the_code_answers_with_is_documented_under_its_status():
    assert documented_codes() == raised_codes()


def test_every_error_answer_is_exactly_code_and_message():
    for schema in DOCUMENT["components"]["schemas"].values():
        if "enum" in schema.get("properties", {}).get("code", {}):
            assert schema["required"] == ["code", "message"] and schema["additionalProperties"] is False


def test_behind_the_firewall_the_document_puts_every_path_below_the_stage(handler: ModuleType):
    """The REST API (`waf` option) serves /v1/openapi.json; its paths resolve below the v1 stage."""
    api = handler.IngestApi(IngestService(lambda: WORKSPACE, Stream(), "us-west-2"))
    rest_event = {
        "httpMethod": "GET",
        "resource": "/openapi.json",
        "path": "/v1/openapi.json",
        "requestContext": {"stage": REST_API_STAGE, "domainName": "api.example", "identity": {}},
    }
    answer = api.handle(http_api_event(rest_event))
    document = orjson.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert document["servers"] == [{"url": f"/{REST_API_STAGE}", "description": document["servers"][0]["description"]}]
    assert {"/track", "/batch", "/pixel/{type}", "/{proxy+}", "/functions/{function_id}", "/openapi.json"} <= set(
        document["paths"]
    )
    assert not any(path.startswith(f"/{REST_API_STAGE}/") for path in document["paths"])
    validate(document)
