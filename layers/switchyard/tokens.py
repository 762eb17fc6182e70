"""A token bucket in memory: up to `burst` tokens, refilled at `per_second`, on the caller's
monotonic clock. What a router instance keeps per source (the debugger's samples and writes, the
usage sketches' writes) to bound work that would otherwise grow with the batches it runs."""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("burst", "per_second", "tokens", "at")

    def __init__(self, burst: float, per_second: float, now: float) -> None:
        self.burst = burst
        self.per_second = per_second
        self.tokens = float(burst)  # full at first: a quiet start is never held back
        self.at = now

    def take(self, now: float, wanted: int = 1) -> int:
        """As many of `wanted` whole tokens as there are (0 to `wanted`), taken."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.per_second)
        self.at = now
        taken = min(wanted, int(self.tokens))
        self.tokens -= taken
        return taken
