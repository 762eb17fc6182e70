"""The deliverer with fakes: outcomes settle per message, deferrals obey the retry policy, and
every attempt ends within the batch's deadline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import Attempt, AttemptStatus
from switchyard.delivery.breaker import CircuitBreakers
from switchyard.delivery.policy import Action
from switchyard.destinations.driver import SendPlan
from tests.support.delivery import (
    DELIVERED,
    DONE,
    GIVE_UP,
    NOW,
    RETRY,
    RETRY_LATER,
    Clock,
    FakeAdapter,
    FakeDeadLetters,
    FakeLimiter,
    FakeStats,
    actions,
    destination,
    make_deliverer,
    queued,
)

# --- Settled outcomes stand whatever fails afterwards -------------------------------------------


def test_a_delivered_event_stays_delivered_when_counting_it_fails():
    stats = FakeStats(failing_deliveries={"m1"})
    outcomes = make_deliverer(stats=stats).deliver([queued(0), queued(1), queued(2)])
    assert actions(outcomes) == {"q0": DONE, "q1": DONE, "q2": DONE}
    assert stats.delivered_ids == ["m0", "m2"]


def test_a_throttled_dead_letter_write_keeps_only_that_event_queued():
    dead_letters = FakeDeadLetters(failing=True)
    adapter = RoutingAdapter({"ok": FakeAdapter(), "down": FakeAdapter(answer=RETRY)})
    too_old = 4 * 3600 + 1
    deliverer = make_deliverer(destination("ok"), destination("down"), adapter=adapter, dead_letters=dead_letters)
    outcomes = deliverer.deliver([queued(0, "ok"), queued(1, "down", age_seconds=too_old), queued(2, "ok")])
    assert actions(outcomes) == {"q0": DONE, "q1": RETRY_LATER, "q2": DONE}  # q1: given up, not yet written


def test_an_adapter_failure_retries_only_its_own_request():
    adapter = FakeAdapter(failing_events=["m1"])
    outcomes = make_deliverer(adapter=adapter).deliver([queued(0), queued(1), queued(2)])
    assert actions(outcomes) == {"q0": DONE, "q1": RETRY_LATER, "q2": DONE}


def test_our_own_failure_before_sending_defers_within_the_retry_policy():
    class BrokenLimiter(FakeLimiter):
        def take(self, *args: Any, **kwargs: Any) -> int:
            raise RuntimeError("ThrottlingException")

    dead_letters = FakeDeadLetters()
    items = [queued(0), queued(1, age_seconds=4 * 3600 + 1)]
    outcomes = make_deliverer(limiter=BrokenLimiter(), dead_letters=dead_letters).deliver(items)
    assert actions(outcomes) == {"q0": RETRY_LATER, "q1": GIVE_UP}
    assert dead_letters.letters == [("m1", "awaiting_retry.internal_error", 1)]


# --- Deferrals: rate limit and open circuit ------------------------------------------------------


def test_rate_limited_events_past_max_hours_are_dead_lettered_and_shown_as_failed():
    dead_letters, stats = FakeDeadLetters(), FakeStats()
    items = [queued(0), queued(1, receives=40, age_seconds=4 * 3600 - 0.5)]
    outcomes = make_deliverer(limiter=FakeLimiter(allowed=0), dead_letters=dead_letters, stats=stats).deliver(items)
    assert actions(outcomes) == {"q0": RETRY_LATER, "q1": GIVE_UP}
    assert outcomes["q0"].decision.delay_seconds == 1
    assert dead_letters.letters == [("m1", "awaiting_retry.rate_limited", 40)]
    assert stats.failures == [("awaiting_retry.rate_limited", "dead_lettered")]


def test_a_deferral_on_the_queues_last_receive_goes_to_the_dead_letter_store_not_the_sqs_dlq():
    dead_letters = FakeDeadLetters()
    items = [queued(0, receives=9), queued(1, receives=10)]
    deliverer = make_deliverer(limiter=FakeLimiter(allowed=0), dead_letters=dead_letters, max_receives=10)
    assert actions(deliverer.deliver(items)) == {"q0": RETRY_LATER, "q1": GIVE_UP}
    assert [letter[0] for letter in dead_letters.letters] == ["m1"]


def test_repeated_deferrals_back_off_so_a_long_backlog_costs_few_receives():
    deliverer = make_deliverer(limiter=FakeLimiter(allowed=0))
    delays = [deliverer.deliver([queued(0, receives=n)])["q0"].decision.delay_seconds for n in range(1, 12)]
    assert delays[0] == 1
    assert 4 <= delays[4] <= 16 and delays[-1] >= 450  # doubling from 1 s, up to max_delay_seconds
    receives, waited = 0, 0.0
    while waited < 4 * 3600:
        receives += 1
        waited += deliverer.deliver([queued(0, receives=receives)])["q0"].decision.delay_seconds
    assert receives < 60


def test_an_open_circuit_defers_without_an_attempt_and_gives_up_after_max_hours():
    clock = Clock(100.0)
    breakers = CircuitBreakers(threshold=1, cooldown_seconds=30, clock=clock)
    breakers.record("hook", success=False)
    adapter, dead_letters = FakeAdapter(), FakeDeadLetters()
    deliverer = make_deliverer(adapter=adapter, breakers=breakers, dead_letters=dead_letters)
    outcomes = deliverer.deliver([queued(0), queued(1, age_seconds=4 * 3600 - 10)])
    assert actions(outcomes) == {"q0": RETRY_LATER, "q1": GIVE_UP}
    assert outcomes["q0"].decision.delay_seconds >= 30
    assert adapter.calls == []
    assert dead_letters.letters == [("m1", "awaiting_retry.circuit_open", 1)]


# --- The batch's deadline ----------------------------------------------------------------------


def test_every_attempt_gets_the_batchs_deadline_and_nothing_starts_without_time_left():
    monotonic = Clock(1_000.0)
    adapter = FakeAdapter()
    deliverer = make_deliverer(adapter=adapter, monotonic=monotonic)
    deliverer.deliver([queued(0), queued(1)], budget_seconds=7.5)
    assert {deadline for _, deadline in adapter.calls} == {1_007.5}

    adapter.calls.clear()
    outcomes = deliverer.deliver([queued(0)], budget_seconds=0.1)
    assert adapter.calls == []
    assert actions(outcomes) == {"q0": RETRY_LATER}


def test_only_as_many_rounds_as_fit_the_budget_are_attempted():
    adapter = FakeAdapter()
    # timeout 2 s + 1: 6 s fit two rounds of `concurrency` (2) requests; the fifth waits.
    outcomes = make_deliverer(adapter=adapter).deliver([queued(i) for i in range(5)], budget_seconds=6)
    assert len(adapter.calls) == 4
    assert actions(outcomes)["q4"] == RETRY_LATER


@pytest.mark.parametrize("receives", [1, 3])
def test_a_missing_destination_is_dead_lettered(receives: int):
    dead_letters = FakeDeadLetters()
    outcomes = make_deliverer(dead_letters=dead_letters).deliver([queued(0, "gone", receives=receives)])
    assert actions(outcomes) == {"q0": GIVE_UP}
    assert dead_letters.letters == [("m0", "destination_not_configured", receives)]


class RoutingAdapter:
    def __init__(self, by_destination: dict[str, FakeAdapter]) -> None:
        self._by_destination = by_destination

    def plan(self, destination: Destination) -> SendPlan:
        return self._by_destination[destination.id].plan(destination)

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
        return self._by_destination[destination.id].send(destination, events, deadline)


def test_an_unsupported_call_is_filtered_not_failed_and_never_retried():
    class Unsupported(FakeAdapter):
        def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
            super().send(destination, events, deadline)
            return [Attempt(AttemptStatus.UNSUPPORTED, "unsupported.identify", answered_at=NOW)] * len(events)

    stats, dead_letters = FakeStats(), FakeDeadLetters()
    outcomes = make_deliverer(adapter=Unsupported(), stats=stats, dead_letters=dead_letters).deliver([queued(0)])
    assert actions(outcomes) == {"q0": Action.SKIP}
    assert stats.failures == [("filtered.unsupported.identify", "filtered")]
    assert dead_letters.letters == []


def test_what_an_adapter_left_out_of_a_delivered_event_is_counted_per_reason():
    class Trimming(FakeAdapter):
        def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
            super().send(destination, events, deadline)
            trimmed = ("param_value_too_long", "too_many_params")
            return [Attempt(DELIVERED, "200", answered_at=NOW, omitted=trimmed)] * len(events)

    stats = FakeStats()
    outcomes = make_deliverer(adapter=Trimming(), stats=stats).deliver([queued(0)])
    assert actions(outcomes) == {"q0": DONE}
    assert stats.delivered_ids == ["m0"]
    assert stats.failures == [("omitted.param_value_too_long", "omitted"), ("omitted.too_many_params", "omitted")]


class Answering(FakeAdapter):
    """Answers every event with the same attempt."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__()
        self.attempt = attempt

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
        super().send(destination, events, deadline)
        return [self.attempt] * len(events)


def test_an_answer_worth_one_more_try_is_final_on_the_next_attempt():
    once_more = Attempt(RETRY, "404.unknown_user", answered_at=NOW, final_from_attempt=2)
    stats = FakeStats()
    deliverer = make_deliverer(adapter=Answering(once_more), stats=stats)
    assert actions(deliverer.deliver([queued(0, receives=1)])) == {"q0": RETRY_LATER}
    assert actions(deliverer.deliver([queued(1, receives=2)])) == {"q1": Action.DROP}
    assert stats.failures == [
        ("awaiting_retry.404.unknown_user", "retried"),
        ("discarded.404.unknown_user", "not_delivered"),
    ]


def test_a_destination_that_throttled_a_whole_hand_over_is_held_for_as_long_as_it_asked():
    throttled = Attempt(RETRY, "429", retry_after=3600, answered_at=NOW)
    adapter = Answering(throttled)
    monotonic = Clock(0.0)
    breakers = CircuitBreakers(clock=monotonic)
    deliverer = make_deliverer(adapter=adapter, breakers=breakers, monotonic=monotonic)
    first = deliverer.deliver([queued(0)])
    assert first["q0"].decision.delay_seconds >= 3600
    later = deliverer.deliver([queued(1), queued(2)])
    assert len(adapter.calls) == 1, "no request while the tool asked us to wait"
    assert all(outcome.decision.delay_seconds >= 3599 for outcome in later.values())
    monotonic.now = 3601
    deliverer.deliver([queued(3)])
    assert len(adapter.calls) == 2, "asked again once the wait is over"


def test_a_destination_that_took_some_events_is_not_held_for_the_ones_it_throttled():
    class PartlyThrottling(FakeAdapter):
        def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
            super().send(destination, events, deadline)
            return [
                Attempt(DELIVERED, "200", answered_at=NOW)
                if event["messageId"] == "m0"
                else Attempt(RETRY, "429", retry_after=60, answered_at=NOW)
                for event in events
            ]

    breakers = CircuitBreakers()
    outcomes = make_deliverer(adapter=PartlyThrottling(), breakers=breakers).deliver([queued(0), queued(1)])
    assert actions(outcomes) == {"q0": DONE, "q1": RETRY_LATER}
    assert breakers.blocked_for("hook") == 0
