"""A circuit breaker per destination, so a dead or hanging destination stops costing workers.

After `threshold` retryable failures in a row the destination is skipped (its events deferred
without an attempt) until `cooldown` has passed; then one batch probes it. Kept in memory: each
Lambda execution environment learns on its own within a few failures, with no shared writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False


class CircuitBreakers:
    def __init__(
        self, threshold: int = 3, cooldown_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic
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
            if state is None or state.failures < self._threshold:
                return 0.0
            remaining = state.open_until - self._clock()
            if remaining > 0 or state.probing:
                return max(remaining, 1.0)
            state.probing = True
            return 0.0

    def record(self, destination_id: str, success: bool) -> None:
        with self._lock:
            state = self._states.setdefault(destination_id, _State())
            state.probing = False
            if success:
                state.failures = 0
                return
            state.failures += 1
            if state.failures >= self._threshold:
                state.open_until = self._clock() + self._cooldown
