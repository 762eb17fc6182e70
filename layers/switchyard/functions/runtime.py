"""Running user functions: load the module, call its handlers within a time-out, map the outcomes.

The same code runs inside each function's own Lambda and in-process locally. The time-out is a
watchdog thread that raises `FunctionTimedOut` inside the running call (between bytecodes, so a
runaway loop stops; a call blocked in C returns first), and Lambda's own time-out backs it up.
"""

from __future__ import annotations

import ast
import ctypes
import heapq
import importlib.util
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

import orjson

from switchyard.functions import (
    DropEvent,
    EventNotSupported,
    InvalidEventPayload,
    RetryError,
    ValidationError,
    _emitted,
)
from switchyard.ingest.numbers import holds_out_of_range_integer, loses_integers

SOURCE, INSERT, DESTINATION = "source", "insert", "destination"
KINDS = (SOURCE, INSERT, DESTINATION)
EVENT_HANDLERS = ("on_track", "on_identify", "on_page", "on_screen", "on_group", "on_alias")
DELETE = "delete"  # a user-deletion request: `on_delete` of a destination function
HANDLERS = {
    SOURCE: ("on_request",),
    INSERT: (*EVENT_HANDLERS, "on_batch"),
    DESTINATION: (*EVENT_HANDLERS, "on_delete", "on_batch"),
}

OK, DROPPED, ERROR = "ok", "dropped", "error"
UNSUPPORTED = "unsupported_event_type"
REJECTED = "message_rejected"
RETRY = "retry"
TIMEOUT = "function_timeout"
BAD_REQUEST = "bad_request"
INVALID_OUTPUT = "invalid_function_output"  # a source function emitted what JSON cannot carry
RETRYABLE = frozenset({RETRY, TIMEOUT})


class FunctionTimedOut(BaseException):  # noqa: N818 - BaseException, so `except Exception` in user code cannot swallow it
    """Raised inside a call that outlived its time-out."""


@dataclass(slots=True)
class EventResult:
    status: str  # ok | dropped | error
    event: dict[str, Any] | None = None
    code: str = ""
    message: str = ""

    @property
    def retryable(self) -> bool:
        return self.status == ERROR and self.code in RETRYABLE

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "event": self.event, "code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventResult:
        return cls(data["status"], data.get("event"), data.get("code", ""), data.get("message", ""))


@dataclass
class SourceResult:
    messages: list[dict[str, Any]] = field(default_factory=list)
    code: str = ""  # empty when the function succeeded
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceResult:
        return cls(list(data.get("messages") or []), data.get("code", ""), data.get("message", ""))


def outcome_of(error: BaseException) -> str:
    """The outcome code of an exception, as the table in switchyard.functions says."""
    if isinstance(error, FunctionTimedOut):
        return TIMEOUT
    if isinstance(error, EventNotSupported):
        return UNSUPPORTED
    if isinstance(error, InvalidEventPayload | ValidationError):
        return REJECTED
    if isinstance(error, RetryError):
        return RETRY
    return BAD_REQUEST


def error_result(error: BaseException) -> EventResult:
    if isinstance(error, DropEvent):
        return EventResult(DROPPED, message=str(error))
    return EventResult(ERROR, code=outcome_of(error), message=f"{type(error).__name__}: {error}"[:1000])


class Watchdog:
    """One thread for every deadline: raises FunctionTimedOut in threads that overstay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._deadlines: list[tuple[float, int, int]] = []  # (deadline, token, thread id)
        self._active: set[int] = set()
        self._tokens = itertools.count()
        threading.Thread(target=self._run, name="function-watchdog", daemon=True).start()

    def arm(self, seconds: float) -> int:
        with self._lock:
            token = next(self._tokens)
            heapq.heappush(self._deadlines, (time.monotonic() + seconds, token, threading.get_ident()))
            self._active.add(token)
            self._wake.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._lock:
            self._active.discard(token)

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._deadlines and self._deadlines[0][1] not in self._active:
                    heapq.heappop(self._deadlines)
                if not self._deadlines:
                    self._wake.wait()
                    continue
                deadline, token, thread_id = self._deadlines[0]
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._wake.wait(remaining)
                    continue
                heapq.heappop(self._deadlines)
                self._active.discard(token)
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread_id), ctypes.py_object(FunctionTimedOut)
                )


_watchdog: Watchdog | None = None
_watchdog_lock = threading.Lock()


def watchdog() -> Watchdog:
    global _watchdog
    with _watchdog_lock:
        if _watchdog is None:
            _watchdog = Watchdog()
        return _watchdog


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """`call()`, stopped with FunctionTimedOut once `seconds` have passed."""
    token = watchdog().arm(seconds)
    try:
        return call()
    finally:
        watchdog().disarm(token)


_NOT_PARSED = object()


class Request:
    """What a source function's `on_request` gets: the webhook's HTTP request."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.method: str = data.get("method", "POST")
        self.url: str = data.get("url", "")
        self.headers: dict[str, str] = {key.lower(): value for key, value in (data.get("headers") or {}).items()}
        self.query: dict[str, str] = dict(data.get("query") or {})
        self.body: str = data.get("body") or ""
        # The pipeline parses a JSON body once, strictly, and sends the value along.
        self._json: Any = data.get("json", _NOT_PARSED)

    def json(self) -> Any:
        if self._json is _NOT_PARSED:
            self._json = strict_json(self.body)
        return self._json

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body, keep_blank_values=True))


def strict_json(text: str) -> Any:
    """JSON as the pipeline reads it (orjson): no NaN or Infinity, no integer rounded to a float."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidEventPayload(f"the request body is not JSON: {error}") from error
    if loses_integers(text.encode("utf-8"), value):
        raise InvalidEventPayload("the request body holds an integer beyond 64 bits")
    return value


def output_problem(value: Any) -> str | None:
    """Why what a function emitted cannot travel as JSON and come back unchanged, or None.

    Lambda's runtime serializes the answer with Python's json, which writes NaN (the pipeline's
    strict parser then refuses the whole answer) and fails on a datetime; orjson would round an
    integer beyond 64 bits. Each is the function's fault, so it is said here, per request.
    """
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:  # NaN or Infinity, a type JSON lacks, a cycle
        return f"what the function emitted is not JSON: {error}"
    if holds_out_of_range_integer(value):
        return "what the function emitted holds an integer beyond 64 bits"
    return None


def handler_names(source_code: str, filename: str) -> set[str]:
    """Top-level function names, after compiling (a SyntaxError names the file and line)."""
    tree = ast.parse(source_code, filename=filename)
    compile(tree, filename, "exec")
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def check_function_file(path: Path, kind: str) -> None:
    """Raise ValueError with a clear message if the file cannot serve as a function of this kind."""
    try:
        names = handler_names(path.read_text(encoding="utf-8"), str(path))
    except OSError as error:
        raise ValueError(f"{path}: cannot read the function file: {error}") from error
    except SyntaxError as error:
        raise ValueError(f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from error
    if not names & set(HANDLERS[kind]):
        raise ValueError(f"{path}: a {kind} function defines at least one of {', '.join(HANDLERS[kind])}")


def load_module(path: Path, name: str = "user_function") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed_out() -> EventResult:
    return EventResult(ERROR, code=TIMEOUT, message="the function timed out")


class FunctionRunner:
    """A loaded function module and the rules for calling it."""

    def __init__(self, module: ModuleType, kind: str, timeout_seconds: float) -> None:
        self.module = module
        self.kind = kind
        self.timeout_seconds = timeout_seconds

    def run_events(self, events: list[dict[str, Any]], settings: dict[str, Any]) -> list[EventResult]:
        """One result per event (insert: the event to deliver; destination: delivered or not).

        Delete events go to `on_delete` one by one even when the module has `on_batch`: Segment's
        onBatch never receives them, so a function written for Segment's handles them there.
        """
        deadline = time.monotonic() + self.timeout_seconds
        batch = getattr(self.module, "on_batch", None)
        if batch is None:
            return self._each(events, settings, deadline)
        deletes = [index for index, event in enumerate(events) if event.get("type") == DELETE]
        if not deletes:
            return self._whole_batch(batch, events, settings)
        results: dict[int, EventResult] = {}
        batched = [index for index, event in enumerate(events) if event.get("type") != DELETE]
        if batched:
            on_batch = self._whole_batch(batch, [events[i] for i in batched], settings)
            results.update(zip(batched, on_batch, strict=True))
        # Within what the batch left of the invocation's time.
        results.update(zip(deletes, self._each([events[i] for i in deletes], settings, deadline), strict=True))
        return [results[index] for index in range(len(events))]

    def _whole_batch(
        self, handler: Callable[..., Any], events: list[dict[str, Any]], settings: dict[str, Any]
    ) -> list[EventResult]:
        try:
            return self._batch(handler, events, settings)
        except FunctionTimedOut:  # raised just as the call returned: the time was up all the same
            return [_timed_out()] * len(events)

    def _each(self, events: list[dict[str, Any]], settings: dict[str, Any], deadline: float) -> list[EventResult]:
        """The events one by one, each to the handler of its type, until the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return [_timed_out()] * len(events)
        # One deadline for all of them, armed once (not per event: it costs more than a call).
        results: list[EventResult] = []
        token = watchdog().arm(remaining)
        try:
            for event in events:
                try:
                    results.append(self._one(event, settings, deadline))
                except FunctionTimedOut:  # landed between two calls
                    results.append(_timed_out())
        finally:
            watchdog().disarm(token)
        return results

    def _batch(
        self, handler: Callable[..., Any], events: list[dict[str, Any]], settings: dict[str, Any]
    ) -> list[EventResult]:
        try:
            returned = within(self.timeout_seconds, lambda: handler(events, settings))
        except BaseException as error:  # noqa: BLE001 - user code: every failure is an outcome
            if not isinstance(error, Exception | FunctionTimedOut):
                raise
            return [error_result(error)] * len(events)
        if returned is None:
            return [EventResult(OK, event if self.kind == INSERT else None) for event in events]
        if not isinstance(returned, list) or len(returned) != len(events):
            message = "on_batch must return None or a list with one item per event"
            return [EventResult(ERROR, code=BAD_REQUEST, message=message)] * len(events)
        if self.kind == INSERT:  # the common case first: a changed (or unchanged) event per input
            return [EventResult(OK, item) if type(item) is dict else self._batch_item(item) for item in returned]
        return [self._batch_item(item) for item in returned]

    def _batch_item(self, item: Any) -> EventResult:
        if isinstance(item, BaseException):
            return error_result(item)
        if self.kind == INSERT:
            if item is None:
                return EventResult(DROPPED, message="on_batch returned None for this event")
            if not isinstance(item, dict):
                return EventResult(ERROR, code=BAD_REQUEST, message="on_batch must return events (dicts)")
            return EventResult(OK, item)
        return EventResult(OK)

    def _one(self, event: dict[str, Any], settings: dict[str, Any], deadline: float) -> EventResult:
        if time.monotonic() >= deadline:
            return _timed_out()
        kind = event.get("type")
        handler = getattr(self.module, f"on_{kind}", None)
        if handler is None:
            return EventResult(ERROR, code=UNSUPPORTED, message=f"no on_{kind} handler")
        try:
            returned = handler(event, settings)
        except BaseException as error:  # noqa: BLE001 - user code: every failure is an outcome
            if not isinstance(error, Exception | FunctionTimedOut):
                raise
            return error_result(error)
        if self.kind == INSERT:
            if returned is None:
                return EventResult(OK, event)  # changed in place, or unchanged
            if not isinstance(returned, dict):
                return EventResult(ERROR, code=BAD_REQUEST, message="an insert function returns the event (a dict)")
            return EventResult(OK, returned)
        return EventResult(OK)

    def run_request(self, request: dict[str, Any], settings: dict[str, Any]) -> SourceResult:
        handler = getattr(self.module, "on_request", None)
        if handler is None:
            return SourceResult(code=UNSUPPORTED, message="no on_request handler")
        collected: list[dict[str, Any]] = []
        reset = _emitted.set(collected)
        try:
            within(self.timeout_seconds, lambda: handler(Request(request), settings))
        except BaseException as error:  # noqa: BLE001 - user code: every failure is an outcome
            if not isinstance(error, Exception | FunctionTimedOut):
                raise
            return SourceResult(code=outcome_of(error), message=f"{type(error).__name__}: {error}"[:1000])
        finally:
            _emitted.reset(reset)
        problem = output_problem(collected)
        if problem is not None:
            return SourceResult(code=INVALID_OUTPUT, message=problem)
        return SourceResult(messages=collected)
