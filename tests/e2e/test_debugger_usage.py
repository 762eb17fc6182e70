"""The Source Debugger and usage through the shared local stack (its sources:
tests/e2e/tools/debugger.yaml): calls sent with the real Segment SDK show in `switchyard debugger`
(by name too), searchable, filtered by type, pretty and raw, without the write key; `--follow`
prints a new call as it arrives and Ctrl-C ends it with 130; `switchyard usage` counts the calls,
events and MTUs (a user, and an anonymousId never tied to one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import orjson
import pytest
from segment.analytics import Client as SegmentClient

from switchyard.cli.main import main
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import wait_until
from tests.support.segment_sdk import send_with_sdk

pytestmark = pytest.mark.e2e

WEB_KEY, APP_KEY = "wk_e2e_dbg_web_01", "wk_e2e_dbg_app_01"  # tests/e2e/tools/debugger.yaml
SWITCHYARD = Path(sys.executable).with_name("switchyard")


def cli(stack: LocalStack, capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main([*arguments, "--endpoint-url", stack.aws_endpoint])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_debugger_shows_a_sources_latest_calls_and_usage_counts_them(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    run = uuid.uuid4().hex[:8]
    user, visitor, browser = f"user-{run}", f"visitor-{run}", f"browser-{run}"

    def calls(client: SegmentClient) -> None:
        client.identify(user, {"plan": "pro"}, anonymous_id=browser)
        client.track(user, "Order Completed", {"revenue": 42.5, "coupon": f"SPRING-{run}"})
        client.page(anonymous_id=visitor, name="Pricing", properties={"run": run})
        client.track(anonymous_id=browser, event="Viewed Cart", properties={"run": run})

    send_with_sdk(local_stack, WEB_KEY, calls)

    def shown() -> str:
        code, out, err = cli(local_stack, capsys, "debugger", "Debugger web", "--limit", "50")
        assert code == 0, err
        return out if out.count(run) >= 4 else ""

    pretty = wait_until(shown, timeout=60)
    assert pretty.startswith("dbgweb (Debugger web): 4 of the latest 4 message(s), newest last; sampled: every message")
    lines = [line for line in pretty.splitlines() if line and not line.startswith(" ")]
    # One line per call (then its JSON); calls of different users may come from different shards,
    # so their order is the order the router wrote them in.
    assert sorted(line.split()[1:3] for line in lines[1:]) == [
        ["identify", user],
        ["page", "Pricing"],
        ["track", "Order"],
        ["track", "Viewed"],
    ]
    assert f'"coupon": "SPRING-{run}"' in pretty

    code, out, _ = cli(local_stack, capsys, "debugger", "dbgweb", "--search", f"spring-{run}", "--raw")
    [found] = [orjson.loads(line) for line in out.splitlines()]
    assert (code, found["event"], found["properties"]["revenue"]) == (0, "Order Completed", 42.5)
    assert "writeKey" not in found and WEB_KEY not in out

    code, out, _ = cli(local_stack, capsys, "debugger", "dbgweb", "--type", "track", "--raw")
    assert code == 0
    assert sorted(orjson.loads(line)["event"] for line in out.splitlines()) == ["Order Completed", "Viewed Cart"]

    code, out, err = cli(local_stack, capsys, "usage", "--source", "dbgweb")
    assert code == 0, err
    month_line = next(line for line in out.splitlines() if line.strip().startswith("month"))
    assert month_line.split()[1:3] == ["4", "4"]  # API calls, events
    # The user (browser- was tied to them by the identify) and the visitor who never logged in.
    assert "MTUs 2 (exact): 1 userIds + 1 anonymousIds never tied to one" in out


def test_follow_prints_new_calls_as_they_arrive_and_ctrl_c_exits_130(local_stack: LocalStack) -> None:
    run = uuid.uuid4().hex[:8]
    process = subprocess.Popen(
        [str(SWITCHYARD), "debugger", "dbgapp", "--follow", "--raw", "--endpoint-url", local_stack.aws_endpoint],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: process.poll() is None and process.stderr is not None, timeout=10)

        def arrived() -> bool:
            send_with_sdk(local_stack, APP_KEY, lambda client: client.track(f"app-{run}", "Opened App", {"run": run}))
            return wait_until(lambda: any(run in line for line in lines), timeout=5)

        assert wait_until(arrived, timeout=60, interval=0)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 130
    assert "Traceback" not in process.stderr.read()
    assert orjson.loads(next(line for line in lines if run in line))["event"] == "Opened App"
