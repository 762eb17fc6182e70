"""Which messages of a batch the debugger keeps: at most `per_second` a second per source.

A token bucket per source (one second of burst): a batch takes as many messages as there are
whole tokens, picked at random across the batch (an every-n-th pick would miss what alternates with
n). The sampling rate of a write is what it kept over what the source sent since the previous
write, batches that got no token included, so the rate shown is the rate over that stretch.

The bucket lives in the router instance: each shard's router (each of them, with
`router_parallelization` above 1) keeps up to `per_second` messages a second per source.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Picked:
    indices: list[int]  # positions in the batch's messages of the source, in order
    sampling_rate: float  # kept / sent since the source's previous write (1.0: everything)


@dataclass
class _Bucket:
    tokens: float
    refilled_at: float
    unwritten: int = 0  # messages sent since the last write that kept none


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
        self._buckets: dict[str, _Bucket] = {}

    def pick(self, source_id: str, count: int) -> Picked:
        """Which of the source's `count` messages in this batch to keep (none: nothing to write)."""
        now = self._clock()
        bucket = self._buckets.get(source_id)
        if bucket is None:
            bucket = self._buckets[source_id] = _Bucket(self.per_second, now)
        bucket.tokens = min(self.per_second, bucket.tokens + (now - bucket.refilled_at) * self.per_second)
        bucket.refilled_at = now
        kept = min(count, int(bucket.tokens))
        sent = bucket.unwritten + count
        if kept == 0:
            bucket.unwritten = sent
            return Picked([], 0.0)
        bucket.tokens -= kept
        bucket.unwritten = 0
        indices = list(range(count)) if kept == count else sorted(self._rng.sample(range(count), kept))
        return Picked(indices, kept / sent)
