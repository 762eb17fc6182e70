"""When to try again, and when to give up: randomised exponential backoff within a time limit.

Two kinds of "later": a retry after the destination failed an attempt, and a deferral when no
attempt was made (this second's rate limit is used up, the circuit is open, our own bookkeeping
failed). Both end in the dead-letter store once `retry.max_hours` has passed since the first
receive, or on the queue's last receive before SQS would move the message to its own DLQ.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from switchyard.config.compiled import RetryPolicy
from switchyard.constants import DELIVERY_QUEUE_MAX_RECEIVES
from switchyard.delivery.attempts import Attempt, AttemptStatus


class Action(StrEnum):
    """What happens to a queued delivery after its turn."""

    DONE = "done"  # delivered (or nothing left to deliver)
    RETRY_LATER = "retry"  # back on the queue after `delay_seconds`
    GIVE_UP = "dead_letter"  # into the dead-letter store, for `switchyard dlq redrive`
    DROP = "discarded"  # final: the destination refused it, or it is not to be delivered
    SKIP = "filtered"  # the destination takes nothing of it (a call it does not support): no failure


# SQS holds a message back at most 12 hours per visibility change.
MAX_SQS_DELAY_SECONDS = 43_200


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay_seconds: int = 0


def backoff_seconds(attempt: int, retry: RetryPolicy, rng: random.Random) -> int:
    """After a failed attempt: from `initial_delay_seconds`, doubling up to `max_delay_seconds`."""
    return _jittered_doubling(float(retry.initial_delay_seconds), attempt, retry, rng)


def deferral_seconds(attempt: int, retry: RetryPolicy, rng: random.Random) -> int:
    """From one second (a rate-limit window), doubling per receive up to the retry ceiling: a long
    backlog or outage costs a few dozen receives per message, not one a second."""
    return _jittered_doubling(1.0, attempt, retry, rng)


def _jittered_doubling(first: float, attempt: int, retry: RetryPolicy, rng: random.Random) -> int:
    """Full jitter in the upper half: between 1/2 and 1 of min(max, first * 2^(attempt-1))."""
    ceiling = min(float(retry.max_delay_seconds), first * 2 ** (attempt - 1))
    return max(1, round(rng.uniform(ceiling / 2, ceiling)))


def decide(
    attempt: Attempt,
    attempts_so_far: int,
    first_attempt_at: float,
    now: float,
    retry: RetryPolicy,
    rng: random.Random,
    max_receives: int = DELIVERY_QUEUE_MAX_RECEIVES,
) -> Decision:
    """After an attempt: done, dropped (a final answer), retried later or given up on."""
    if attempt.status is AttemptStatus.DELIVERED:
        return Decision(Action.DONE)
    if attempt.status is AttemptStatus.FINAL:
        return Decision(Action.DROP)
    if attempt.status is AttemptStatus.UNSUPPORTED:
        return Decision(Action.SKIP)
    delay = backoff_seconds(attempts_so_far, retry, rng)
    if attempt.retry_after is not None:
        delay = max(delay, int(attempt.retry_after + 0.999))
    return later(delay, attempts_so_far, first_attempt_at, now, retry, max_receives)


def defer(
    minimum_delay: float,
    attempts_so_far: int,
    first_attempt_at: float,
    now: float,
    retry: RetryPolicy,
    rng: random.Random,
    max_receives: int = DELIVERY_QUEUE_MAX_RECEIVES,
) -> Decision:
    """When no attempt was made: later, after at least `minimum_delay`, within the same limits."""
    delay = max(int(minimum_delay + 0.999), deferral_seconds(attempts_so_far, retry, rng))
    return later(delay, attempts_so_far, first_attempt_at, now, retry, max_receives)


def later(
    delay: int, attempts_so_far: int, first_attempt_at: float, now: float, retry: RetryPolicy, max_receives: int
) -> Decision:
    deadline = first_attempt_at + retry.max_hours * 3600
    if now + delay > deadline or attempts_so_far >= max_receives:
        return Decision(Action.GIVE_UP)
    return Decision(Action.RETRY_LATER, min(delay, MAX_SQS_DELAY_SECONDS))
