"""Delivering one batch from the delivery queue: each destination on its own, none waiting for another.

Per destination: its data controls first (consent, destination filters, personal data removed or
hashed: delivery/consent.py, delivery/filters.py, privacy/pii.py), so live traffic and replays
pass the same ones; then a circuit breaker skips destinations that keep failing, a shared rate limit
decides how many may go out this second, and up to `concurrency` requests run at once. Every
message gets a decision: done, retry later (with a delay), dead-letter, or dropped (final).

Outcomes are settled per message as they become known: a failure afterwards (a throttled
dead-letter write, statistics that cannot be counted) never turns a delivered event into a retry,
and only the messages still unsettled are deferred. Every attempt ends by the batch's deadline,
so no destination can hold the invocation past its time-out (which would bring the whole batch,
other destinations' delivered events included, back from the queue).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from switchyard.config.compiled import CompiledWorkspace, ConsentDefault, Destination, DestinationPii, FunctionConfig
from switchyard.constants import DELIVERY_QUEUE_MAX_RECEIVES, OTHER_METRIC_NAME
from switchyard.delivery.attempts import Attempt, AttemptStatus
from switchyard.delivery.breaker import CircuitBreakers
from switchyard.delivery.consent import FILTERED_BY_CONSENT, consented
from switchyard.delivery.deadletters import DeadLetters
from switchyard.delivery.filters import DestinationFilters
from switchyard.delivery.policy import Action, Decision, decide, defer
from switchyard.delivery.ratelimit import RateLimiter
from switchyard.delivery.requests import LIVE_LANE, DeliveryRequest
from switchyard.delivery.stats import Count, DeliveryStats
from switchyard.destinations.driver import SendPlan
from switchyard.functions.runtime import DROPPED, OK, EventResult
from switchyard.privacy.pii import Scanners, redacted
from switchyard.privacy.suppression import is_suppressed

log = logging.getLogger(__name__)

# An attempt is not started with less time than this left before the batch's deadline.
MIN_ATTEMPT_SECONDS = 0.5
# When a dead letter cannot be written, the message stays on the queue and is decided again.
PARK_RETRY_SECONDS = 5

# Why a message was deferred without an attempt (Event Delivery counter and dead-letter reason).
RATE_LIMITED = "rate_limited"
CIRCUIT_OPEN = "circuit_open"
OUT_OF_TIME = "out_of_time"  # the batch's budget ran out before its turn
INTERNAL_ERROR = "internal_error"
FILTERED_AT_DESTINATION = "filtered_at_destination"  # Event Delivery's label for a destination filter's drops
SUPPRESSED_USER = "filtered_suppressed_user"  # a suppressed user's event, queued before or replayed
RECEIVE_LIMIT = "receive_limit"  # the queue's maxReceiveCount was reached (a crash loop, a poison message)
DEFERRAL_COUNTS = {
    RATE_LIMITED: Count.RATE_LIMITED,
    CIRCUIT_OPEN: Count.DEFERRED,
    OUT_OF_TIME: Count.OUT_OF_TIME,
    INTERNAL_ERROR: Count.INTERNAL_ERROR,
}


class Adapter(Protocol):
    """Delivers to one destination type (destinations/driver.py for tools, destinations/function.py)."""

    def plan(self, destination: Destination) -> SendPlan: ...

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
        """An attempt per event, every request ended by `deadline` (time.monotonic)."""
        ...


class EventFunctions(Protocol):
    def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]: ...


@dataclass(slots=True)
class QueuedDelivery:
    """A delivery request as the queue handed it over."""

    message_id: str
    request: DeliveryRequest
    receive_count: int
    first_received_at: float  # epoch seconds
    # The request as the queue gave it, kept when data controls or an insert function change
    # `request`: a dead letter holds this one, so a redrive is not filtered or hashed twice.
    as_received: DeliveryRequest | None = None


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    attempt: Attempt | None = None
    latency_ms: float | None = None
    filtered_by: str | None = None  # the destination filter that dropped the event (its title)
    consent_denied: bool = False  # the event's consent preferences do not grant the destination's categories


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
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        functions: EventFunctions | None = None,
        max_receives: int = DELIVERY_QUEUE_MAX_RECEIVES,
        filters: DestinationFilters | None = None,
        suppressed: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        self._functions = functions
        self._workspace = workspace
        self._adapters = adapters
        self._limiter = limiter
        self._dead_letters = dead_letters
        self._breakers = breakers
        self._stats_factory = stats_factory
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._max_receives = max_receives
        self._filters = filters or DestinationFilters()
        self._suppressed = suppressed
        self._pii = Scanners()

    def deliver(self, items: Sequence[QueuedDelivery], budget_seconds: float = 45.0) -> dict[str, Outcome]:
        """An outcome per queue message id; destinations are served in parallel, and every attempt
        ends within `budget_seconds` (what does not fit waits on the queue, not on a timed-out Lambda)."""
        deadline = self._monotonic() + budget_seconds
        workspace = self._workspace()
        stats = self._stats_factory()
        outcomes: dict[str, Outcome] = {}
        suppressed = self._suppressed() if self._suppressed is not None else frozenset()
        groups: dict[str, list[QueuedDelivery]] = {}
        for item in items:
            self._count_arrival(stats, item)
            if suppressed and is_suppressed(item.request.event, suppressed):
                # Queued before the user was suppressed, or a replay of the archive: never delivered.
                outcomes[item.message_id] = Outcome(Decision(Action.SKIP))
                # Counted without a sample: nothing of a suppressed user is kept.
                self._count_failure(stats, item.request.destination_id, SUPPRESSED_USER, Count.FILTERED, {})
                continue
            groups.setdefault(item.request.destination_id, []).append(item)
        if groups:
            with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="destination") as pool:
                for result in pool.map(
                    lambda group: self._deliver_group(workspace, group[0], group[1], stats, deadline),
                    groups.items(),
                ):
                    outcomes.update(result)
        try:
            stats.flush()
        except Exception:  # noqa: BLE001 - statistics are best-effort; deliveries already happened
            log.exception("could not write Event Delivery statistics")
        return outcomes

    def metric_destination(self, destination_id: str) -> str:
        """The destination's name in CloudWatch metrics (a bounded set: CompiledWorkspace.destination_metric_name)."""
        try:
            return self._workspace().destination_metric_name(destination_id)
        except Exception:  # noqa: BLE001 - outcomes are settled; their metrics go under the shared name
            return OTHER_METRIC_NAME

    def park_exhausted(self, items: Sequence[QueuedDelivery]) -> dict[str, Outcome]:
        """Messages the queue gave up on after its receive limit (its own DLQ sent them here): into
        the dead-letter store, where `switchyard dlq list/redrive` and Event Delivery see them."""
        stats = self._stats_factory()
        workspace = self._workspace()
        label = f"awaiting_retry.{RECEIVE_LIMIT}"
        outcomes = {}
        for item in items:
            if self._park(item, None, label):
                outcomes[item.message_id] = Outcome(Decision(Action.GIVE_UP))
                destination = workspace.destination(item.request.destination_id)
                if destination is not None:
                    sample = {"received": item.request.event}
                    self._count_failure(stats, destination.id, label, Count.DEAD_LETTERED, sample)
            else:
                outcomes[item.message_id] = Outcome(Decision(Action.RETRY_LATER, PARK_RETRY_SECONDS))
        try:
            stats.flush()
        except Exception:  # noqa: BLE001 - statistics are best-effort
            log.exception("could not write Event Delivery statistics")
        return outcomes

    def _deliver_group(
        self,
        workspace: CompiledWorkspace,
        destination_id: str,
        items: list[QueuedDelivery],
        stats: DeliveryStats,
        deadline: float,
    ) -> dict[str, Outcome]:
        """One destination's share. A failure of our own defers only what is not settled yet."""
        settled: dict[str, Outcome] = {}
        destination = workspace.destination(destination_id)
        try:
            self._deliver_to(workspace, destination, items, stats, deadline, settled)
        except Exception:  # noqa: BLE001 - isolate: other destinations' outcomes stand
            log.exception("delivery to %s failed; its unsettled events come back later", destination_id)
            for item in items:
                if item.message_id not in settled:
                    settled[item.message_id] = self._defer(destination, item, stats, INTERNAL_ERROR, PARK_RETRY_SECONDS)
        return settled

    def _deliver_to(
        self,
        workspace: CompiledWorkspace,
        destination: Destination | None,
        items: list[QueuedDelivery],
        stats: DeliveryStats,
        deadline: float,
        settled: dict[str, Outcome],
    ) -> None:
        """The steps, each settling what it decides: configured? enabled? consented? kept by the
        destination's filters (and its personal data removed or hashed)? circuit closed? within the
        rate limit? the insert function's verdict? time left? Then the adapter's answers."""
        if destination is None:
            self._park_unconfigured(items, settled)
            return
        if self._discard_if_disabled(destination, items, stats, settled):
            return
        if destination.consent or destination.filters or destination.pii is not None or destination.insert_function:
            for item in items:
                item.as_received = dataclasses.replace(item.request)
        if destination.consent:
            items = self._apply_consent(workspace, destination, items, stats, settled)
        if destination.filters:
            items = self._apply_filters(destination, items, stats, settled)
        if destination.pii is not None:
            self._apply_pii(workspace, destination.pii, items)
        if self._defer_if_circuit_open(destination, items, stats, settled):
            return
        sendable = self._within_rate_limit(destination, items, stats, settled)
        if destination.insert_function:
            sendable = self._run_insert_function(workspace, destination, sendable, settled, stats)
        adapter = self._adapters[destination.type]
        plan = adapter.plan(destination)
        chunks, too_late = self._chunks_within_budget(plan, destination.concurrency, sendable, deadline)
        for item in too_late:
            settled[item.message_id] = self._defer(destination, item, stats, OUT_OF_TIME, 1)
        if chunks:
            got_through, asked_to_wait = self._send(adapter, destination, chunks, stats, deadline, settled)
            self._breakers.record(destination.id, got_through)
            if not got_through and asked_to_wait:
                # The tool said when it takes requests again (Retry-After, a daily quota's reset):
                # until then its events wait without a request each.
                self._breakers.hold(destination.id, asked_to_wait)

    def _park_unconfigured(self, items: list[QueuedDelivery], settled: dict[str, Outcome]) -> None:
        """Queued for a destination the workspace no longer has: kept for a redrive, not lost."""
        for item in items:
            parked = self._park(item, None, "destination_not_configured")
            settled[item.message_id] = Outcome(Decision(Action.GIVE_UP) if parked else Decision(Action.RETRY_LATER, 60))

    def _discard_if_disabled(
        self, destination: Destination, items: list[QueuedDelivery], stats: DeliveryStats, settled: dict[str, Outcome]
    ) -> bool:
        """Live traffic for a disabled destination is discarded; a replay into it is still delivered."""
        if destination.enabled or any(item.request.lane != LIVE_LANE for item in items):
            return False
        for item in items:
            settled[item.message_id] = Outcome(Decision(Action.DROP))
            sample = {"received": item.request.event}
            self._count_failure(stats, destination.id, "discarded.destination_disabled", Count.NOT_DELIVERED, sample)
        return True

    def _apply_consent(
        self,
        workspace: CompiledWorkspace,
        destination: Destination,
        items: list[QueuedDelivery],
        stats: DeliveryStats,
        settled: dict[str, Outcome],
    ) -> list[QueuedDelivery]:
        """Only events whose consent preferences grant the destination's categories go on; the others
        are settled as filtered (`filtered_by_consent`), never retried."""
        kept = []
        for item in items:
            source = workspace.source(str(item.request.event.get("projectId", "")))
            default = source.consent_default if source is not None else ConsentDefault.DENY
            if consented(destination, item.request.event, default):
                kept.append(item)
                continue
            settled[item.message_id] = Outcome(Decision(Action.SKIP), consent_denied=True)
            self._count_failure(
                stats, destination.id, FILTERED_BY_CONSENT, Count.FILTERED, {"received": item.request.event}
            )
        return kept

    def _apply_filters(
        self, destination: Destination, items: list[QueuedDelivery], stats: DeliveryStats, settled: dict[str, Outcome]
    ) -> list[QueuedDelivery]:
        """The destination's filters: dropped events are settled as filtered (per filter title),
        changed ones go on changed; the archive keeps them as received."""
        kept = []
        for item in items:
            filtered = self._filters.apply(destination, item.request.event)
            if filtered.event is None:
                settled[item.message_id] = Outcome(Decision(Action.SKIP), filtered_by=filtered.dropped_by)
                label = f"{FILTERED_AT_DESTINATION}.{filtered.dropped_by}"
                self._count_failure(stats, destination.id, label, Count.FILTERED, {"received": item.request.event})
                continue
            if filtered.event is not item.request.event:
                item.request.event = filtered.event
                item.request.event_json = None
            kept.append(item)
        return kept

    def _apply_pii(self, workspace: CompiledWorkspace, pii: DestinationPii, items: list[QueuedDelivery]) -> None:
        """The destination's `pii`: fields of its blocked classes removed, of its hashed ones sent
        as SHA-256 (after the filters, which may test them)."""
        scanner = self._pii.get(workspace.privacy.matchers if workspace.privacy is not None else ())
        block, hash_ = frozenset(pii.block), frozenset(pii.hash)
        for item in items:
            found = [f for f in scanner.find(item.request.event) if f.kind in block or f.kind in hash_]
            if found:
                item.request.event = redacted(item.request.event, found, block, hash_)
                item.request.event_json = None

    def _defer_if_circuit_open(
        self, destination: Destination, items: list[QueuedDelivery], stats: DeliveryStats, settled: dict[str, Outcome]
    ) -> bool:
        blocked = self._breakers.blocked_for(destination.id)
        if blocked <= 0:
            return False
        for item in items:
            settled[item.message_id] = self._defer(destination, item, stats, CIRCUIT_OPEN, blocked)
        return True

    def _within_rate_limit(
        self, destination: Destination, items: list[QueuedDelivery], stats: DeliveryStats, settled: dict[str, Outcome]
    ) -> list[QueuedDelivery]:
        """One budget per destination; a replay gets at most half of it (see ratelimit.py)."""
        replay = items[0].request.lane != LIVE_LANE
        allowed = self._limiter.take(destination.id, len(items), destination.rate_limit_per_second, replay=replay)
        for item in items[allowed:]:
            settled[item.message_id] = self._defer(destination, item, stats, RATE_LIMITED, 1)
        return items[:allowed]

    def _chunks_within_budget(
        self, plan: SendPlan, concurrency: int, items: list[QueuedDelivery], deadline: float
    ) -> tuple[list[list[QueuedDelivery]], list[QueuedDelivery]]:
        """The hand-overs to make, as many rounds of them as fit before the deadline even if every
        one hangs for its whole time-out; and the items left for a later invocation."""
        size = plan.events_per_send
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        remaining = deadline - self._monotonic()
        rounds = max(0, int(remaining // (plan.attempt_seconds + 1)))
        if plan.cut_at_deadline and remaining >= MIN_ATTEMPT_SECONDS:
            rounds = max(1, rounds)  # an attempt is cut at the deadline, so one round always fits
        fitting = concurrency * rounds
        return chunks[:fitting], [item for chunk in chunks[fitting:] for item in chunk]

    def _send(
        self,
        adapter: Adapter,
        destination: Destination,
        chunks: list[list[QueuedDelivery]],
        stats: DeliveryStats,
        deadline: float,
        settled: dict[str, Outcome],
    ) -> tuple[bool, float]:
        """Hands the chunks over, `concurrency` at a time, settling each chunk's items as its answers
        arrive. Returns whether anything got through (the circuit breaker's signal), and the
        shortest wait the tool asked for when it throttled (0 when it did not)."""
        got_through = False
        waits: list[float] = []
        with ThreadPoolExecutor(max_workers=min(destination.concurrency, len(chunks))) as pool:
            pending: list[tuple[list[QueuedDelivery], Future[list[Attempt]]]] = [
                (chunk, pool.submit(adapter.send, destination, [item.request.event for item in chunk], deadline))
                for chunk in chunks
            ]
            for chunk, future in pending:
                try:
                    attempts = future.result()
                except Exception as error:  # noqa: BLE001 - an adapter's bug: retry these, settle the rest
                    log.exception("the %s adapter failed on %d event(s)", destination.type, len(chunk))
                    failed = Attempt(AttemptStatus.RETRY, INTERNAL_ERROR, response={"error": type(error).__name__})
                    attempts = [failed] * len(chunk)
                got_through = got_through or any(attempt.status is not AttemptStatus.RETRY for attempt in attempts)
                waits.extend(attempt.retry_after for attempt in attempts if attempt.retry_after)
                for item, attempt in zip(chunk, attempts, strict=True):
                    settled[item.message_id] = self._settle(destination, item, attempt, stats)
        return got_through, min(waits, default=0.0)

    def _run_insert_function(
        self,
        workspace: CompiledWorkspace,
        destination: Destination,
        items: list[QueuedDelivery],
        settled: dict[str, Outcome],
        stats: DeliveryStats,
    ) -> list[QueuedDelivery]:
        """Runs the destination's insert function; returns the items still to deliver (changed events)."""
        function = workspace.function(destination.insert_function or "")
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
                settled[item.message_id] = Outcome(Decision(Action.DONE))
                self._count(stats, destination, Count.DROPPED_BY_INSERT_FUNCTION)
            else:
                status = AttemptStatus.RETRY if result.retryable else AttemptStatus.FINAL
                attempt = Attempt(
                    status,
                    result.code,
                    response={"function": function.id, "error": result.message},
                    answered_at=self._clock(),
                )
                settled[item.message_id] = self._settle(destination, item, attempt, stats)
        return kept

    def _settle(
        self, destination: Destination, item: QueuedDelivery, attempt: Attempt, stats: DeliveryStats
    ) -> Outcome:
        """The decision after an attempt; a dead letter is written before the message may leave the queue."""
        attempt = attempt.final_at(item.receive_count)
        decision = decide(
            attempt,
            item.receive_count,
            item.first_received_at,
            self._clock(),
            destination.retry,
            self._rng,
            self._max_receives,
        )
        if decision.action is Action.GIVE_UP and not self._park(item, attempt, attempt.label):
            decision = Decision(Action.RETRY_LATER, PARK_RETRY_SECONDS)
        for reason in attempt.omitted:  # the event went, without what broke the tool's limits
            self._count_failure(
                stats, destination.id, f"omitted.{reason}", Count.OMITTED, {"received": item.request.event}
            )
        latency = None
        if attempt.status is AttemptStatus.DELIVERED:
            # End-to-end latency is a live-traffic figure: a replayed event was received long ago.
            latency = self._count_delivery(stats, destination, item, attempt.answered_at or self._clock())
            return Outcome(decision, attempt, latency)
        sample = {"received": item.request.event, "request": attempt.request, "response": attempt.response}
        if decision.action is Action.GIVE_UP:
            counter = Count.DEAD_LETTERED
        elif attempt.status is AttemptStatus.UNSUPPORTED:
            counter = Count.FILTERED
        elif attempt.status is AttemptStatus.FINAL:
            counter = Count.NOT_DELIVERED
        else:
            counter = Count.RETRIED
        self._count_failure(stats, destination.id, attempt.label, counter, sample, attempt.answered_at)
        return Outcome(decision, attempt)

    def _defer(
        self, destination: Destination | None, item: QueuedDelivery, stats: DeliveryStats, reason: str, delay: float
    ) -> Outcome:
        """No attempt was made: later, unless the retry policy's time (or the queue's receives) ran out."""
        if destination is None:
            return Outcome(Decision(Action.RETRY_LATER, PARK_RETRY_SECONDS))
        now = self._clock()
        retry = destination.retry
        decision = defer(delay, item.receive_count, item.first_received_at, now, retry, self._rng, self._max_receives)
        label = f"awaiting_retry.{reason}"
        if decision.action is Action.GIVE_UP:
            if self._park(item, None, label):
                self._count_failure(stats, destination.id, label, Count.DEAD_LETTERED, {"received": item.request.event})
                return Outcome(decision)
            decision = Decision(Action.RETRY_LATER, PARK_RETRY_SECONDS)
        self._count(stats, destination, DEFERRAL_COUNTS[reason])
        return Outcome(decision)

    def _park(self, item: QueuedDelivery, attempt: Attempt | None, reason: str) -> bool:
        """Writes the dead letter; False if it could not be written (the message then stays queued)."""
        try:
            self._dead_letters.put(item.as_received or item.request, attempt, item.receive_count, reason)
        except Exception:  # noqa: BLE001 - keep the event on the queue rather than lose it
            log.exception("could not write the dead letter for %s; it stays on the queue", item.message_id)
            return False
        return True

    # Event Delivery counts are best-effort: a failure to count never changes a settled outcome.

    def _count_delivery(
        self, stats: DeliveryStats, destination: Destination, item: QueuedDelivery, at: float
    ) -> float | None:
        try:
            return stats.delivered(
                destination.id, item.request.event, at, measure_latency=item.request.lane == LIVE_LANE
            )
        except Exception:  # noqa: BLE001
            log.exception("could not count a delivery to %s", destination.id)
            return None

    def _count_failure(
        self,
        stats: DeliveryStats,
        destination_id: str,
        label: str,
        counter: Count,
        sample: dict[str, Any],
        at: float | None = None,
    ) -> None:
        try:
            stats.failed(destination_id, label, at or self._clock(), counter=counter, sample=sample)
        except Exception:  # noqa: BLE001
            log.exception("could not count %s for %s", label, destination_id)

    def _count_arrival(self, stats: DeliveryStats, item: QueuedDelivery) -> None:
        """The Delivery Overview's first step: an event taken for the first time (a re-queued or retried
        one carries its receive count on)."""
        if item.receive_count != 1:
            return
        counter = Count.RECEIVED if item.request.lane == LIVE_LANE else Count.REPLAYED
        try:
            stats.count(item.request.destination_id, counter, self._clock())
        except Exception:  # noqa: BLE001
            log.exception("could not count an arrival for %s", item.request.destination_id)

    def _count(self, stats: DeliveryStats, destination: Destination, counter: Count) -> None:
        try:
            stats.count(destination.id, counter, self._clock())
        except Exception:  # noqa: BLE001
            log.exception("could not count %s for %s", counter, destination.id)
