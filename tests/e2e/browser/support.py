"""Headless Chromium for end-to-end tests: Debian's `chromium` (installed by `make chromium`, which
`make test` runs) driven by Playwright (pinned in pyproject.toml), which is handed that executable
and never downloads a browser of its own.

Fixtures, made available to every end-to-end test by tests/e2e/conftest.py:
- `chromium`: the browser, launched once per session.
- `browser_page`: a new context and page per test; it records what the page printed and every request
  it made, and refuses any that would leave this machine (so a library falling back to a public
  CDN shows as a refused request instead of reaching it).
- `artifacts`: the folder that screenshots are kept in, tests/e2e/artifacts/ (git-ignored);
  `BrowserPage.screenshot(artifacts, name)` saves one there and prints its path.

`StaticSite` serves a folder of pages on a port of its own, so a page calling the API is cross-origin
(CORS and its preflights are real).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
INSTALL_SECONDS = 900


def chromium_executable() -> str:
    """Debian's chromium; installed with `make chromium` if missing. Skips only if that fails."""
    found = shutil.which("chromium")
    if found is None:
        installing = subprocess.run(
            ["make", "-s", "chromium"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,  # a sudo that wants a password fails instead of waiting
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
            check=False,
        )
        found = shutil.which("chromium")
        if found is None:
            pytest.skip(
                f"chromium is not installed and `make chromium` could not install it: {installing.stderr[-500:]}"
            )
    return found


@dataclass
class BrowserPage:
    """A page and what it did: console lines, requests (method, URL), responses, failed requests
    (method, URL, reason) and refused off-machine requests (URL)."""

    page: Any
    console: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)

    def screenshot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright  # the driver only where a browser test runs

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[BrowserPage]:
    context = chromium.new_context(viewport={"width": 1100, "height": 700})
    recorded = BrowserPage(context.new_page())

    def only_this_machine(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            recorded.refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_machine)
    recorded.page.on("console", lambda message: recorded.console.append(f"{message.type}: {message.text}"))
    recorded.page.on("request", lambda request: recorded.requests.append((request.method, request.url)))
    recorded.page.on("response", lambda response: recorded.responses.append(response))
    recorded.page.on(
        "requestfailed", lambda request: recorded.failed.append((request.method, request.url, request.failure or ""))
    )
    yield recorded
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class StaticSite:
    """`directory` on 127.0.0.1 (a free port); `{{name}}` in its .html files is replaced by `values[name]`."""

    def __init__(self, directory: Path, values: Mapping[str, str]) -> None:
        handler = functools.partial(_TemplatedFiles, directory=str(directory), values=dict(values))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="static-site", daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StaticSite:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _TemplatedFiles(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, values: dict[str, str], **kwargs: Any) -> None:
        self.values = values
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if path.suffix != ".html" or not path.is_file():
            super().do_GET()
            return
        text = path.read_text()
        for name, value in self.values.items():
            text = text.replace("{{" + name + "}}", value)
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass
