"""`type: function`: deliver by running the workspace's destination function (its own Lambda)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from switchyard.config.compiled import CompiledWorkspace, Destination, FunctionConfig
from switchyard.constants import USER_FUNCTION_LAMBDA_MARGIN_SECONDS
from switchyard.delivery.attempts import Attempt, AttemptStatus
from switchyard.destinations.driver import SendPlan
from switchyard.functions.runtime import ERROR, EventResult

# Events per invocation of a destination function (its on_batch gets them together).
FUNCTION_BATCH_SIZE = 50
FUNCTION_NOT_CONFIGURED = "function_not_configured"


class EventFunctions(Protocol):
    def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]: ...


class FunctionDestinationAdapter:
    def __init__(self, workspace: Callable[[], CompiledWorkspace], functions: EventFunctions) -> None:
        self._workspace = workspace
        self._functions = functions

    def plan(self, destination: Destination) -> SendPlan:
        """An invocation is bounded by the function's own time-out (plus Lambda's start), not cut at
        the batch's deadline: the deliverer only starts one that fits."""
        function = self._workspace().function(destination.function or "")
        seconds = (function.timeout_seconds if function else 0) + USER_FUNCTION_LAMBDA_MARGIN_SECONDS
        return SendPlan(FUNCTION_BATCH_SIZE, float(seconds), cut_at_deadline=False)

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
        function = self._workspace().function(destination.function or "")
        if function is None:
            return [Attempt(AttemptStatus.FINAL, FUNCTION_NOT_CONFIGURED, answered_at=time.time())] * len(events)
        results = self._functions.run_events(function, list(events))
        answered = time.time()
        request = {"function": function.id, "events": len(events)}
        attempts = []
        for result in results:
            if result.status != ERROR:
                attempts.append(Attempt(AttemptStatus.DELIVERED, "ok", request=request, answered_at=answered))
                continue
            status = AttemptStatus.RETRY if result.retryable else AttemptStatus.FINAL
            response = {"status": result.status, "code": result.code, "error": result.message}
            attempts.append(Attempt(status, result.code, request=request, response=response, answered_at=answered))
        return attempts
