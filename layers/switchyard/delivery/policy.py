"""When to try again, and when to give up: randomised exponential backoff within a time limit."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from switchyard.delivery.attempts import DELIVERED, FINAL, Attempt

DONE = "done"
RETRY_LATER = "retry"
GIVE_UP = "dead_letter"
DROP = "discarded"

# SQS holds a message back at most 12 hours per visibility change.
MAX_SQS_DELAY_SECONDS = 43_200


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # DONE | RETRY_LATER | GIVE_UP | DROP
    delay_seconds: int = 0


def backoff_seconds(attempt: int, retry: dict[str, Any], rng: random.Random) -> int:
    """Full jitter in the upper half: between 1/2 and 1 of min(max, initial * 2^(attempt-1))."""
    ceiling = min(float(retry["max_delay_seconds"]), float(retry["initial_delay_seconds"]) * 2 ** (attempt - 1))
    return max(1, round(rng.uniform(ceiling / 2, ceiling)))


def decide(
    attempt: Attempt,
    attempts_so_far: int,
    first_attempt_at: float,
    now: float,
    retry: dict[str, Any],
    rng: random.Random,
) -> Decision:
    if attempt.status == DELIVERED:
        return Decision(DONE)
    if attempt.status == FINAL:
        return Decision(DROP)
    delay = backoff_seconds(attempts_so_far, retry, rng)
    if attempt.retry_after is not None:
        delay = max(delay, int(attempt.retry_after + 0.999))
    deadline = first_attempt_at + float(retry["max_hours"]) * 3600
    if now + delay > deadline:
        return Decision(GIVE_UP)
    return Decision(RETRY_LATER, min(delay, MAX_SQS_DELAY_SECONDS))
