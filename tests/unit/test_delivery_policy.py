"""Retry decisions, error classification, the circuit breaker and latency percentiles."""

from __future__ import annotations

import hmac
import random
from collections import Counter

import pytest

from switchyard.config.compiled import RetryPolicy
from switchyard.delivery.attempts import Attempt, AttemptStatus, classify_status, parse_retry_after
from switchyard.delivery.breaker import CircuitBreakers
from switchyard.delivery.policy import Action, backoff_seconds, decide
from switchyard.delivery.stats import bucket_upper_ms, latency_bucket, percentile
from switchyard.destinations.webhook import signature_headers, verify_signature

DELIVERED, FINAL, RETRY = AttemptStatus.DELIVERED, AttemptStatus.FINAL, AttemptStatus.RETRY
DONE, DROP, GIVE_UP, RETRY_LATER = Action.DONE, Action.DROP, Action.GIVE_UP, Action.RETRY_LATER

RETRY_SPEC = RetryPolicy(max_hours=4.0, initial_delay_seconds=5, max_delay_seconds=900)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, DELIVERED),
        (204, DELIVERED),
        (400, FINAL),
        (401, FINAL),
        (404, FINAL),
        (408, RETRY),
        (423, RETRY),
        (429, RETRY),
        (500, RETRY),
        (503, RETRY),
        (501, FINAL),
    ],
)
def test_status_classification(status: int, expected: str):
    assert classify_status(status) == expected


def test_retry_after_in_seconds_or_as_a_date():
    assert parse_retry_after("7", now=0) == 7
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=90) == pytest.approx(10)
    assert parse_retry_after("soon", now=0) is None


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling():
    rng = random.Random(7)
    delays = [backoff_seconds(attempt, RETRY_SPEC, rng) for attempt in range(1, 12)]
    assert 2 <= delays[0] <= 5
    assert 40 <= delays[4] <= 80
    assert all(delay <= 900 for delay in delays)
    assert delays[-1] >= 450


def test_decisions():
    rng = random.Random(1)
    ok = Attempt(DELIVERED, "200")
    assert decide(ok, 1, 0, 10, RETRY_SPEC, rng).action == DONE
    assert decide(Attempt(FINAL, "400"), 1, 0, 10, RETRY_SPEC, rng).action == DROP
    retry = decide(Attempt(RETRY, "503"), 1, 0, 10, RETRY_SPEC, rng)
    assert retry.action == RETRY_LATER and retry.delay_seconds >= 1


def test_retry_after_wins_over_a_shorter_backoff():
    decision = decide(Attempt(RETRY, "429", retry_after=120), 1, 0, 10, RETRY_SPEC, random.Random(1))
    assert decision.delay_seconds >= 120


def test_give_up_after_the_retry_window():
    four_hours = 4 * 3600
    decision = decide(Attempt(RETRY, "ETIMEDOUT"), 30, 0, four_hours - 1, RETRY_SPEC, random.Random(1))
    assert decision.action == GIVE_UP


def test_the_breaker_opens_after_failures_then_lets_one_probe_through():
    now = [0.0]
    breakers = CircuitBreakers(threshold=3, cooldown_seconds=10, clock=lambda: now[0])
    for _ in range(3):
        assert breakers.blocked_for("slow") == 0
        breakers.record("slow", success=False)
    assert breakers.blocked_for("slow") == pytest.approx(10)
    assert breakers.blocked_for("fast") == 0, "other destinations are not affected"
    now[0] = 11
    assert breakers.blocked_for("slow") == 0, "the probe"
    assert breakers.blocked_for("slow") >= 1, "only one probe at a time"
    breakers.record("slow", success=True)
    assert breakers.blocked_for("slow") == 0


def test_latency_percentile_from_the_histogram_is_within_ten_percent():
    latencies = [10.0] * 90 + [250.0] * 5 + [4000.0] * 5
    histogram = Counter(latency_bucket(value) for value in latencies)
    assert 250 <= percentile(histogram, 0.95) <= 275
    assert percentile(Counter(), 0.95) is None
    assert bucket_upper_ms(latency_bucket(1234.0)) >= 1234.0


def test_signature_is_hmac_sha256_of_the_timestamp_and_the_body():
    headers = signature_headers(["s3cr3t"], b'{"a":1}', 1_800_000_000)
    assert headers == {
        "X-Switchyard-Timestamp": "1800000000",
        "X-Switchyard-Signature": "sha256=" + hmac.new(b"s3cr3t", b'1800000000.{"a":1}', "sha256").hexdigest(),
    }
    assert verify_signature("s3cr3t", headers, b'{"a":1}', now=1_800_000_100)
    assert not verify_signature("s3cr3t", headers, b'{"a":2}', now=1_800_000_100)
    assert not verify_signature("s3cr3t", headers, b'{"a":1}', now=1_800_000_301), "a replay past the tolerance"
    assert not verify_signature("other", headers, b'{"a":1}', now=1_800_000_100)


def test_while_rotating_both_secrets_sign_and_either_verifies():
    headers = signature_headers(["new-secret", "old-secret"], b"{}", 1_800_000_000)
    assert headers["X-Switchyard-Signature"].count("sha256=") == 2
    assert verify_signature("new-secret", headers, b"{}", now=1_800_000_000)
    assert verify_signature("old-secret", headers, b"{}", now=1_800_000_000)


def test_a_lost_probe_does_not_block_a_destination_forever():
    now = [0.0]
    breakers = CircuitBreakers(threshold=1, cooldown_seconds=5, clock=lambda: now[0])
    breakers.record("d", success=False)
    now[0] = 6
    assert breakers.blocked_for("d") == 0, "the probe goes out"
    # ...and never reports back (rate-limited, dropped by an insert function, crashed).
    now[0] = 12
    assert breakers.blocked_for("d") == 0, "its lease ran out: another probe may go"


def test_sqs_bodies_escape_the_characters_sqs_refuses():
    import orjson

    from switchyard.delivery.requests import DeliveryRequest

    event = {"properties": {"x": "\uffff\ufffe"}}
    for request in (DeliveryRequest("d", event), DeliveryRequest("d", event, event_json=orjson.dumps(event))):
        body = request.to_body()
        assert b"\xef\xbf" not in body
        assert DeliveryRequest.from_body(body).event == event


def test_a_held_destination_is_skipped_until_the_wait_it_asked_for_is_over():
    now = [0.0]
    breakers = CircuitBreakers(threshold=3, cooldown_seconds=10, clock=lambda: now[0])
    breakers.hold("crm", 120)
    assert breakers.blocked_for("crm") == pytest.approx(120)
    assert breakers.blocked_for("other") == 0
    now[0] = 119.5
    assert breakers.blocked_for("crm") == 1.0, "at least a second: a deferral is whole seconds"
    now[0] = 120
    assert breakers.blocked_for("crm") == 0
