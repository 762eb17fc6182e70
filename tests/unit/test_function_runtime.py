"""The function runtime: outcomes of each error class, on_batch semantics, time-outs, source emitters."""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import pytest

from switchyard.functions import track
from switchyard.functions.runtime import (
    BAD_REQUEST,
    DROPPED,
    ERROR,
    OK,
    REJECTED,
    RETRY,
    TIMEOUT,
    UNSUPPORTED,
    FunctionRunner,
    check_function_file,
    load_module,
)

INSERT = """
from switchyard.functions import (DropEvent, EventNotSupported, InvalidEventPayload, RetryError,
                                  ValidationError)

def on_track(event, settings):
    name = event["event"]
    if name == "drop": raise DropEvent("no")
    if name == "unsupported": raise EventNotSupported("no")
    if name == "invalid": raise InvalidEventPayload("no")
    if name == "validation": raise ValidationError("no")
    if name == "retry": raise RetryError("later")
    if name == "crash": raise KeyError("boom")
    if name == "loop":
        while True:
            pass
    if name == "swallow":
        try:
            while True:
                pass
        except Exception:
            return event
    event["seen"] = settings["mark"]
    return event
"""


def module_from(tmp_path: Path, code: str) -> ModuleType:
    path = tmp_path / "fn.py"
    path.write_text(code)
    return load_module(path)


def track_event(name: str) -> dict:
    return {"type": "track", "event": name, "messageId": name}


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("ok", OK, ""),
        ("drop", DROPPED, ""),
        ("unsupported", ERROR, UNSUPPORTED),
        ("invalid", ERROR, REJECTED),
        ("validation", ERROR, REJECTED),
        ("retry", ERROR, RETRY),
        ("crash", ERROR, BAD_REQUEST),
    ],
)
def test_each_error_class_has_its_outcome(tmp_path: Path, name: str, status: str, code: str):
    runner = FunctionRunner(module_from(tmp_path, INSERT), "insert", 2)
    [result] = runner.run_events([track_event(name)], {"mark": "x"})
    assert (result.status, result.code) == (status, code)
    if status == OK:
        assert result.event["seen"] == "x"


def test_a_missing_handler_is_unsupported(tmp_path: Path):
    runner = FunctionRunner(module_from(tmp_path, INSERT), "insert", 2)
    [result] = runner.run_events([{"type": "page"}], {})
    assert (result.status, result.code) == (ERROR, UNSUPPORTED)


@pytest.mark.parametrize("name", ["loop", "swallow"])
def test_a_runaway_call_is_stopped_at_its_time_out_and_the_rest_times_out_too(tmp_path: Path, name: str):
    runner = FunctionRunner(module_from(tmp_path, INSERT), "insert", 0.3)
    started = time.monotonic()
    results = runner.run_events([track_event(name), track_event("ok")], {"mark": "x"})
    assert time.monotonic() - started < 2
    assert [result.code for result in results] == [TIMEOUT, TIMEOUT], "retryable: the batch comes back"


def test_on_batch_may_answer_per_event(tmp_path: Path):
    code = """
from switchyard.functions import RetryError
def on_batch(events, settings):
    return [None if e["event"] == "drop" else RetryError("x") if e["event"] == "retry" else {**e, "b": 1}
            for e in events]
"""
    runner = FunctionRunner(module_from(tmp_path, code), "insert", 2)
    results = runner.run_events([track_event("a"), track_event("drop"), track_event("retry")], {})
    assert [(r.status, r.code) for r in results] == [(OK, ""), (DROPPED, ""), (ERROR, RETRY)]
    assert results[0].event["b"] == 1


def test_on_batch_raising_fails_the_whole_batch(tmp_path: Path):
    code = "from switchyard.functions import RetryError\ndef on_batch(events, settings):\n    raise RetryError('x')\n"
    runner = FunctionRunner(module_from(tmp_path, code), "destination", 2)
    assert [r.code for r in runner.run_events([track_event("a"), track_event("b")], {})] == [RETRY, RETRY]


def test_a_source_function_emits_messages(tmp_path: Path):
    code = """
from switchyard.functions import identify, track
def on_request(request, settings):
    body = request.json()
    identify(user_id=body["id"], traits={"plan": settings["plan"]})
    track(user_id=body["id"], event="Paid", anonymous_id=None)
"""
    runner = FunctionRunner(module_from(tmp_path, code), "source", 2)
    result = runner.run_request(
        {"body": '{"id": "c1"}', "headers": {"Content-Type": "application/json"}}, {"plan": "pro"}
    )
    assert result.code == ""
    assert result.messages == [
        {"userId": "c1", "traits": {"plan": "pro"}, "type": "identify"},
        {"userId": "c1", "event": "Paid", "type": "track"},
    ]


def test_a_source_function_with_a_bad_body_is_rejected(tmp_path: Path):
    code = "def on_request(request, settings):\n    request.json()\n"
    runner = FunctionRunner(module_from(tmp_path, code), "source", 2)
    assert runner.run_request({"body": "not json"}, {}).code == REJECTED


def test_emitters_only_work_inside_a_source_function():
    with pytest.raises(RuntimeError, match="only be called from a source function"):
        track(user_id="u", event="E")


def test_function_files_are_checked_without_running_them(tmp_path: Path):
    path = tmp_path / "fn.py"
    path.write_text("raise SystemExit('never run at apply')\ndef on_track(event, settings):\n    return event\n")
    check_function_file(path, "insert")
    with pytest.raises(ValueError, match="defines at least one of on_request"):
        check_function_file(path, "source")
    path.write_text("def on_track(event, settings)\n    return event\n")
    with pytest.raises(ValueError, match=r"fn.py:1: syntax error"):
        check_function_file(path, "insert")
