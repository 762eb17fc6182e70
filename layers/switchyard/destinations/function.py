"""`type: function`: deliver by running the workspace's destination function (its own Lambda)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from switchyard.config.compiled import CompiledWorkspace, Destination, FunctionConfig
from switchyard.constants import USER_FUNCTION_LAMBDA_MARGIN_SECONDS
from switchyard.delivery.attempts import Attempt, AttemptStatus
from switchyard.destinations.base import DeletionAttempt
from switchyard.destinations.driver import OUT_OF_TIME, SendPlan
from switchyard.functions.runtime import DELETE, ERROR, EventResult

# Events per invocation of a destination function (its on_batch gets them together).
FUNCTION_BATCH_SIZE = 50
FUNCTION_NOT_CONFIGURED = "function_not_configured"
OK_CODE = "ok"


class EventFunctions(Protocol):
    def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]: ...


class FunctionDestinationAdapter:
    def __init__(
        self,
        workspace: Callable[[], CompiledWorkspace],
        functions: EventFunctions,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._workspace = workspace
        self._functions = functions
        self._clock = clock
        self._monotonic = monotonic

    @property
    def supports_deletion(self) -> bool:
        """A function may define `on_delete`; one that does not answers `unsupported_event_type`."""
        return True

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
                attempts.append(Attempt(AttemptStatus.DELIVERED, OK_CODE, request=request, answered_at=answered))
                continue
            status = AttemptStatus.RETRY if result.retryable else AttemptStatus.FINAL
            response = {"status": result.status, "code": result.code, "error": result.message}
            attempts.append(Attempt(status, result.code, request=request, response=response, answered_at=answered))
        return attempts

    def delete_users(self, destination: Destination, user_ids: Sequence[str], deadline: float) -> list[DeletionAttempt]:
        """One delete event per userId, in invocations of `FUNCTION_BATCH_SIZE`, each to the function's
        `on_delete` (as Segment's user deletion calls onDelete); one attempt per userId."""
        function = self._workspace().function(destination.function or "")
        if function is None:
            response = {"error": f"no function {destination.function!r} in the workspace"}
            return [
                DeletionAttempt((user_id,), AttemptStatus.FINAL, FUNCTION_NOT_CONFIGURED, {}, response)
                for user_id in user_ids
            ]
        # An invocation runs to its own time-out: one is only started if that fits before the deadline.
        seconds = function.timeout_seconds + USER_FUNCTION_LAMBDA_MARGIN_SECONDS
        attempts: list[DeletionAttempt] = []
        for start in range(0, len(user_ids), FUNCTION_BATCH_SIZE):
            chunk = user_ids[start : start + FUNCTION_BATCH_SIZE]
            if deadline - self._monotonic() < seconds:
                attempts.extend(
                    DeletionAttempt((user_id,), AttemptStatus.RETRY, OUT_OF_TIME, {}, {})
                    for user_id in user_ids[start:]
                )
                break
            events = [delete_event(user_id, self._clock()) for user_id in chunk]
            results = self._functions.run_events(function, events)
            for event, result in zip(events, results, strict=True):
                attempts.append(_deletion_attempt(function.id, event, result))
        return attempts


def delete_event(user_id: str, now: float) -> dict[str, Any]:
    """Segment's delete event, as a destination function's onDelete receives it."""
    timestamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": DELETE, "userId": user_id, "messageId": str(uuid.uuid4()), "timestamp": timestamp, "context": {}}


def _deletion_attempt(function_id: str, event: dict[str, Any], result: EventResult) -> DeletionAttempt:
    user_ids = (event["userId"],)
    request = {"function": function_id, "event": event}
    if result.status != ERROR:
        return DeletionAttempt(user_ids, AttemptStatus.DELIVERED, OK_CODE, request, {"status": result.status})
    status = AttemptStatus.RETRY if result.retryable else AttemptStatus.FINAL
    response = {"status": result.status, "code": result.code, "error": result.message}
    return DeletionAttempt(user_ids, status, result.code, request, response)
