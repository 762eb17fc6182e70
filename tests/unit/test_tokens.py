"""The in-memory token bucket the debugger and usage share: full at first, refilled with time, never
above its burst, taking whole tokens only."""

from __future__ import annotations

from switchyard.tokens import TokenBucket


def test_a_bucket_starts_full_and_gives_no_more_than_it_has():
    bucket = TokenBucket(5, 5, now=0.0)
    assert bucket.take(0.0, 3) == 3
    assert bucket.take(0.0, 3) == 2
    assert bucket.take(0.0) == 0


def test_it_refills_with_time_up_to_its_burst_and_takes_whole_tokens():
    bucket = TokenBucket(3, 0.1, now=0.0)  # one token every ten seconds
    assert bucket.take(0.0, 3) == 3
    assert bucket.take(5.0) == 0  # half a token
    assert bucket.take(10.0) == 1
    assert bucket.take(1000.0, 10) == 3  # never above the burst
