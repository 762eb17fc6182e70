"""The local Lambda runtime: handlers run as Lambda runs them, time-out included."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from switchyard.devstack.lambda_runtime import EnvironmentCrashed, InvocationTimedOut, LocalFunction

HANDLER = """
import time

calls = []
finished = []
label = None


def lambda_handler(event, context):
    calls.append(event)
    time.sleep(event.get("sleep", 0))
    spin_until = time.monotonic() + event.get("spin", 0)
    while time.monotonic() < spin_until:
        pass
    finished.append(event)
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("exit"):
        raise SystemExit("the process exits")
    return {"label": label, "calls": len(calls)}
"""


@pytest.fixture
def functions_dir(tmp_path: Path) -> Path:
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "handler.py").write_text(HANDLER)
    return tmp_path


def test_an_invocation_returns_the_handlers_answer_or_raises_its_error(functions_dir: Path):
    function = LocalFunction("echo", timeout_seconds=5, functions_dir=functions_dir)
    assert function.invoke({}) == {"label": None, "calls": 1}
    with pytest.raises(ValueError, match="asked to fail"):
        function.invoke({"fail": True})
    assert function.invoke({}) == {"label": None, "calls": 3}, "the same environment serves again"


def test_an_invocation_past_the_time_out_fails_and_its_environment_is_replaced(functions_dir: Path):
    # Given: a function configured before use, with a 0.3 s time-out
    function = LocalFunction("echo", timeout_seconds=0.3, functions_dir=functions_dir)
    function.each_environment(lambda module: setattr(module, "label", "configured"))
    first = function.module

    # When: the handler takes longer than that
    started = time.monotonic()
    with pytest.raises(InvocationTimedOut, match=r"Task timed out after 0\.30 seconds"):
        function.invoke({"sleep": 2})

    # Then: the caller learns at the time-out, and a fresh, configured environment serves next
    assert time.monotonic() - started < 1.5
    assert function.module is not first
    assert function.invoke({}) == {"label": "configured", "calls": 1}
    assert InvocationTimedOut.error_type == "Sandbox.Timedout"


def test_configuration_reaches_every_environment(functions_dir: Path):
    function = LocalFunction("echo", timeout_seconds=5, concurrency=3, functions_dir=functions_dir)
    seen = []
    function.each_environment(seen.append)
    assert len({id(module) for module in seen}) == 3


def test_a_timed_out_invocation_is_stopped_not_left_running(functions_dir: Path):
    function = LocalFunction("echo", timeout_seconds=0.2, functions_dir=functions_dir)
    abandoned = function.module
    with pytest.raises(InvocationTimedOut):
        function.invoke({"spin": 1.0})
    time.sleep(1.2)
    assert abandoned.calls and not abandoned.finished, "stopped where it was, as Lambda stops a sandbox"


def test_a_process_exit_in_the_handler_is_a_crashed_environment(functions_dir: Path):
    function = LocalFunction("echo", timeout_seconds=5, functions_dir=functions_dir)
    first = function.module
    with pytest.raises(EnvironmentCrashed, match="the process exits"):
        function.invoke({"exit": True})
    assert function.module is not first
    assert function.invoke({}) == {"label": None, "calls": 1}


class CrashFirst:
    def __init__(self) -> None:
        self.seen: list[tuple[str, object, object]] = []

    def crashes_after(self, function_name: str, event: object, result: object) -> bool:
        self.seen.append((function_name, event, result))
        return len(self.seen) == 1


def test_an_environment_crashing_after_its_handler_returned_loses_the_answer_not_the_work(functions_dir: Path):
    faults = CrashFirst()
    function = LocalFunction("echo", timeout_seconds=5, faults=faults, functions_dir=functions_dir)
    first = function.module
    with pytest.raises(EnvironmentCrashed):
        function.invoke({"n": 1})
    assert first.finished == [{"n": 1}], "the handler did its work"
    assert function.invoke({"n": 2}) == {"label": None, "calls": 1}
    assert faults.seen[0] == ("echo", {"n": 1}, {"label": None, "calls": 1})
