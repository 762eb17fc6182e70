"""Loading the real Lambda handlers in-process and calling them as Lambda would."""

from __future__ import annotations

import importlib.util
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

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


class LocalFunction:
    """One Lambda function with up to `concurrency` execution environments.

    Each environment is its own import of the handler module (its own globals and clients) and
    serves one invocation at a time, as in Lambda; concurrent invocations use different ones.
    """

    def __init__(self, name: str, timeout_seconds: float = 15.0, concurrency: int = 1) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds
        self._environments: queue.Queue[ModuleType] = queue.Queue()
        for _ in range(concurrency):
            self._environments.put(load_handler_module(name))

    def each_environment(self, action: Callable[[ModuleType], None]) -> None:
        """Apply `action` to every environment's module (configuration before first use)."""
        for environment in list(self._environments.queue):
            action(environment)

    @property
    def module(self) -> ModuleType:
        """One environment's module (for tests that inspect or inject into a handler)."""
        return self._environments.queue[0]

    def invoke(self, event: Any) -> Any:
        environment = self._environments.get()
        try:
            return environment.lambda_handler(event, LocalLambdaContext(self.name, self.timeout_seconds))
        finally:
            _drop_unflushed_metrics()
            self._environments.put(environment)


def _drop_unflushed_metrics() -> None:
    """With POWERTOOLS_METRICS_DISABLED, Powertools never clears what handlers recorded; in a
    long-running local process that would grow forever and leak dimensions between requests."""
    from aws_lambda_powertools import Metrics

    Metrics().clear_metrics()
