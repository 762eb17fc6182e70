"""Destination functions (`type: function`): deliver a batch by running the user's function."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from switchyard.config.compiled import CompiledWorkspace, Destination, FunctionConfig
from switchyard.delivery.attempts import DELIVERED, FINAL, RETRY, Attempt
from switchyard.functions.runtime import ERROR, EventResult


class EventFunctions(Protocol):
    def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]: ...


class FunctionDestinationAdapter:
    def __init__(self, workspace: Callable[[], CompiledWorkspace], functions: EventFunctions) -> None:
        self._workspace = workspace
        self._functions = functions

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
        """`deadline` is not needed: the invocation is bounded by the function's own time-out, which
        the deliverer counts in before it starts an attempt."""
        function = self._workspace().function(destination.function or "")
        if function is None:
            return [Attempt(FINAL, "function_not_configured", answered_at=time.time())] * len(events)
        results = self._functions.run_events(function, list(events))
        answered = time.time()
        request = {"function": function.id, "events": len(events)}
        attempts = []
        for result in results:
            if result.status != ERROR:
                attempts.append(Attempt(DELIVERED, "ok", request=request, answered_at=answered))
                continue
            status = RETRY if result.retryable else FINAL
            response = {"status": result.status, "code": result.code, "error": result.message}
            attempts.append(Attempt(status, result.code, request=request, response=response, answered_at=answered))
        return attempts
