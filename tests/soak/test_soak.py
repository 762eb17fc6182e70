"""The short soak in `make test`: 1,000 events from the real SDKs through the local stack while
every kind of fault is injected at least once. `make soak` runs the same with 10,000."""

from __future__ import annotations

import pytest

from tests.soak.soak import SHORT, Soak

pytestmark = pytest.mark.soak

EVERY_FAULT = {
    "aws.kinesis.throttled_calls",
    "aws.kinesis.partial_calls",
    "aws.dynamodb.throttled",
    "aws.dynamodb.throttled_in_storms",
    "flaky.5xx",
    "flaky.429",
    "flaky.time-out",
    "flaky.drip",
    "flaky.huge",
    "late.connections_refused",
    "dead.connections_refused",
    "router.crashes",
    "delivery.crashes",
}


def test_every_accepted_event_is_archived_and_delivered_or_dead_lettered_despite_faults():
    # Given: the local stack with every kind of fault planned, and the two SDKs sending to it
    with Soak(SHORT) as soak:
        # When: 1,000 events are sent and the pipeline has drained
        report = soak.run()
    print("\n".join(report.lines()))

    # Then: every kind of fault happened, and the goal is met
    assert set(report.injected) >= EVERY_FAULT, f"not injected: {EVERY_FAULT - set(report.injected)}"
    # Every event sent got a 2xx: the 1,000, plus the probes sent when no batch fitted the delivery crash.
    sent = sum(report.sent.values())
    assert report.accepted == sent == SHORT.events + report.probes, "ingest retried what Kinesis failed"
    assert report.archived == report.accepted and report.archived_twice == 0
    assert report.lost == 0
    dead = report.destinations["dead"]
    assert dead.dead_letters == dead.routed, "a destination refusing for ever ends in dead letters"
    assert report.destinations["late"].delivered == report.destinations["late"].routed
    for name in report.destinations:
        assert report.duplicates_within_goal(name), name
