"""The MTU sketches a router instance has not written yet, per source, hour and shard, and when to
write them: each key has a token bucket (`burst` writes at once, then one per `seconds`); a key of
an hour that is over is due at once, whatever its tokens, since no batch of that hour may come to
write it later.

Held in memory only: should the instance end (a container recycled, a crash), the ids of its last
`seconds` or so that were not written are lost to the MTUs (its counters never are).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from switchyard.tokens import TokenBucket
from switchyard.usage.people import People
from switchyard.usage.tally import UsageKey


class PendingSketches:
    def __init__(self, clock: Callable[[], float], burst: int, seconds: float) -> None:
        self._clock = clock  # monotonic seconds
        self._burst = burst
        self._seconds = seconds
        self._pending: dict[UsageKey, People] = {}
        self._tokens: dict[UsageKey, TokenBucket] = {}
        self._lock = threading.Lock()

    def add(self, key: UsageKey, people: People) -> None:
        """A batch's people (or a failed write's, to try again), merged into the key's pending ones."""
        if people.is_empty:
            return
        with self._lock:
            pending = self._pending.get(key)
            self._pending[key] = people if pending is None else pending.merged(people)

    def due(self, current_hour: str) -> dict[UsageKey, People]:
        """The pending sketches to write now (taken out): each key with a token, and every key of an
        hour before `current_hour` (YYYY-MM-DDTHH)."""
        now = self._clock()
        with self._lock:
            due = {
                key: people for key, people in self._pending.items() if key.hour < current_hour or self._take(key, now)
            }
            for key in due:
                del self._pending[key]
            for key in [key for key in self._tokens if key.hour < current_hour]:
                del self._tokens[key]  # its hour is over: nothing of it waits for a token again
        return due

    def _take(self, key: UsageKey, now: float) -> bool:
        tokens = self._tokens.get(key)
        if tokens is None:
            tokens = self._tokens[key] = TokenBucket(self._burst, 1 / self._seconds, now)
        return tokens.take(now) == 1
