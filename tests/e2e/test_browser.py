"""analytics.js, the real one, in headless Chromium: a page on another origin loads Segment's snippet
with its host changed to the local stack; the library, its settings and its chunks come from the
stack, and its `page`, `identify` and `track` calls, one request each or batched to `/v1/b`, pass
CORS (their preflights included), land in the stream and are delivered by a webhook.

Screenshots of the test pages are kept in tests/e2e/artifacts/ (git-ignored; each path is printed).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchyard.devstack.stack import LocalStack
from tests.e2e.browser.support import BrowserPage, StaticSite
from tests.e2e.conftest import Receivers, wait_until
from tests.support.streams import StreamReader

WRITE_KEY = "wk_e2e_browser_000"  # tests/e2e/tools/browser.yaml
SITE = Path(__file__).parent / "browser" / "site"
CALLS = {"page", "identify", "track"}


@pytest.fixture(scope="module")
def site(local_stack: LocalStack) -> Iterator[StaticSite]:
    with StaticSite(SITE, {"api": local_stack.api_url, "write_key": WRITE_KEY}) as served:
        yield served


def ours(messages: list[dict[str, Any]], run: str) -> list[dict[str, Any]]:
    return [m for m in messages if (m.get("properties") or m.get("traits") or {}).get("run") == run]


def visit(browser_page: BrowserPage, site: StaticSite, page: str, run: str) -> None:
    browser_page.page.goto(f"{site.origin}/{page}?run={run}")
    browser_page.page.wait_for_selector("body[data-ready=true]", timeout=20_000)


def api_posts(browser_page: BrowserPage, stack: LocalStack) -> list[tuple[str, int | str]]:
    """Each POST the library made to the API: its path and the status the page read (browser/site/
    record-fetch.js). A status is readable only if CORS let the answer through, after the preflight
    that the Authorization header the library sends requires. (Playwright does not report the
    answers to the library's `keepalive` requests, so the page records them.)"""

    def posts() -> list[dict[str, Any]]:
        calls = browser_page.page.evaluate("window.apiCalls")
        return [call for call in calls if call["method"].upper() == "POST" and call["url"].startswith(stack.api_url)]

    wait_until(lambda: all("status" in call or "error" in call for call in posts()), timeout=10)
    found = posts()
    assert all(call["authorized"] for call in found), found
    return [(call["url"].removeprefix(stack.api_url), call.get("status") or call.get("error", "")) for call in found]


def assert_landed_and_delivered(
    stream: StreamReader, receivers: Receivers, run: str, page_url: str
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    wait_until(lambda: len(found.__iadd__(ours(stream.read_new(), run))) >= 3, timeout=30)
    assert sorted(m["type"] for m in found) == sorted(CALLS), found
    by_type = {m["type"]: m for m in found}
    assert by_type["identify"]["userId"] == f"browser-{run}" and by_type["identify"]["traits"]["plan"] == "pro"
    assert by_type["track"]["event"] == "Report Exported" and by_type["track"]["properties"]["rows"] == 120
    assert by_type["page"]["name"] == "Browser test" and by_type["page"]["properties"]["url"] == page_url
    for message in found:
        assert message["projectId"] == "browser"
        assert message["context"]["library"]["name"] == "analytics.js"
        assert message["context"]["userAgent"].startswith("Mozilla/5.0")
        assert message["anonymousId"]  # the same visitor on every call
    assert len({m["anonymousId"] for m in found}) == 1
    receiver = receivers.tools["browser"]
    assert wait_until(lambda: len(ours(receiver.delivered_events(), run)) >= 3, timeout=30)
    assert {m["messageId"] for m in ours(receiver.delivered_events(), run)} == {m["messageId"] for m in found}
    return found


def test_the_snippet_loads_the_library_from_the_stack_and_its_calls_land(
    local_stack: LocalStack,
    site: StaticSite,
    browser_page: BrowserPage,
    stream: StreamReader,
    receivers: Receivers,
    artifacts: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    visit(browser_page, site, "index.html", run)

    assert_landed_and_delivered(stream, receivers, run, f"{site.origin}/index.html?run={run}")
    assert sorted(api_posts(browser_page, local_stack)) == [("/v1/i", 200), ("/v1/p", 200), ("/v1/t", 200)]
    assert browser_page.refused == []  # nothing asked of Segment's CDN or API, nor of anyone else
    status = browser_page.page.inner_text("#status")
    assert status.endswith(f"loaded from {local_stack.api_url}/analytics.js/v1/{WRITE_KEY}/analytics.min.js"), status
    assert not [line for line in browser_page.console if line.startswith("error")], browser_page.console
    browser_page.screenshot(artifacts, "browser-per-call")


def test_batched_delivery_posts_the_calls_together_to_v1_b(
    local_stack: LocalStack,
    site: StaticSite,
    browser_page: BrowserPage,
    stream: StreamReader,
    receivers: Receivers,
    artifacts: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    visit(browser_page, site, "batched.html", run)

    assert_landed_and_delivered(stream, receivers, run, f"{site.origin}/batched.html?run={run}")
    assert api_posts(browser_page, local_stack) == [("/v1/b", 200)]
    assert browser_page.refused == []
    browser_page.screenshot(artifacts, "browser-batched")


def test_the_library_and_its_settings_are_served_compressed_and_cacheable(
    local_stack: LocalStack, site: StaticSite, browser_page: BrowserPage
) -> None:
    visit(browser_page, site, "index.html", uuid.uuid4().hex[:8])

    by_path = {
        response.url.removeprefix(local_stack.api_url): response
        for response in browser_page.responses
        if response.url.startswith(local_stack.api_url) and response.request.method == "GET"
    }
    loader = by_path[f"/analytics.js/v1/{WRITE_KEY}/analytics.min.js"].all_headers()
    settings = by_path[f"/v1/projects/{WRITE_KEY}/settings"].all_headers()
    assert (loader["content-encoding"], loader["cache-control"]) == ("gzip", "public, max-age=300")
    assert loader["content-type"] == "text/javascript; charset=utf-8"
    assert settings["cache-control"] == "public, max-age=300"
    chunks = [path for path in by_path if path.startswith("/analytics-next/bundles/")]
    for path in chunks:
        assert by_path[path].status == 200, path
        assert by_path[path].all_headers()["cache-control"] == "public, max-age=31536000, immutable"
