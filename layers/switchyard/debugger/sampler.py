"""Which messages of a batch the debugger keeps: at most `per_second` a second per source.

A token bucket per source (one second of burst): a batch takes as many messages as there are
whole tokens, picked at random across the batch (an every-n-th pick would miss what alternates with
n). The recorder (debugger/recorder.py) counts what was kept against what was sent.

The bucket lives in the router instance: each shard's router (each of them, with
`router_parallelization` above 1) keeps up to `per_second` messages a second per source.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from switchyard.tokens import TokenBucket


class RateSampler:
    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.per_second = per_second
        self._clock = clock
        self._rng = rng or random.Random()
        self._buckets: dict[str, TokenBucket] = {}

    def pick(self, source_id: str, count: int) -> list[int]:
        """Which of the source's `count` messages in this batch to keep, in order (none: nothing)."""
        now = self._clock()
        bucket = self._buckets.get(source_id)
        if bucket is None:
            bucket = self._buckets[source_id] = TokenBucket(self.per_second, self.per_second, now)
        kept = bucket.take(now, count)
        if kept == count:
            return list(range(count))
        return sorted(self._rng.sample(range(count), kept))
