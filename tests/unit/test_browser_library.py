"""The browser library served where Segment's snippet loads it: the loader for this region's write
keys, its chunks kept a year, compressed for browsers that accept it, revalidated by ETag, and a
JSON 404 for anything else; on the HTTP API's paths and on the REST API's (the `waf` option)."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from switchyard.config.compiled import CompiledWorkspace, Source, write_key_hash
from switchyard.devstack.lambda_runtime import load_handler_module
from switchyard.ingest import browser_library
from switchyard.ingest.browser_library import BrowserLibrary, accepts_gzip, answer
from switchyard.ingest.gateway_event import http_api_event
from switchyard.ingest.service import IngestService

KEY = "wk_browser_0001"
DISABLED_KEY = "wk_browser_off_1"
WORKSPACE = CompiledWorkspace(
    "test",
    sources=(
        Source("web", "Web", True, write_key_hash(KEY)),
        Source("old", "Old", False, write_key_hash(DISABLED_KEY)),
    ),
)
CHUNK = "tsub-middleware.bundle.89bf07058b3d3b126984.js"
STANDALONE = "!function(){window.AnalyticsNext={}}();\n//# sourceMappingURL=standalone.js.map"
STANDALONE_MAP = {"version": 3, "file": "standalone.js", "mappings": "AAAA,CAAC", "sources": ["a.ts"], "names": []}


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A `dist/umd` folder shaped like the package's."""
    (tmp_path / "standalone.js").write_text(STANDALONE)
    (tmp_path / "standalone.js.gz").write_bytes(gzip.compress(STANDALONE.encode()))
    (tmp_path / "standalone.js.map").write_bytes(orjson.dumps(STANDALONE_MAP))
    (tmp_path / CHUNK).write_text("chunk();")
    (tmp_path / f"{CHUNK}.gz").write_bytes(gzip.compress(b"chunk();"))
    (tmp_path / f"{CHUNK}.map").write_text("{}")
    (tmp_path / "index.js").write_text("npm();")
    (tmp_path / "README.md").write_text("not served")
    return tmp_path


@pytest.fixture(scope="module")
def handler() -> ModuleType:
    return load_handler_module("ingest")


def get(handler: ModuleType, build: Path, path: str, **headers: str) -> dict[str, Any]:
    api = handler.IngestApi(IngestService(lambda: WORKSPACE, None, "us-west-2"), browser=BrowserLibrary(build))
    event = {"rawPath": path, "headers": headers, "requestContext": {"http": {"method": "GET"}, "domainName": "api"}}
    return api.handle(event)


def body_of(response: dict[str, Any]) -> bytes:
    data = base64.b64decode(response["body"]) if response["isBase64Encoded"] else response["body"].encode()
    return gzip.decompress(data) if response["headers"].get("Content-Encoding") == "gzip" else data


def test_the_loader_is_the_standalone_build_after_a_line_that_names_its_base(handler: ModuleType, build: Path):
    response = get(handler, build, f"/analytics.js/v1/{KEY}/analytics.min.js")
    lines = body_of(response).decode().splitlines()
    assert response["statusCode"] == 200
    assert lines == [
        browser_library.LOADER_PRELUDE.rstrip("\n"),
        "!function(){window.AnalyticsNext={}}();",
        "//# sourceMappingURL=../../../analytics-next/bundles/analytics.min.js.map",
    ]
    assert response["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["headers"]["Cache-Control"] == "public, max-age=300"
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"


def test_the_loader_is_only_for_this_regions_enabled_write_keys(handler: ModuleType, build: Path):
    unknown = get(handler, build, "/analytics.js/v1/wk_nobody/analytics.min.js")
    disabled = get(handler, build, f"/analytics.js/v1/{DISABLED_KEY}/analytics.min.js")
    assert (unknown["statusCode"], orjson.loads(unknown["body"])["code"]) == (404, "unknown_write_key")
    assert "wk_nobody" not in unknown["body"]
    assert (disabled["statusCode"], orjson.loads(disabled["body"])["code"]) == (403, "source_disabled")


def test_a_browser_that_accepts_gzip_gets_the_files_compressed(handler: ModuleType, build: Path):
    loader = get(handler, build, f"/analytics.js/v1/{KEY}/analytics.min.js", **{"accept-encoding": "gzip, br"})
    chunk = get(handler, build, f"/analytics-next/bundles/{CHUNK}", **{"accept-encoding": "gzip"})
    assert loader["headers"]["Content-Encoding"] == chunk["headers"]["Content-Encoding"] == "gzip"
    assert body_of(loader).endswith(b"analytics.min.js.map\n") and body_of(chunk) == b"chunk();"
    assert loader["headers"]["Vary"] == "Accept-Encoding"


def test_a_browser_with_a_current_copy_gets_a_bodiless_304(handler: ModuleType, build: Path):
    first = get(handler, build, f"/analytics.js/v1/{KEY}/analytics.min.js")
    again = get(
        handler, build, f"/analytics.js/v1/{KEY}/analytics.min.js", **{"if-none-match": first["headers"]["ETag"]}
    )
    stale = get(handler, build, f"/analytics.js/v1/{KEY}/analytics.min.js", **{"if-none-match": '"old"'})
    assert (again["statusCode"], again["body"], again["headers"]["ETag"]) == (304, "", first["headers"]["ETag"])
    assert stale["statusCode"] == 200


def test_a_chunk_is_kept_a_year_and_its_source_map_is_served(handler: ModuleType, build: Path):
    chunk = get(handler, build, f"/analytics-next/bundles/{CHUNK}")
    source_map = get(handler, build, f"/analytics-next/bundles/{CHUNK}.map")
    assert (chunk["statusCode"], body_of(chunk)) == (200, b"chunk();")
    assert chunk["headers"]["Cache-Control"] == "public, max-age=31536000, immutable"
    assert source_map["headers"]["Content-Type"] == "application/json; charset=utf-8"


def test_the_loaders_source_map_is_the_builds_one_line_further_down(handler: ModuleType, build: Path):
    response = get(handler, build, "/analytics-next/bundles/analytics.min.js.map")
    assert orjson.loads(body_of(response)) == {**STANDALONE_MAP, "mappings": ";AAAA,CAAC"}
    assert response["headers"]["Cache-Control"] == "public, max-age=300"


@pytest.mark.parametrize("name", ["standalone.js", "standalone.js.map", "index.js", "README.md", "nope.js", ".."])
def test_any_other_file_is_a_json_404(handler: ModuleType, build: Path, name: str):
    response = get(handler, build, f"/analytics-next/bundles/{name}")
    assert (response["statusCode"], orjson.loads(response["body"])["code"]) == (404, "unknown_file")


@pytest.mark.parametrize(
    "path",
    [
        f"/analytics.js/v1/{KEY}/analytics.js",
        f"/analytics.js/v2/{KEY}/analytics.min.js",
        f"/analytics.js/v1/{KEY}/analytics.min.js/x",
        "/analytics-next/bundles",
        f"/analytics-next/other/{CHUNK}",
    ],
)
def test_other_paths_below_the_library_are_unknown(handler: ModuleType, build: Path, path: str):
    response = get(handler, build, path)
    assert (response["statusCode"], orjson.loads(response["body"])["code"]) == (404, "unknown_path")


def test_the_shipped_files_are_the_builds_scripts_and_maps_without_the_npm_entry(build: Path):
    assert browser_library.shipped_names(build) == sorted(
        ["standalone.js", "standalone.js.gz", "standalone.js.map", CHUNK, f"{CHUNK}.gz", f"{CHUNK}.map"]
    )


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("*", True),
        ("GZIP", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("identity", False),
        (None, False),
        ("gzip;q=oops", False),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str | None, accepted: bool):
    assert accepts_gzip(header) is accepted


def test_if_none_match_compares_weak_and_listed_tags(build: Path):
    loader = BrowserLibrary(build).loader
    assert answer(loader, f'"x", W/{loader.etag}', None).status == 304
    assert answer(loader, "*", None).status == 304


def test_behind_the_firewall_the_library_and_its_settings_are_below_the_stage(handler: ModuleType, build: Path):
    """A REST API has nothing outside its `v1` stage: the library's base is `<host>/v1`."""
    api = handler.IngestApi(IngestService(lambda: WORKSPACE, None, "us-west-2"), browser=BrowserLibrary(build))

    def rest(resource: str, path: str, **parameters: str) -> dict[str, Any]:
        event = {
            "httpMethod": "GET",
            "resource": resource,
            "path": path,
            "pathParameters": parameters,
            "headers": {"X-Forwarded-Proto": "https"},
            "requestContext": {"stage": "v1", "domainName": "api.example", "identity": {}},
        }
        return api.handle(http_api_event(event))

    loader = rest(
        "/analytics.js/v1/{writeKey}/analytics.min.js", f"/v1/analytics.js/v1/{KEY}/analytics.min.js", writeKey=KEY
    )
    chunk = rest("/analytics-next/bundles/{file}", f"/v1/analytics-next/bundles/{CHUNK}", file=CHUNK)
    settings = rest("/v1/projects/{writeKey}/settings", f"/v1/v1/projects/{KEY}/settings", writeKey=KEY)
    assert loader["statusCode"] == chunk["statusCode"] == settings["statusCode"] == 200
    assert orjson.loads(settings["body"])["integrations"]["Segment.io"]["apiHost"] == "api.example/v1"


def test_the_pinned_package_is_what_the_handler_serves():
    """functions/ingest/analytics-next leads to node_modules' build, as package.json pins it (`npm ci`)."""
    library_dir = Path(load_handler_module("ingest").BROWSER_LIBRARY_DIR)
    package = orjson.loads((library_dir.resolve().parents[1] / "package.json").read_bytes())
    pinned = orjson.loads((Path(__file__).resolve().parents[2] / "package.json").read_bytes())
    assert package["name"] == "@segment/analytics-next"
    assert pinned["devDependencies"]["@segment/analytics-next"] == package["version"]
    assert any(name.endswith(".bundle.") or ".bundle." in name for name in browser_library.shipped_names(library_dir))
