"""Replay planning, filtering, pacing and request validation, without AWS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.replay.model import ReplayDestination, ReplayRequest, ReplayRequestError
from switchyard.replay.operator import build_request
from switchyard.replay.plan import concurrency_for, hours_between, objects_per_batch
from switchyard.replay.worker import Pacer, replayed

WORKSPACE = compile_workspace(
    parse_workspace("""\
workspace: acme
sources:
  - {id: web, name: Web, write_key: wk_web_123}
  - {id: app, name: App, write_key: wk_app_456}
destinations:
  - id: hooks
    name: Growth Hooks
    type: webhook
    sources: [web]
    settings: {url: "http://h/1"}
    rate_limit_per_second: 75
  - {id: paused, type: webhook, enabled: false, sources: [web], settings: {url: "http://h/2"}}
  - {id: appdest, type: webhook, sources: [app], settings: {url: "http://h/3"}}
""")
)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def request(**overrides: object) -> ReplayRequest:
    values: dict[str, object] = {
        "source": "web",
        "destinations": ["hooks"],
        "start": "2026-11-29T00:00:00Z",
        "end": "2026-11-29T06:00:00Z",
        "retention_days": 30,
        "now": NOW,
    }
    values.update(overrides)
    return build_request(WORKSPACE, **values)  # type: ignore[arg-type]


def test_a_valid_request_normalizes_times_and_takes_half_the_destination_rate_by_default():
    built = request()
    assert (built.start, built.end) == ("2026-11-29T00:00:00.000Z", "2026-11-29T06:00:00.000Z")
    assert built.rate == 37, "half the destination's limit: the other half stays with live traffic"
    assert built.destinations == (ReplayDestination("hooks", "Growth Hooks"),)
    assert built.id.startswith("rp-20261130-120000-")


def test_a_disabled_but_connected_destination_is_allowed():
    assert request(destinations=["paused"]).destinations[0].id == "paused"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"destinations": ["appdest"]}, "not connected to source 'web'"),
        ({"destinations": ["nope"]}, "unknown destination 'nope'"),
        ({"source": "nope"}, "unknown source 'nope'"),
        ({"destinations": []}, "at least one --destination"),
        ({"start": "2026-11-29T06:00:00Z", "end": "2026-11-29T00:00:00Z"}, "is not before --to"),
        ({"start": "2026-10-01T00:00:00Z"}, "older than the archive keeps (30 days"),
        ({"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}, "in the future"),
        ({"start": "yesterday"}, "is not an ISO-8601 time"),
        ({"types": ["purchase"]}, "unknown --type"),
        ({"rate": 0}, "between 1 and"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(overrides: dict, message: str):
    with pytest.raises(ReplayRequestError, match=message.replace("(", r"\(")):
        request(**overrides)


def test_matching_by_received_time_type_and_event_name():
    built = request(types=["track"], events=["Order Completed"])
    base = {"type": "track", "event": "Order Completed", "receivedAt": "2026-11-29T00:00:00.000Z"}
    assert built.matches(base)
    assert not built.matches({**base, "receivedAt": "2026-11-29T06:00:00.000Z"}), "the end is exclusive"
    assert not built.matches({**base, "receivedAt": "2026-11-28T23:59:59.999Z"})
    assert not built.matches({**base, "event": "Cart Viewed"})
    assert not built.matches({**base, "type": "page"})


def test_replayed_events_go_only_to_their_destination_and_say_so():
    built = request()
    event = {"messageId": "m1", "integrations": {"Amplitude": True}}
    copy = replayed(event, built, "Growth Hooks")
    assert copy["integrations"] == {"All": False, "Growth Hooks": True}
    assert copy["replay"]["id"] == built.id
    assert event["integrations"] == {"Amplitude": True}, "the archived event is not changed"


def test_hours_cover_partial_hours_at_both_ends():
    hours = hours_between(datetime(2026, 11, 29, 22, 30), datetime(2026, 11, 30, 1, 0, 1))
    assert hours == [("2026-11-29", "22"), ("2026-11-29", "23"), ("2026-11-30", "00"), ("2026-11-30", "01")]


def test_concurrency_and_batch_size_follow_the_rate():
    assert concurrency_for(1) == 1 and concurrency_for(250) == 3 and concurrency_for(100_000) == 40
    assert objects_per_batch(1, 1) == 1, "a slow replay sends one object per worker run"
    assert objects_per_batch(400, 4) == 8


def test_the_pacer_holds_the_rate():
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(50, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        pacer.wait_for(10)
    assert now[0] == pytest.approx(2.0)
