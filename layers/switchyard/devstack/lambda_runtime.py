"""Loading the real Lambda handlers in-process and calling them as Lambda would."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: float = 15.0
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler_module(name: str, functions_dir: Path = FUNCTIONS_DIR) -> ModuleType:
    """Import `functions/<name>/handler.py` as a fresh module (its own globals, its own clients)."""
    path = functions_dir / name / "handler.py"
    spec = importlib.util.spec_from_file_location(f"switchyard_function_{name}_{uuid.uuid4().hex[:8]}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no Lambda handler at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class InvocationTimedOut(Exception):
    """The invocation outlived the function's time-out; Lambda reports it as a function error."""

    error_type = "Sandbox.Timedout"


class EnvironmentCrashed(Exception):
    """The execution environment's process exited during the invocation (Lambda: Runtime.ExitError)."""

    error_type = "Runtime.ExitError"


class InvocationFaults(Protocol):
    """Fault injection (the soak): which invocations lose their answer after the handler returned."""

    def crashes_after(self, function_name: str, event: Any, result: Any) -> bool: ...


class EnvironmentStopped(BaseException):
    """Raised inside a timed-out invocation's thread to stop it. A BaseException, so the
    handler's own `except Exception` blocks do not swallow it."""


class LocalFunction:
    """One Lambda function with up to `concurrency` execution environments.

    Each environment is its own import of the handler module (its own globals and clients) and
    serves one invocation at a time, as in Lambda; concurrent invocations use different ones.

    An invocation runs on a thread of its own and ends at the function's time-out, as in Lambda:
    the caller gets InvocationTimedOut (so an SQS batch comes back after its visibility time-out
    and a Kinesis batch is retried) and the environment is replaced by a fresh import, as Lambda
    replaces a timed-out one. Lambda freezes the timed-out sandbox; Python can only raise
    EnvironmentStopped in the abandoned thread, which takes effect at its next bytecode (a call
    blocked in C, such as a socket read, returns first), and threads the handler started run on.

    A handler that dies with a BaseException other than an Exception (the process exiting) and
    an invocation that `faults` crashes after its handler returned both end in EnvironmentCrashed
    and a fresh environment.
    """

    def __init__(
        self,
        name: str,
        timeout_seconds: float = 15.0,
        concurrency: int = 1,
        *,
        faults: InvocationFaults | None = None,
        functions_dir: Path = FUNCTIONS_DIR,
    ) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds
        self._functions_dir = functions_dir
        self._faults = faults
        self.invocations = 0  # every invocation (`make cost` counts them per event)
        self.timeouts = 0  # invocations that ran past the time-out
        self.crashes = 0  # invocations whose environment died
        self._setup: list[Callable[[ModuleType], None]] = []
        self._lock = threading.Lock()
        self._live: list[ModuleType] = []  # every environment, idle or serving
        self._environments: queue.Queue[ModuleType] = queue.Queue()  # the idle ones
        self._handler: Callable[[Any, LocalLambdaContext], Any] | None = None  # see serving()
        for _ in range(concurrency):
            self._environments.put(self._start_environment())

    def each_environment(self, action: Callable[[ModuleType], None]) -> None:
        """Apply `action` to every environment's module, and to every one started later
        (configuration: it should happen before first use)."""
        with self._lock:
            self._setup.append(action)
            for environment in self._live:
                action(environment)

    @contextlib.contextmanager
    def serving(self, handler: Callable[[Any, LocalLambdaContext], Any]) -> Iterator[None]:
        """Invocations call `handler` instead of the module's `lambda_handler` until the block ends:
        tests build a handler over collaborators of their own (a failing stream, a fixed clock)
        with the module's public factories, rather than changing a live object's internals."""
        self._handler = handler
        try:
            yield
        finally:
            self._handler = None

    @property
    def module(self) -> ModuleType:
        """One environment's module (for tests that inspect a handler)."""
        with self._lock:
            return self._live[0]

    def invoke(self, event: Any) -> Any:
        with self._lock:
            self.invocations += 1
        environment = self._environments.get()
        context = LocalLambdaContext(self.name, self.timeout_seconds)
        outcome: Future[Any] = Future()
        handler = self._handler or environment.lambda_handler
        worker = threading.Thread(
            target=_run, args=(handler, event, context, outcome), name=f"lambda-{self.name}", daemon=True
        )
        worker.start()
        worker.join(self.timeout_seconds)
        if worker.is_alive():
            _stop(worker)
            self._replace(environment, timed_out=True)
            raise InvocationTimedOut(
                f"{context.aws_request_id} Task timed out after {self.timeout_seconds:.2f} seconds"
            )
        error = outcome.exception()
        if error is not None and not isinstance(error, Exception):
            self._replace(environment)
            raise EnvironmentCrashed(f"{context.aws_request_id} the runtime exited: {error}") from error
        faults = self._faults
        if error is None and faults is not None and faults.crashes_after(self.name, event, outcome.result()):
            self._replace(environment)
            raise EnvironmentCrashed(f"{context.aws_request_id} the runtime exited after the handler returned")
        self._environments.put(environment)
        return outcome.result()

    def _start_environment(self) -> ModuleType:
        environment = load_handler_module(self.name, self._functions_dir)
        with self._lock:
            for action in self._setup:
                action(environment)
            self._live.append(environment)
        return environment

    def _replace(self, environment: ModuleType, *, timed_out: bool = False) -> None:
        with self._lock:
            self._live.remove(environment)
            if timed_out:
                self.timeouts += 1
            else:
                self.crashes += 1
        self._environments.put(self._start_environment())


def _run(
    handler: Callable[[Any, LocalLambdaContext], Any], event: Any, context: LocalLambdaContext, outcome: Future[Any]
) -> None:
    try:
        outcome.set_result(handler(event, context))
    except BaseException as error:  # noqa: BLE001 - handed to the invoking thread, as Lambda reports it
        outcome.set_exception(error)
    finally:
        _drop_unflushed_metrics()


def _stop(thread: threading.Thread) -> None:
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(EnvironmentStopped))


def _drop_unflushed_metrics() -> None:
    """With POWERTOOLS_METRICS_DISABLED, Powertools never clears what handlers recorded; in a
    long-running local process that would grow forever and leak dimensions between requests."""
    from aws_lambda_powertools import Metrics

    Metrics().clear_metrics()
