"""Fakes for the deliverer's collaborators (adapter, rate limiter, dead letters, stats, clock),
and a deliverer built from them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from switchyard.config.compiled import (
    CompiledWorkspace,
    Destination,
    FunctionConfig,
    PrivacySettings,
    RetryPolicy,
    Source,
)
from switchyard.delivery.attempts import Attempt, AttemptStatus
from switchyard.delivery.breaker import CircuitBreakers
from switchyard.delivery.policy import Action
from switchyard.delivery.requests import DeliveryRequest
from switchyard.delivery.service import Deliverer, QueuedDelivery
from switchyard.destinations.driver import SendPlan

DELIVERED, RETRY = AttemptStatus.DELIVERED, AttemptStatus.RETRY
DONE, GIVE_UP, RETRY_LATER = Action.DONE, Action.GIVE_UP, Action.RETRY_LATER

NOW = 1_800_000_000.0
RETRY_SPEC = RetryPolicy(max_hours=4.0, initial_delay_seconds=5, max_delay_seconds=900)


def destination(destination_id: str = "hook", **overrides: Any) -> Destination:
    fields: dict[str, Any] = {
        "id": destination_id,
        "name": destination_id,
        "type": "webhook",
        "enabled": True,
        "sources": ("web",),
        "settings": {"url": "http://127.0.0.1:9/hook", "timeout_seconds": 2},
        "rate_limit_per_second": 100,
        "concurrency": 2,
        "retry": RETRY_SPEC,
    }
    return Destination(**{**fields, **overrides})


def queued(index: int, destination_id: str = "hook", *, receives: int = 1, age_seconds: float = 0) -> QueuedDelivery:
    event = {"type": "track", "event": "Clicked", "messageId": f"m{index}", "receivedAt": "2027-01-15T08:00:00.000Z"}
    return QueuedDelivery(f"q{index}", DeliveryRequest(destination_id, event), receives, NOW - age_seconds)


class FakeAdapter:
    def __init__(self, answer: str = DELIVERED, *, failing_events: Sequence[str] = ()) -> None:
        self.answer = answer
        self.failing_events = set(failing_events)
        self.calls: list[tuple[list[str], float]] = []
        self.events: list[dict[str, Any]] = []  # every event handed over, as the tool would get it

    def plan(self, destination: Destination) -> SendPlan:
        return SendPlan(events_per_send=1, attempt_seconds=destination.settings["timeout_seconds"])

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
        ids = [event["messageId"] for event in events]
        self.calls.append((ids, deadline))
        self.events += events
        if self.failing_events & set(ids):
            raise RuntimeError("adapter bug")
        return [Attempt(self.answer, "200" if self.answer == DELIVERED else "503", answered_at=NOW)] * len(events)


class FakeLimiter:
    def __init__(self, allowed: int = 1_000) -> None:
        self.allowed = allowed

    def take(self, destination_id: str, wanted: int, limit_per_second: int, *, replay: bool = False) -> int:
        return min(wanted, self.allowed)


@dataclass
class FakeDeadLetters:
    failing: bool = False
    letters: list[tuple[str, str, int]] = field(default_factory=list)  # messageId, reason, attempts
    requests: list[DeliveryRequest] = field(default_factory=list)  # as parked

    def put(self, request: DeliveryRequest, attempt: Attempt | None, attempts: int, reason: str) -> None:
        if self.failing:
            raise RuntimeError("ProvisionedThroughputExceededException")
        self.letters.append((request.event["messageId"], reason, attempts))
        self.requests.append(request)


@dataclass
class FakeStats:
    failing_deliveries: set[str] = field(default_factory=set)
    delivered_ids: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # label, counter
    counters: list[str] = field(default_factory=list)

    def delivered(self, destination_id: str, event: dict[str, Any], at: float, *, measure_latency: bool) -> float:
        if event["messageId"] in self.failing_deliveries:
            raise OverflowError("date value out of range")
        self.delivered_ids.append(event["messageId"])
        return 12.0

    def failed(self, destination_id: str, label: str, at: float, *, counter: str, sample: dict[str, Any]) -> None:
        self.failures.append((label, counter))

    def count(self, destination_id: str, counter: str, at: float, amount: int = 1) -> None:
        self.counters.append(counter)

    def flush(self) -> None:
        pass


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make_deliverer(
    *destinations: Destination,
    adapter: Any = None,
    limiter: FakeLimiter | None = None,
    dead_letters: FakeDeadLetters | None = None,
    stats: FakeStats | None = None,
    breakers: CircuitBreakers | None = None,
    monotonic: Clock | None = None,
    max_receives: int = 1000,
    functions: Any = None,
    function_configs: tuple[FunctionConfig, ...] = (),
    sources: tuple[Source, ...] = (),
    privacy: PrivacySettings | None = None,
    suppressed: Any = None,
) -> Deliverer:
    workspace = CompiledWorkspace(
        "test",
        sources=sources,
        destinations=destinations or (destination(),),
        functions=function_configs,
        privacy=privacy,
    )
    return Deliverer(
        lambda: workspace,
        {"webhook": adapter or FakeAdapter()},
        limiter or FakeLimiter(),  # type: ignore[arg-type]
        dead_letters or FakeDeadLetters(),  # type: ignore[arg-type]
        breakers or CircuitBreakers(),
        lambda: stats or FakeStats(),  # type: ignore[return-value]
        clock=lambda: NOW,
        monotonic=monotonic or Clock(0.0),
        rng=random.Random(3),
        max_receives=max_receives,
        functions=functions,
        suppressed=suppressed,
    )


def actions(outcomes: dict[str, Any]) -> dict[str, str]:
    return {message_id: outcome.decision.action for message_id, outcome in sorted(outcomes.items())}
