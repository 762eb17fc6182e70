"""Delivering one batch from the delivery queue: each destination on its own, none waiting for another.

Per destination: a circuit breaker skips destinations that keep failing, a shared rate limit
decides how many may go out this second, and up to `concurrency` requests run at once. Every
message gets a decision: done, retry later (with a delay), dead-letter, or dropped (final).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from switchyard.config.compiled import CompiledWorkspace, Destination, FunctionConfig
from switchyard.constants import USER_FUNCTION_LAMBDA_MARGIN_SECONDS
from switchyard.delivery.attempts import DELIVERED, FINAL, RETRY, Attempt
from switchyard.delivery.breaker import CircuitBreakers
from switchyard.delivery.deadletters import DeadLetters
from switchyard.delivery.policy import DONE, DROP, GIVE_UP, RETRY_LATER, Decision, backoff_seconds, decide
from switchyard.delivery.ratelimit import RateLimiter
from switchyard.delivery.requests import LIVE_LANE, DeliveryRequest
from switchyard.delivery.stats import DeliveryStats
from switchyard.functions.runtime import DROPPED, OK, EventResult

log = logging.getLogger(__name__)

# Events per invocation of a destination function (its on_batch gets them together).
FUNCTION_BATCH_SIZE = 50


class Adapter(Protocol):
    def send(self, destination: Destination, events: Sequence[dict[str, Any]]) -> Attempt | list[Attempt]: ...


class EventFunctions(Protocol):
    def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]: ...


@dataclass(slots=True)
class QueuedDelivery:
    """A delivery request as the queue handed it over."""

    message_id: str
    request: DeliveryRequest
    receive_count: int
    first_received_at: float  # epoch seconds


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    attempt: Attempt | None = None
    latency_ms: float | None = None


class Deliverer:
    def __init__(
        self,
        workspace: Callable[[], CompiledWorkspace],
        adapters: dict[str, Adapter],
        limiter: RateLimiter,
        dead_letters: DeadLetters,
        breakers: CircuitBreakers,
        stats_factory: Callable[[], DeliveryStats],
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        functions: EventFunctions | None = None,
    ) -> None:
        self._functions = functions
        self._workspace = workspace
        self._adapters = adapters
        self._limiter = limiter
        self._dead_letters = dead_letters
        self._breakers = breakers
        self._stats_factory = stats_factory
        self._clock = clock
        self._rng = rng or random.Random()

    def deliver(self, items: Sequence[QueuedDelivery], budget_seconds: float = 45.0) -> dict[str, Outcome]:
        """An outcome per queue message id; destinations are served in parallel, each attempting
        only what fits in `budget_seconds` (the rest waits on the queue, not on a timed-out Lambda)."""
        workspace = self._workspace()
        stats = self._stats_factory()
        groups: dict[str, list[QueuedDelivery]] = {}
        for item in items:
            groups.setdefault(item.request.destination_id, []).append(item)
        outcomes: dict[str, Outcome] = {}
        if groups:
            with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="destination") as pool:
                for result in pool.map(
                    lambda group: self._deliver_group(workspace.destination(group[0]), group[1], stats, budget_seconds),
                    groups.items(),
                ):
                    outcomes.update(result)
        try:
            stats.flush()
        except Exception:  # noqa: BLE001 - statistics are best-effort; deliveries already happened
            log.exception("could not write Event Delivery statistics")
        return outcomes

    def _deliver_group(
        self, destination: Destination | None, items: list[QueuedDelivery], stats: DeliveryStats, budget: float
    ) -> dict[str, Outcome]:
        """One destination's share; a failure of our own (a throttled table, say) defers only it."""
        try:
            return self._deliver_to(destination, items, stats, budget)
        except Exception:  # noqa: BLE001 - isolate: other destinations' outcomes stand
            log.exception(
                "delivery to %s failed before finishing; its events come back later",
                destination.id if destination else "?",
            )
            return {item.message_id: Outcome(Decision(RETRY_LATER, 5)) for item in items}

    def _deliver_to(
        self, destination: Destination | None, items: list[QueuedDelivery], stats: DeliveryStats, budget: float
    ) -> dict[str, Outcome]:
        now = self._clock()
        if destination is None:
            for item in items:
                self._dead_letters.put(item.request, None, item.receive_count, "destination_not_configured")
            return {item.message_id: Outcome(Decision(GIVE_UP)) for item in items}
        if not destination.enabled and all(item.request.lane == LIVE_LANE for item in items):
            for item in items:
                stats.failed(
                    destination.id,
                    "discarded.destination_disabled",
                    now,
                    counter="not_delivered",
                    sample={"received": item.request.event},
                )
            return {item.message_id: Outcome(Decision(DROP)) for item in items}

        blocked = self._breakers.blocked_for(destination.id)
        if blocked > 0:
            stats.count(destination.id, "deferred", now, len(items))
            # Deferrals back off too, so a long outage does not run up the queue's receive count.
            return {
                item.message_id: Outcome(
                    Decision(
                        RETRY_LATER,
                        max(int(blocked + 0.999), backoff_seconds(item.receive_count, destination.retry, self._rng)),
                    )
                )
                for item in items
            }

        # One budget per destination; a replay gets at most half of it (see ratelimit.py).
        replay = items[0].request.lane != LIVE_LANE
        allowed = self._limiter.take(destination.id, len(items), destination.rate_limit_per_second, replay=replay)
        outcomes = {item.message_id: Outcome(Decision(RETRY_LATER, 1)) for item in items[allowed:]}
        if len(items) > allowed:
            stats.count(destination.id, "rate_limited", now, len(items) - allowed)

        sendable = items[:allowed]
        if destination.insert_function:
            sendable = self._run_insert_function(destination, sendable, outcomes, stats)
        default_batch = FUNCTION_BATCH_SIZE if destination.type == "function" else 1
        batch_size = int(destination.settings.get("batch_size", default_batch))
        chunks = [sendable[i : i + batch_size] for i in range(0, len(sendable), batch_size)]
        # Attempt only as many rounds of requests as fit in the budget, even if every one hangs.
        timeout = float(destination.settings.get("timeout_seconds", 10))
        if destination.type == "function":
            function = self._workspace().function(destination.function or "")
            timeout = float(function.timeout_seconds + USER_FUNCTION_LAMBDA_MARGIN_SECONDS) if function else timeout
        rounds = max(1, int(budget // (timeout + 1)))
        for chunk in chunks[destination.concurrency * rounds :]:
            for item in chunk:
                outcomes[item.message_id] = Outcome(Decision(RETRY_LATER, 1))
        chunks = chunks[: destination.concurrency * rounds]
        adapter = self._adapters[destination.type]
        with ThreadPoolExecutor(max_workers=min(destination.concurrency, max(1, len(chunks)))) as pool:
            answers = list(pool.map(lambda chunk: adapter.send(destination, [i.request.event for i in chunk]), chunks))
        got_through = False
        for chunk, answer in zip(chunks, answers, strict=True):
            # Webhooks answer once for the chunk; destination functions once per event.
            attempts = answer if isinstance(answer, list) else [answer] * len(chunk)
            got_through = got_through or any(attempt.status != RETRY for attempt in attempts)
            for item, attempt in zip(chunk, attempts, strict=True):
                outcomes[item.message_id] = self._settle(destination, item, attempt, stats)
        if chunks:
            self._breakers.record(destination.id, got_through)
        return outcomes

    def _run_insert_function(
        self,
        destination: Destination,
        items: list[QueuedDelivery],
        outcomes: dict[str, Outcome],
        stats: DeliveryStats,
    ) -> list[QueuedDelivery]:
        """Runs the destination's insert function; returns the items still to deliver (changed events)."""
        function = self._workspace().function(destination.insert_function or "")
        if function is None or self._functions is None or not items:
            return items
        results = self._functions.run_events(function, [item.request.event for item in items])
        kept = []
        for item, result in zip(items, results, strict=True):
            if result.status == OK and result.event is not None:
                item.request.event = result.event
                item.request.event_json = None
                kept.append(item)
            elif result.status == DROPPED:
                stats.count(destination.id, "dropped_by_insert_function", self._clock())
                outcomes[item.message_id] = Outcome(Decision(DONE))
            else:
                status = RETRY if result.retryable else FINAL
                attempt = Attempt(
                    status,
                    result.code,
                    response={"function": function.id, "error": result.message},
                    answered_at=self._clock(),
                )
                outcomes[item.message_id] = self._settle(destination, item, attempt, stats)
        return kept

    def _settle(
        self, destination: Destination, item: QueuedDelivery, attempt: Attempt, stats: DeliveryStats
    ) -> Outcome:
        decision = decide(
            attempt, item.receive_count, item.first_received_at, self._clock(), destination.retry, self._rng
        )
        at = attempt.answered_at or self._clock()
        if attempt.status == DELIVERED:
            # End-to-end latency is a live-traffic figure: a replayed event was received long ago.
            live = item.request.lane == LIVE_LANE
            latency = stats.delivered(destination.id, item.request.event, at, measure_latency=live)
            return Outcome(decision, attempt, latency)
        sample = {"received": item.request.event, "request": attempt.request, "response": attempt.response}
        if decision.action == GIVE_UP:
            self._dead_letters.put(item.request, attempt, item.receive_count, attempt.label)
            stats.failed(destination.id, attempt.label, at, counter="dead_lettered", sample=sample)
        elif attempt.status == FINAL:
            stats.failed(destination.id, attempt.label, at, counter="not_delivered", sample=sample)
        else:
            stats.failed(destination.id, attempt.label, at, counter="retried", sample=sample)
        return Outcome(decision, attempt)
