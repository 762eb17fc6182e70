"""The deletion's calls to the destinations: every destination of the workspace (enabled or not,
since a disabled one may hold data from before) whose tool has a user-deletion API, or whose
destination function may define `on_delete`, is asked to delete the userIds.

A throttled or failing call is tried again within the finish step's time (at most `MAX_ATTEMPTS`,
honouring `Retry-After`); what still fails is recorded as failed, and the deletion is INCOMPLETE:
running it again repeats the calls, which the tools treat as idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from switchyard.config.compiled import CompiledWorkspace, Destination
from switchyard.delivery.attempts import AttemptStatus
from switchyard.destinations.base import DeletionAttempt
from switchyard.destinations.driver import DELETION_NOT_CONFIGURED
from switchyard.functions.runtime import UNSUPPORTED as NO_DELETE_HANDLER

MAX_ATTEMPTS = 4
FIRST_BACKOFF_SECONDS = 2.0
MAX_WAIT_SECONDS = 60.0


class DeletionAdapter(Protocol):
    @property
    def supports_deletion(self) -> bool: ...

    def delete_users(
        self, destination: Destination, user_ids: Sequence[str], deadline: float
    ) -> list[DeletionAttempt]: ...


class DestinationOutcome(StrEnum):
    ACCEPTED = "accepted"  # the tool took every delete request (most delete asynchronously, within days)
    FAILED = "failed"  # refused, or still failing after the retries: run the deletion again
    NOT_CONFIGURED = "not_configured"  # the tool could delete with a setting this destination lacks
    NOT_SUPPORTED = "not_supported"  # no deletion API (or no `on_delete`): delete there by hand
    NOTHING_TO_DELETE = "nothing_to_delete"  # only anonymousIds were named; tools delete by userId


@dataclass
class DestinationDeletion:
    destination: str
    type: str
    outcome: DestinationOutcome
    attempts: int = 0
    answers: list[dict[str, Any]] = field(default_factory=list)  # the last answer per request

    def to_record(self) -> dict[str, Any]:
        return asdict(self) | {"outcome": self.outcome.value}


class DestinationDeletions:
    def __init__(
        self,
        adapters: Mapping[str, DeletionAdapter],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._adapters = adapters
        self._clock = clock
        self._sleep = sleep

    def delete(
        self, workspace: CompiledWorkspace, user_ids: Sequence[str], deadline: float
    ) -> list[DestinationDeletion]:
        return [self._delete_at(destination, user_ids, deadline) for destination in workspace.destinations]

    def _delete_at(self, destination: Destination, user_ids: Sequence[str], deadline: float) -> DestinationDeletion:
        adapter = self._adapters.get(destination.type)
        if adapter is None or not adapter.supports_deletion:
            return DestinationDeletion(destination.id, destination.type, DestinationOutcome.NOT_SUPPORTED)
        if not user_ids:
            return DestinationDeletion(destination.id, destination.type, DestinationOutcome.NOTHING_TO_DELETE)
        result = DestinationDeletion(destination.id, destination.type, DestinationOutcome.FAILED)
        pending = list(user_ids)
        settled: list[DeletionAttempt] = []
        retry: list[DeletionAttempt] = []
        wait = FIRST_BACKOFF_SECONDS
        for _ in range(MAX_ATTEMPTS):
            if self._clock() >= deadline:
                retry = [DeletionAttempt(tuple(pending), AttemptStatus.RETRY, "out_of_time", {}, {})]
                break
            result.attempts += 1
            answers = adapter.delete_users(destination, pending, deadline)
            settled += [answer for answer in answers if answer.status is not AttemptStatus.RETRY]
            retry = [answer for answer in answers if answer.status is AttemptStatus.RETRY]
            pending = [user_id for answer in retry for user_id in answer.user_ids]
            if not pending:
                break
            if result.attempts < MAX_ATTEMPTS:
                asked = max((answer.retry_after or 0.0 for answer in retry), default=0.0)
                self._sleep(min(MAX_WAIT_SECONDS, max(wait, asked), max(0.0, deadline - self._clock())))
                wait *= 2
        settled += retry  # still failing after the last attempt, or out of time
        result.answers = [_answer(attempt) for attempt in settled]
        result.outcome = _outcome(settled)
        return result


def _outcome(settled: list[DeletionAttempt]) -> DestinationOutcome:
    codes = {attempt.code for attempt in settled}
    if settled and all(attempt.status is AttemptStatus.DELIVERED for attempt in settled):
        return DestinationOutcome.ACCEPTED
    if codes == {NO_DELETE_HANDLER}:
        return DestinationOutcome.NOT_SUPPORTED
    if DELETION_NOT_CONFIGURED in codes and all(
        attempt.status is AttemptStatus.DELIVERED or attempt.code == DELETION_NOT_CONFIGURED for attempt in settled
    ):
        return DestinationOutcome.NOT_CONFIGURED
    return DestinationOutcome.FAILED


def _answer(attempt: DeletionAttempt) -> dict[str, Any]:
    return {
        "user_ids": list(attempt.user_ids),
        "status": attempt.status.value,
        "code": attempt.code,
        "request": attempt.request,
        "response": attempt.response,
    }
