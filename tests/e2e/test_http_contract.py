"""The tracking API over real HTTP: bad input gets its status and JSON error, nothing of it is stored."""

from __future__ import annotations

import base64
import gzip
import json
import uuid

import pytest
import requests

from switchyard.devstack.stack import LocalStack
from tests.support.streams import StreamReader

pytestmark = pytest.mark.e2e

KEY = "wk_e2e_web_123"
AUTH = (KEY, "")


def post(stack: LocalStack, path: str, body: bytes | str | dict, auth=AUTH, **headers: str) -> requests.Response:
    data = json.dumps(body) if isinstance(body, dict) else body
    headers.setdefault("Content-Type", "application/json")
    return requests.post(f"{stack.api_url}{path}", data=data, auth=auth, headers=headers, timeout=10)


def nested(depth: int) -> dict:
    root: dict = {}
    cursor = root
    for _ in range(depth):
        cursor["a"] = {}
        cursor = cursor["a"]
    return root


def track(**fields: object) -> dict:
    return {"userId": "bad-input", "event": "Tried", **fields}


BAD_REQUESTS = [
    ("malformed json", "/v1/track", b'{"userId": "u", ', {}, 400, "invalid_json"),
    (
        "multipart",
        "/v1/track",
        b"--x\r\n\r\n--x--",
        {"Content-Type": "multipart/form-data; boundary=x"},
        400,
        "unsupported_content_type",
    ),
    (
        "oversize message",
        "/v1/track",
        json.dumps(track(properties={"blob": "x" * 40_000})),
        {},
        400,
        "message_too_large",
    ),
    (
        "oversize batch",
        "/v1/batch",
        json.dumps({"batch": [track(properties={"b": "x" * 20_000})] * 30}),
        {},
        413,
        "request_too_large",
    ),
    ("2,501 items", "/v1/batch", json.dumps({"batch": [track()] * 2501}), {}, 400, "too_many_items"),
    (
        "gzip bomb",
        "/v1/batch",
        gzip.compress(b"[" + b" " * 40_000_000 + b"]"),
        {"Content-Encoding": "gzip"},
        413,
        "request_too_large",
    ),
    ("invalid utf-8", "/v1/track", b'{"userId": "\xff\xfe", "event": "x"}', {}, 400, "invalid_json"),
    (
        "nesting beyond the parser",
        "/v1/track",
        b'{"userId": "u", "event": "x", "properties": ' + b'{"a":' * 2000 + b"1" + b"}" * 2001,
        {},
        400,
        "invalid_json",
    ),
    (
        "nesting beyond storage",
        "/v1/track",
        json.dumps(track(properties=nested(300))),
        {},
        400,
        "message_too_deep",
    ),
    (
        "properties not an object",
        "/v1/track",
        json.dumps(track(properties=[1, 2])),
        {},
        400,
        "properties_not_object",
    ),
    (
        "traits not an object",
        "/v1/identify",
        json.dumps({"userId": "u", "traits": "vip"}),
        {},
        400,
        "traits_not_object",
    ),
    ("missing ids", "/v1/track", json.dumps({"event": "x"}), {}, 400, "no_user_anon_id"),
    (
        "101-character messageId",
        "/v1/track",
        json.dumps(track(messageId="m" * 101)),
        {},
        400,
        "message_id_too_long",
    ),
    (
        "all-invalid batch",
        "/v1/batch",
        json.dumps({"batch": [{"type": "track", "userId": "u"}]}),
        {},
        400,
        "no_valid_messages",
    ),
    ("batch not a list", "/v1/batch", json.dumps({"batch": {"a": 1}}), {}, 400, "batch_not_list"),
    ("unknown path", "/v1/purchase", json.dumps(track()), {}, 404, "unknown_path"),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_input_gets_its_status_and_json_error_and_nothing_is_stored(
    local_stack: LocalStack,
    stream: StreamReader,
    path: str,
    body: bytes | str,
    headers: dict,
    status: int,
    code: str,
):
    response = post(local_stack, path, body, **headers)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert stream.read_new() == []
    assert post(local_stack, "/v1/track", track()).status_code == 200, "the API keeps serving"


@pytest.mark.parametrize(
    ("auth", "body_key", "status", "code"),
    [
        (("wk_nobody_knows", ""), None, 401, "invalid_write_key"),
        (None, "wk_nobody_knows", 401, "invalid_write_key"),
        (None, None, 401, "missing_write_key"),
        (("wk_e2e_retired_789", ""), None, 403, "source_disabled"),
        (None, "wk_e2e_retired_789", 403, "source_disabled"),
    ],
)
def test_unknown_and_disabled_write_keys_are_refused(
    local_stack: LocalStack, stream: StreamReader, auth, body_key, status: int, code: str
):
    body = track(**({"writeKey": body_key} if body_key else {}))
    response = post(local_stack, "/v1/track", body, auth=auth)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert stream.read_new() == []


def test_a_batch_keeps_valid_items_and_discards_the_rest(local_stack: LocalStack, stream: StreamReader):
    run = uuid.uuid4().hex
    batch = {
        "batch": [
            {"type": "track", "userId": "u", "event": "Kept", "messageId": f"{run}-1"},
            {"type": "track", "userId": "u"},
            {"type": "identify", "userId": "u", "traits": [1]},
            {"type": "page", "anonymousId": "a", "name": "Home", "messageId": f"{run}-2"},
        ],
        "context": {"library": {"name": "curl"}},
        "writeKey": KEY,
    }
    response = post(local_stack, "/v1/b", batch, auth=None, **{"Content-Type": "text/plain"})
    assert (response.status_code, response.json()) == (200, {"success": True})
    stored = stream.wait_for(2)
    assert sorted(message["messageId"] for message in stored) == [f"{run}-1", f"{run}-2"]
    assert all(message["context"]["library"] == {"name": "curl"} for message in stored)


@pytest.mark.parametrize("path", ["t", "p", "i", "g", "a", "s"])
def test_browser_short_paths_set_the_type(local_stack: LocalStack, stream: StreamReader, path: str):
    message = {
        "userId": "u",
        "anonymousId": "a",
        "event": "E",
        "groupId": "g",
        "previousId": "p",
        "writeKey": KEY,
    }
    response = post(local_stack, f"/v1/{path}", message, auth=None, **{"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    expected = {"t": "track", "p": "page", "i": "identify", "g": "group", "a": "alias", "s": "screen"}[path]
    assert [message["type"] for message in stream.wait_for(1)] == [expected]


def test_cors_preflight_and_headers_on_every_response(local_stack: LocalStack):
    origin = {"Origin": "https://shop.example"}
    preflight = requests.options(
        f"{local_stack.api_url}/v1/t",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,x-retry-count",
        },
        timeout=5,
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", "https://shop.example")
    allowed = {name.strip().lower() for name in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization", "x-retry-count"} <= allowed
    methods = {name.strip() for name in preflight.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST"} <= methods
    for response in (
        post(local_stack, "/v1/t", track(), **origin),
        post(local_stack, "/v1/t", b"{", **origin),
    ):
        assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://shop.example")
        assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


def test_the_openapi_document_is_served_over_http_without_a_write_key(local_stack: LocalStack):
    response = requests.get(f"{local_stack.api_url}/openapi.json", headers={"Origin": "https://x.example"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    assert {"/v1/track", "/v1/batch", "/v1/pixel/{type}", "/openapi.json"} <= set(document["paths"])


def test_the_browser_settings_document(local_stack: LocalStack):
    response = requests.get(
        f"{local_stack.api_url}/v1/projects/{KEY}/settings",
        headers={"Origin": "https://shop.example"},
        timeout=5,
    )
    assert response.status_code == 200
    settings = response.json()["integrations"]["Segment.io"]
    assert settings["apiKey"] == KEY
    assert settings["apiHost"] == local_stack.api_url.removeprefix("http://") + "/v1"
    assert settings["protocol"] == "http"
    assert response.headers["Access-Control-Allow-Origin"]
    unknown = requests.get(f"{local_stack.api_url}/v1/projects/wk_nobody/settings", timeout=5)
    assert (unknown.status_code, unknown.json()["code"]) == (401, "invalid_write_key")


def test_pixel_with_base64_data(local_stack: LocalStack, stream: StreamReader):
    data = base64.b64encode(json.dumps({"userId": "mail-1", "event": "Email Opened", "writeKey": KEY}).encode())
    response = requests.get(f"{local_stack.api_url}/v1/pixel/track", params={"data": data.decode()}, timeout=5)
    assert (response.status_code, response.headers["Content-Type"]) == (200, "image/gif")
    assert response.content.startswith(b"GIF89a")
    [stored] = stream.wait_for(1)
    assert (stored["event"], stored["type"], "writeKey" in stored) == ("Email Opened", "track", False)


def test_pixel_with_flat_parameters(local_stack: LocalStack, stream: StreamReader):
    params = {"userId": "mail-2", "event": "Email Opened", "properties.subject": "Hello", "writeKey": KEY}
    response = requests.get(f"{local_stack.api_url}/v1/pixel/track", params=params, timeout=5)
    assert response.status_code == 200
    [stored] = stream.wait_for(1)
    assert stored["properties"] == {"subject": "Hello"}


def test_a_pixel_with_a_bad_key_is_still_a_gif_and_stores_nothing(local_stack: LocalStack, stream: StreamReader):
    response = requests.get(
        f"{local_stack.api_url}/v1/pixel/track",
        params={"userId": "u", "event": "x", "writeKey": "wk_nobody"},
        timeout=5,
    )
    assert (response.status_code, response.content[:6]) == (200, b"GIF89a")
    assert stream.read_new() == []
