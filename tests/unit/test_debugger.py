"""The Source Debugger: which messages the router keeps (rate and sampling rate), written per source
within a budget of writes, and reading the latest ones back newest first, searched and filtered."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from switchyard.debugger import DEBUGGER_PREFIX
from switchyard.debugger.recorder import DebuggerRecorder
from switchyard.debugger.sampler import RateSampler
from switchyard.debugger.store import (
    DEBUGGER_WINDOW,
    DebuggerCursor,
    DebuggerStore,
    DebuggerWrite,
    object_key,
    written_ms,
)
from switchyard.router.records import StreamEvent

BUCKET = "archive"
START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0
        self.at = START

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.at += timedelta(seconds=seconds)


def event(index: int, source: str = "web", kind: str = "track", **fields: Any) -> StreamEvent:
    message = {
        "type": kind,
        "messageId": f"m-{source}-{index}",
        "projectId": source,
        "receivedAt": "2026-11-30T12:00:00.000Z",
        "userId": f"user-{index}",
        **({"event": f"Event {index}"} if kind == "track" else {}),
        **fields,
    }
    return StreamEvent("shardId-000", str(100 + index), orjson.dumps(message), message)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[DebuggerStore]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        yield DebuggerStore(BUCKET, s3, now=clock.now)


# The sampler.


def test_a_quiet_source_keeps_every_message_at_rate_one(store: DebuggerStore, clock: Clock):
    sampler = RateSampler(5, clock=clock.monotonic)
    assert sampler.pick("web", 3) == [0, 1, 2]
    recorder(store, clock).record([event(1), event(2), event(3)])
    assert [entry.sampling_rate for entry in store.latest("web").entries] == [1.0, 1.0, 1.0]


def test_a_busy_batch_keeps_one_seconds_worth_picked_across_the_batch(store: DebuggerStore, clock: Clock):
    sampler = RateSampler(5, clock=clock.monotonic, rng=random.Random(7))
    picked = sampler.pick("web", 500)
    assert len(picked) == 5
    assert picked == sorted(picked)
    assert picked[-1] > 5  # not just the first few
    recorder(store, clock).record([event(index) for index in range(500)])
    assert {entry.sampling_rate for entry in store.latest("web").entries} == {5 / 500}


def test_batches_without_a_token_count_in_the_next_writes_sampling_rate(store: DebuggerStore, clock: Clock):
    sampler = RateSampler(5, clock=clock.monotonic)
    sampler.pick("web", 100)  # takes the second's 5
    clock.advance(0.1)
    assert sampler.pick("web", 100) == []  # half a token: nothing written
    clock.advance(0.9)
    assert len(sampler.pick("web", 100)) == 5
    debugger = recorder(store, clock)
    debugger.record([event(index) for index in range(100)])  # takes the second's 5, written
    clock.advance(0.1)
    assert debugger.record([event(index) for index in range(100, 200)]) == []  # nothing kept, nothing written
    clock.advance(0.9)
    debugger.record([event(index) for index in range(200, 300)])
    newest = store.latest("web").entries[0]
    assert newest.sampling_rate == 5 / 200  # the skipped batch's messages included


def test_no_more_than_the_rate_is_kept_over_time(clock: Clock):
    sampler = RateSampler(5, clock=clock.monotonic)
    kept = 0
    for _ in range(100):  # 10 seconds of batches every 0.1 s, 50 messages each
        kept += len(sampler.pick("web", 50))
        clock.advance(0.1)
    assert kept <= 5 * 10 + 5  # the rate, plus the first second's burst


def test_sources_have_buckets_of_their_own(clock: Clock):
    sampler = RateSampler(2, clock=clock.monotonic)
    assert len(sampler.pick("web", 10)) == 2
    assert len(sampler.pick("app", 10)) == 2


# The recorder.


def recorder(store: DebuggerStore, clock: Clock, per_second: float = 5) -> DebuggerRecorder:
    return DebuggerRecorder(store, RateSampler(per_second, clock=clock.monotonic), clock=clock.monotonic)


def written(store: DebuggerStore, source: str = "web") -> list[dict[str, Any]]:
    return [entry.message for entry in store.latest(source).entries]


def test_one_write_per_source_with_the_messages_as_archived(store: DebuggerStore, clock: Clock):
    events = [event(1), event(2, source="app"), event(3)]
    keys = recorder(store, clock).record(events)
    assert len(keys) == 2
    assert [m["messageId"] for m in written(store)] == ["m-web-3", "m-web-1"]  # newest first
    assert [m["messageId"] for m in written(store, "app")] == ["m-app-2"]


def test_a_quiet_source_is_written_at_once_batch_after_batch(store: DebuggerStore, clock: Clock):
    debugger = recorder(store, clock)
    for index in range(10):  # the burst: a developer's first events show at once
        assert len(debugger.record([event(index)])) == 1
        clock.advance(1)
    clock.advance(10)  # a token back
    assert len(debugger.record([event(9)])) == 1
    assert len(written(store)) == 11


def test_a_busy_source_is_written_about_every_ten_seconds_and_loses_nothing_kept(store: DebuggerStore, clock: Clock):
    debugger = recorder(store, clock, per_second=100)
    writes = 0
    for index in range(60):  # a batch every half second for 30 s
        writes += len(debugger.record([event(index)]))
        clock.advance(0.5)
    assert writes <= 10 + 30 / 10 + 1, "the burst, then one per ten seconds"
    clock.advance(10)
    writes += len(debugger.record([event(99, source="app")]))  # another source's batch writes what waited
    assert len(written(store)) == 60, "every kept message is written, late at most ten seconds"
    assert written(store, "app")


def test_the_sampling_rate_covers_every_batch_since_the_last_write(store: DebuggerStore, clock: Clock):
    debugger = recorder(store, clock, per_second=1)
    debugger.record([event(1)])  # kept and written: rate 1
    debugger.record([event(2), event(3)])  # no token for the sampler yet: nothing kept
    clock.advance(1)
    debugger.record([event(4)])  # kept: 1 of the 3 sent since the last write
    assert [entry.sampling_rate for entry in store.latest("web").entries] == [1 / 3, 1.0]


def test_a_rate_of_zero_writes_nothing(store: DebuggerStore, clock: Clock):
    assert DebuggerRecorder(store, RateSampler(0, clock=clock.monotonic)).record([event(1)]) == []


# The store.


def write(store: DebuggerStore, clock: Clock, events: list[StreamEvent], rate: float = 1.0) -> str:
    first = events[0]
    [key] = store.write_many(
        [DebuggerWrite(first.source_id, first.shard_id, first.sequence, rate, [e.data for e in events])]
    )
    clock.advance(1)
    return key


def test_object_names_list_newest_first():
    older = object_key("web", START, "shardId-000", "1")
    newer = object_key("web", START + timedelta(milliseconds=1), "shardId-000", "2")
    assert newer < older
    assert older.startswith(f"{DEBUGGER_PREFIX}web/")
    assert written_ms(older) == int(START.timestamp() * 1000)


def test_the_latest_messages_come_newest_first_with_their_sampling_rate(store: DebuggerStore, clock: Clock):
    write(store, clock, [event(1), event(2)], rate=1.0)
    write(store, clock, [event(3), event(4)], rate=0.25)
    page = store.latest("web")
    assert [entry.message_id for entry in page.entries] == ["m-web-4", "m-web-3", "m-web-2", "m-web-1"]
    assert [entry.sampling_rate for entry in page.entries] == [0.25, 0.25, 1.0, 1.0]
    assert page.sampling_rate == 0.25
    assert page.window == 4


def test_the_raw_view_is_the_message_as_archived(store: DebuggerStore, clock: Clock):
    sent = event(1, properties={"plan": "pro", "note": "naïve"})
    write(store, clock, [sent])
    [entry] = store.latest("web").entries
    assert entry.raw.encode() == sent.data
    assert orjson.loads(entry.pretty()) == sent.message
    assert entry.label == "Event 1"


def test_only_the_latest_500_are_shown(store: DebuggerStore, clock: Clock):
    for batch in range(11):  # 550 messages
        write(store, clock, [event(batch * 50 + i) for i in range(50)])
    page = store.latest("web")
    assert page.window == DEBUGGER_WINDOW
    assert len(page.entries) == DEBUGGER_WINDOW
    assert page.entries[0].message_id == "m-web-549"
    assert page.entries[-1].message_id == "m-web-50"


def test_search_finds_any_value_in_the_payload_in_any_case(store: DebuggerStore, clock: Clock):
    write(store, clock, [event(1, properties={"coupon": "SPRING-24"}), event(2, context={"ip": "203.0.113.9"})])
    assert [e.message_id for e in store.latest("web", search="spring-24").entries] == ["m-web-1"]
    assert [e.message_id for e in store.latest("web", search="203.0.113").entries] == ["m-web-2"]
    assert store.latest("web", search="nowhere").entries == ()


def test_the_type_filter_and_the_limit(store: DebuggerStore, clock: Clock):
    write(store, clock, [event(1), event(2, kind="identify"), event(3), event(4, kind="page", name="Home")])
    tracks = store.latest("web", call_type="track")
    assert [e.message_id for e in tracks.entries] == ["m-web-3", "m-web-1"]
    assert tracks.window == 4
    assert [e.message_id for e in store.latest("web", limit=1).entries] == ["m-web-4"]


def test_sources_are_apart(store: DebuggerStore, clock: Clock):
    write(store, clock, [event(1, source="app")])
    assert store.latest("web").entries == ()
    assert store.latest("web").sampling_rate is None


def test_after_a_cursor_only_newer_messages_come(store: DebuggerStore, clock: Clock):
    write(store, clock, [event(1)])
    first = store.latest("web")
    assert store.latest("web", after=first.cursor).entries == ()
    write(store, clock, [event(2)])
    second = store.latest("web", after=first.cursor)
    assert [e.message_id for e in second.entries] == ["m-web-2"]
    assert store.latest("web", after=second.cursor).entries == ()


def test_a_follow_sees_a_write_stamped_earlier_that_lands_later(store: DebuggerStore, clock: Clock):
    write(store, clock, [event(1)])
    clock.advance(2)
    write(store, clock, [event(2)])
    cursor = store.latest("web").cursor
    clock.advance(-5)  # another router stamped its write before event 2's but finished its PUT later
    write(store, clock, [event(3)])
    assert [e.message_id for e in store.latest("web", after=cursor).entries] == ["m-web-3"]


def test_a_cursor_survives_a_round_trip_as_text(store: DebuggerStore, clock: Clock):
    write(store, clock, [event(1)])
    cursor = store.latest("web").cursor
    assert DebuggerCursor.decode(cursor.encode()) == cursor
    with pytest.raises(ValueError):
        DebuggerCursor.decode("not a cursor")
