"""`switchyard dev` as a user runs it (what `make run` starts): banner, events flowing, Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e


def test_switchyard_dev_delivers_to_the_demo_receiver_and_stops_on_ctrl_c(repo_root: Path, tmp_path: Path):
    api, aws, receiver = free_port(), free_port(), free_port()
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=repo_root,
    )
    try:
        lines: list[str] = []
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl-C stops it" in line for line in lines):
            lines.append(process.stdout.readline())
        banner = "".join(lines)
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
        printed: list[str] = []  # the webhook's event, and PostHog's item for it
        while time.monotonic() < deadline and len(printed) < 2:
            line = process.stdout.readline()
            if line.startswith("[receiver]"):
                printed.append(line)
        webhook = next((line for line in printed if "[receiver] track" in line), "")
        assert "Signed Up" in webhook and "user=dev-1" in webhook, printed
        posthog = next((line for line in printed if "[receiver] /batch/" in line), "")
        assert "Signed Up" in posthog and "distinct_id=dev-1" in posthog, printed
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "stopping the local stack" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
