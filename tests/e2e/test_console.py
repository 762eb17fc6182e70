"""The console in headless Chromium, over the shared local stack: a page with the real analytics.js
sends `page`, `identify` and `track`; the Debugger shows them arriving live, with their properties;
the Delivery Overview shows them delivered; a replay starts from the Replays form and finishes; the
Usage page counts the visitor. Each page's screenshot is kept in tests/e2e/artifacts/ (README's
pictures are these).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchyard.cli.targets import resolve_target
from switchyard.console.app import create_app
from switchyard.console.data import ConsoleData
from switchyard.console.server import ConsoleServer
from switchyard.devstack.stack import LocalStack
from tests.e2e.browser.support import BrowserPage, StaticSite
from tests.e2e.conftest import Receivers, wait_until

WRITE_KEY = "wk_e2e_browser_000"  # tests/e2e/tools/browser.yaml
SOURCE, DESTINATION = "browser", "browser-hook"
SITE = Path(__file__).parent / "browser" / "site"


@pytest.fixture(scope="module")
def console(local_stack: LocalStack) -> Iterator[str]:
    data = ConsoleData.from_target(resolve_target(local_stack.region, local_stack.aws_endpoint))
    server = ConsoleServer(create_app(data), 0).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def site(local_stack: LocalStack) -> Iterator[StaticSite]:
    with StaticSite(SITE, {"api": local_stack.api_url, "write_key": WRITE_KEY}) as served:
        yield served


@pytest.fixture(scope="module")
def run() -> str:
    return uuid.uuid4().hex[:8]


def send_from_the_site(chromium: object, site: StaticSite, run: str, page_name: str = "index.html") -> None:
    """The test site's calls, from a tab of its own (the console's tab stays open and live):
    index.html sends each call on its own, batched.html all in one `/v1/b` request."""
    context = chromium.new_context()  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.goto(f"{site.origin}/{page_name}?run={run}")
        page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        page.wait_for_function("window.apiCalls.some(c => 'status' in c)", timeout=20_000)
    finally:
        context.close()


def test_the_debugger_shows_the_browsers_calls_arrive_live_with_their_properties(
    console: str, site: StaticSite, chromium: object, browser_page: BrowserPage, run: str, artifacts: Path
):
    page = browser_page.page
    page.goto(f"{console}/sources/{SOURCE}?search={run}")
    assert page.locator("#live").is_checked()
    # No reload: the page follows the debugger and adds what arrives, from both ways of sending. One
    # page after the other: the debugger keeps at most 5 messages a second per source (a sample).
    send_from_the_site(chromium, site, run)
    page.wait_for_function("document.querySelectorAll('#debugger tr.message').length >= 3", timeout=30_000)
    send_from_the_site(chromium, site, f"{run}-batched", "batched.html")
    page.wait_for_function("document.querySelectorAll('#debugger tr.message').length >= 6", timeout=30_000)
    rows = page.locator("#debugger tr.message")
    types = sorted(rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count()))
    assert types == ["identify", "identify", "page", "page", "track", "track"]
    assert page.locator("#debugger tr.message", has_text=f"browser-{run}-batched").count() == 3
    track = page.locator("#debugger tr.message", has_text=f"browser-{run}-batched").filter(has_text="Report Exported")
    track.click()
    pretty = track.locator("xpath=following-sibling::tr[1]").locator("pre.pretty")
    assert pretty.is_visible()
    text = pretty.inner_text()
    assert '"rows": 120' in text and f'"run": "{run}-batched"' in text and '"format": "csv"' in text
    track.locator("xpath=following-sibling::tr[1]").locator("button[data-view=raw]").click()
    assert '"rows":120' in track.locator("xpath=following-sibling::tr[1]").locator("pre.raw").inner_text()
    assert "every message" in page.inner_text("#sampling") or "sampled" in page.inner_text("#sampling")
    browser_page.screenshot(artifacts, "console-debugger")

    page.goto(f"{console}/sources")
    assert page.locator(f'a[href="/sources/{SOURCE}"]').count() >= 1
    browser_page.screenshot(artifacts, "console-sources")


def test_the_delivery_overview_shows_them_delivered(
    console: str,
    site: StaticSite,
    chromium: object,
    browser_page: BrowserPage,
    receivers: Receivers,
    run: str,
    artifacts: Path,
):
    receiver = receivers.tools[SOURCE]
    mine = lambda: [e for e in receiver.delivered_events() if run in str(e.get("properties") or e.get("traits"))]  # noqa: E731
    if len(mine()) < 3:
        send_from_the_site(chromium, site, run)
    assert wait_until(lambda: len(mine()) >= 3, timeout=30)

    page = browser_page.page

    def delivered_on_the_page() -> int:
        page.goto(f"{console}/destinations/{DESTINATION}?since=1h")
        return int(page.inner_text('[data-step="delivered"] .step-count').replace(",", ""))

    assert wait_until(lambda: delivered_on_the_page() >= 3, timeout=20), "statistics are written as deliveries end"
    received = int(page.inner_text('[data-step="received from sources"] .step-count').replace(",", ""))
    assert received >= delivered_on_the_page()
    assert page.inner_text("#success-rate") == "100.0%"
    page.wait_for_function("window.Chart && Chart.getChart('latency-chart')", timeout=10_000)
    browser_page.screenshot(artifacts, "console-destination")

    page.goto(f"{console}/destinations")
    assert page.locator(f'a[href="/destinations/{DESTINATION}"]').count() == 1
    browser_page.screenshot(artifacts, "console-destinations")


def test_a_replay_starts_from_the_form_and_finishes(
    console: str, browser_page: BrowserPage, receivers: Receivers, artifacts: Path
):
    page = browser_page.page
    page.goto(f"{console}/replays")
    page.select_option("select[name=source]", SOURCE)
    page.check(f"input[name=destination][value={DESTINATION}]")
    page.check("input[name=type][value=track]")
    page.click("#replay-form button[type=submit]")
    page.wait_for_url("**/replays/*")
    replay_url = page.url

    def status() -> str:  # the page reloads itself while the replay runs: read it afresh
        page.goto(replay_url)
        return page.inner_text("#replay-status")

    assert wait_until(lambda: status() in ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=60)
    assert status() == "SUCCEEDED"
    assert int(page.inner_text('[data-counter="sent"]').replace(",", "")) >= 1
    browser_page.screenshot(artifacts, "console-replay")
    page.goto(f"{console}/replays")
    browser_page.screenshot(artifacts, "console-replays")


def test_usage_counts_the_visitor(
    console: str, site: StaticSite, chromium: object, browser_page: BrowserPage, run: str, artifacts: Path
):
    page = browser_page.page

    def usage_rows() -> int:
        page.goto(f"{console}/usage?source={SOURCE}")
        return page.locator(f'table.usage[data-source="{SOURCE}"] tbody tr').count()

    if not usage_rows():
        send_from_the_site(chromium, site, run)
    assert wait_until(lambda: usage_rows() >= 1, timeout=30)
    mtus = page.inner_text("#mtus")
    assert int(mtus.split()[0].replace(",", "")) >= 1, mtus
    page.wait_for_function("window.Chart && Chart.getChart('usage-chart')", timeout=10_000)
    browser_page.screenshot(artifacts, "console-usage")
