"""`switchyard dev` as a user runs it (what `make run` starts): banner, events flowing, Ctrl-C."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

# What each tool's stand-in is asked after an identify, then a track (Signed Up) and a group: the
# adapters' requests, chained steps included (Intercom's contact search, then its creation).
EXPECTED_TOOL_REQUESTS = {
    "braze": ["POST /braze/users/track"],
    "customerio": ["POST /customerio/api/v2/batch"],
    "hubspot": [
        "POST /hubspot/crm/v3/objects/contacts/batch/upsert",
        "POST /hubspot/events/v3/send/batch",
        "POST /hubspot/crm/v3/objects/companies/batch/upsert",
    ],
    "intercom": [
        "POST /intercom/contacts/search",
        "POST /intercom/contacts ",
        "POST /intercom/events",
        "POST /intercom/companies",
    ],
    "klaviyo": ["POST /klaviyo/api/profile-import", "POST /klaviyo/api/events"],
    "facebook": ["POST /facebook/v"],
    "slack": ["POST /slack/services/"],
}


def test_switchyard_dev_delivers_to_the_demo_receiver_and_stops_on_ctrl_c(repo_root: Path, tmp_path: Path):
    api, aws, receiver, console = free_port(), free_port(), free_port(), free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        (repo_root / "examples" / "workspace.yaml")
        .read_text()
        .replace("http://127.0.0.1:9000", f"http://127.0.0.1:{receiver}")
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "switchyard.cli.main",
            "dev",
            "--config",
            str(workspace),
            "--port",
            str(api),
            "--aws-port",
            str(aws),
            "--demo-receiver",
            str(receiver),
            "--console-port",
            str(console),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=repo_root,
    )
    try:
        output = Output(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl-C stops it" in line for line in output.seen):
            output.line(deadline)
        banner = "".join(output.seen)
        assert f"tracking API   http://127.0.0.1:{api}" in banner
        assert f"AWS_ENDPOINT_URL=http://127.0.0.1:{aws}" in banner
        assert "write key: wk_demo_web_123" in banner and "curl -u wk_demo_web_123:" in banner
        response = requests.post(
            f"http://127.0.0.1:{api}/v1/track",
            auth=("wk_demo_web_123", ""),
            json={"userId": "dev-1", "event": "Signed Up"},
            timeout=10,
        )
        assert response.json() == {"success": True}
        assert f"console        http://127.0.0.1:{console}" in banner
        page = requests.get(f"http://127.0.0.1:{console}/sources", timeout=10)
        assert page.status_code == 200 and 'href="/sources/web"' in page.text
        printed: list[str] = []  # the webhook's event, and PostHog's item for it
        while time.monotonic() < deadline and len(printed) < 2:
            line = output.line(deadline)
            if line.startswith("[receiver]"):
                printed.append(line)
        webhook = next((line for line in printed if "[receiver] track" in line), "")
        assert "Signed Up" in webhook and "user=dev-1" in webhook, printed
        posthog = next((line for line in printed if "[receiver] /batch/" in line), "")
        assert "Signed Up" in posthog and "distinct_id=dev-1" in posthog, printed
        tools = tool_requests(output, api, deadline)
        assert tools.keys() == EXPECTED_TOOL_REQUESTS.keys(), tools
        for tool, expected in EXPECTED_TOOL_REQUESTS.items():
            assert all(any(path in line for line in tools[tool]) for path in expected), (tool, tools[tool])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "stopping the local stack" in output.rest(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()


class Output:
    """The process's output, line by line, read by a thread: waiting for a line ends at a deadline
    (a blocking readline would wait for ever on a process that printed nothing more)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        stream = process.stdout
        threading.Thread(target=lambda: [self._lines.put(line) for line in stream], daemon=True).start()

    def line(self, deadline: float) -> str:
        """The next line, or "" once the deadline has passed."""
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return ""
        self.seen.append(line)
        return line

    def rest(self, timeout: float) -> str:
        return "".join(iter(lambda: self.line(time.monotonic() + timeout), ""))


def tool_requests(output: Output, api: int, deadline: float) -> dict[str, list[str]]:
    """Sends an identify, then (once Intercom's stand-in has created the contact) a track and a
    group; returns the lines each tool's stand-in printed until all expected requests arrived."""
    user = {"userId": "dev-2", "context": {"traits": {"email": "dev-2@example.com"}}}

    def post(call: str, body: dict[str, Any]) -> None:
        url = f"http://127.0.0.1:{api}/v1/{call}"
        requests.post(url, auth=("wk_demo_web_123", ""), json={**user, **body}, timeout=10).raise_for_status()

    post("identify", {"traits": {"email": "dev-2@example.com", "firstName": "Dev", "plan": "pro"}})
    seen: dict[str, list[str]] = {}

    def arrived(tool: str, path: str) -> bool:
        return any(path in line for line in seen.get(tool, []))

    sent_the_rest = False
    while time.monotonic() < deadline:
        if not sent_the_rest and arrived("intercom", "POST /intercom/contacts "):
            post("track", {"event": "Signed Up", "properties": {"plan": "pro"}})
            post("group", {"groupId": "acme", "traits": {"name": "Acme"}})
            sent_the_rest = True
        if all(arrived(tool, path) for tool, paths in EXPECTED_TOOL_REQUESTS.items() for path in paths):
            break
        line = output.line(deadline)
        tool = line[1 : line.find("]")] if line.startswith("[") else ""
        if tool in EXPECTED_TOOL_REQUESTS:
            seen.setdefault(tool, []).append(line)
    return seen
