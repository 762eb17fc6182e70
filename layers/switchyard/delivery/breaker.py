"""A circuit breaker per destination, so a dead or hanging destination stops costing workers.

After `threshold` batches in a row that only failed, the destination is skipped (its events deferred
without an attempt) until `cooldown` has passed; then one batch probes it. A destination that
throttled a whole hand-over and said for how long (Retry-After, a daily quota's reset) is held for
that long, so its waiting events cost no request each. Kept in memory: each Lambda execution
environment learns on its own within a few failures, with no shared writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0  # deliveries in a row (one per batch handled) that only failed
    open_until: float = 0.0
    probe_until: float = 0.0  # a probe is under way until then (a lease: a lost probe cannot block)
    held_until: float = 0.0  # the destination asked us to wait until then (throttling)


class CircuitBreakers:
    def __init__(
        self, threshold: int = 3, cooldown_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def blocked_for(self, destination_id: str) -> float:
        """Seconds the destination stays skipped (0: try it; the first caller after a cool-down probes)."""
        with self._lock:
            state = self._states.get(destination_id)
            if state is None:
                return 0.0
            now = self._clock()
            if state.held_until > now:
                return max(state.held_until - now, 1.0)
            if state.failures < self._threshold:
                return 0.0
            waiting = max(state.open_until, state.probe_until) - now
            if waiting > 0:
                return max(waiting, 1.0)
            state.probe_until = now + self._cooldown
            return 0.0

    def hold(self, destination_id: str, seconds: float) -> None:
        """Skip the destination for `seconds`: it throttled us and said for how long."""
        with self._lock:
            state = self._states.setdefault(destination_id, _State())
            state.held_until = max(state.held_until, self._clock() + seconds)

    def record(self, destination_id: str, success: bool) -> None:
        """One delivery of a batch to the destination: success if anything in it got through."""
        with self._lock:
            state = self._states.setdefault(destination_id, _State())
            state.probe_until = 0.0
            if success:
                state.failures = 0
                return
            state.failures += 1
            if state.failures >= self._threshold:
                state.open_until = self._clock() + self._cooldown
