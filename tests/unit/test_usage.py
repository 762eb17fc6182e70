"""Usage: what a settled batch counts (API calls, events, bytes per source and day), MTUs by
Segment's definition with their error bound, and the usage table's merge across shards, hours,
router instances and concurrent writers; counters written by every batch, sketches at most a few at
once then once a minute per key; retried batches are counted by their retry only."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.resources import create_delivery_table
from switchyard.router.records import StreamEvent
from switchyard.router.service import KinesisRecord, Router
from switchyard.usage.people import People
from switchyard.usage.store import USAGE_SKETCH_BURST, USAGE_SKETCH_SECONDS, UsageStore, parse_month
from switchyard.usage.tally import UsageKey, tally
from tests.support.router import MemoryArchive, MemoryDedupe, MemoryQueue

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
TABLE = "delivery"


def message(index: int, source: str = "web", hour: str = "2026-11-30T10", **ids: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Clicked",
        "messageId": f"m-{source}-{index}",
        "projectId": source,
        "receivedAt": f"{hour}:15:00.000Z",
        **ids,
    }


def event(index: int, shard: str = "shardId-0", **fields: Any) -> StreamEvent:
    body = message(index, **fields)
    return StreamEvent(shard, str(index), orjson.dumps(body), body)


@pytest.fixture
def table() -> Iterator[DeliveryTable]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-west-2")
        create_delivery_table(dynamodb, TABLE)
        yield DeliveryTable(TABLE, dynamodb)


# MTUs: Segment's definition.


def people(*messages: dict[str, Any]) -> People:
    found = People()
    for body in messages:
        found.add(body)
    return found


def test_mtus_are_user_ids_plus_anonymous_ids_never_tied_to_one():
    mtus = people(
        message(1, userId="u1", anonymousId="a1"),  # a1 is tied to u1
        message(2, anonymousId="a1"),  # ... so a1 seen alone does not count
        message(3, anonymousId="a2"),  # never tied: counts
        message(4, userId="u2"),
        message(5, userId="u2", anonymousId="a3"),
    ).mtus()
    assert (mtus.total.value, mtus.users.value, mtus.anonymous.value) == (3, 2, 1)
    assert (mtus.total.lower, mtus.total.upper) == (3, 3), "small counts are exact"


def test_an_alias_ties_its_previous_id():
    mtus = people(message(1, anonymousId="a1"), {"type": "alias", "userId": "u1", "previousId": "a1"}).mtus()
    assert (mtus.users.value, mtus.anonymous.value) == (1, 0)


def test_numeric_and_empty_ids():
    mtus = people(message(1, userId=42), message(2, userId="42"), message(3, userId="", anonymousId="")).mtus()
    assert mtus.total.value == 1


def test_tied_in_another_hour_or_shard_is_still_tied_once_merged():
    alone = people(message(1, anonymousId="a1"), message(2, anonymousId="a2"))
    later = people(message(3, userId="u1", anonymousId="a1"))
    assert alone.merged(later).mtus().total.value == 2  # u1 and a2


def test_large_counts_are_estimated_within_the_printed_bound():
    crowd = People()
    for index in range(60_000):
        crowd.add(message(index, userId=f"u{index}", anonymousId=f"a{index}") if index % 3 == 0 else {})
        crowd.add(message(index, anonymousId=f"anon-{index}"))
    mtus = crowd.mtus()
    expected = 20_000 + 60_000
    assert mtus.total.lower <= expected <= mtus.total.upper
    assert 0 < mtus.total.relative_error < 0.1


def test_sketches_stay_small():
    crowd = People()
    for index in range(100_000):
        crowd.add(message(index, userId=f"u{index}", anonymousId=f"a{index}"))
    assert sum(len(part) for part in crowd.serialize()) < 7_000


# What a batch counts.


def test_calls_and_bytes_count_what_ingest_accepted_and_events_what_was_archived():
    received = [event(1, userId="u1"), event(2, userId="u1"), event(3, source="app", anonymousId="a")]
    archived = [received[0], received[2]]  # event 2 was a duplicate
    hours = tally(received, archived, NOW)
    web = hours[UsageKey("web", "2026-11-30T10", "shardId-0")]
    assert (web.calls, web.events, web.bytes) == (2, 1, len(received[0].data) + len(received[1].data))
    assert hours[UsageKey("app", "2026-11-30T10", "shardId-0")].events == 1


def test_calls_count_in_their_received_hour():
    hours = tally([event(1, hour="2026-11-30T10"), event(2, hour="2026-11-30T11")], [], NOW)
    assert {key.hour for key in hours} == {"2026-11-30T10", "2026-11-30T11"}


# The table.


def test_usage_adds_up_per_day_across_shards_hours_and_router_instances(table: DeliveryTable):
    first, recycled = UsageStore(table), UsageStore(table)  # a new container knows nothing in memory
    first.record(tally([event(1, userId="u1"), event(2, shard="shardId-1", userId="u2")], [], NOW), NOW)
    first.record(tally([event(3, hour="2026-11-30T11", userId="u1")], [], NOW), NOW)
    recycled.record(tally([event(4, anonymousId="a1"), event(5, hour="2026-11-29T23", userId="u3")], [], NOW), NOW)
    usage = UsageStore(table).source_month("web", "2026-11")
    assert [(day.day, day.calls) for day in usage.days] == [("2026-11-29", 1), ("2026-11-30", 4)]
    assert usage.calls == 5
    assert usage.mtus.total.value == 4  # u1, u2, u3, a1


def test_one_day_of_each_source_sums_its_hours_and_shards(table: DeliveryTable):
    store = UsageStore(table)
    store.record(tally([event(1, userId="u1"), event(2, shard="shardId-1", userId="u2")], [], NOW), NOW)
    store.record(tally([event(3, hour="2026-11-30T23", userId="u1"), event(4, hour="2026-11-29T23")], [], NOW), NOW)
    today = store.on_day(["web", "app"], "2026-11-30")
    assert (today["web"].day, today["web"].calls, today["web"].events) == ("2026-11-30", 3, 0)
    assert today["web"].bytes > 0
    assert today["app"].calls == 0


def test_a_writer_with_a_stale_copy_merges_with_what_another_wrote(table: DeliveryTable):
    one, two = UsageStore(table), UsageStore(table)
    one.record(tally([event(1, userId="u1")], [], NOW), NOW)
    two.record(tally([event(2, userId="u2")], [], NOW), NOW)  # same item: reads what `one` wrote
    one.record(tally([event(3, userId="u3")], [], NOW), NOW)  # its copy is stale: the condition fails, it merges
    usage = UsageStore(table).source_month("web", "2026-11")
    assert (usage.calls, usage.mtus.total.value) == (3, 3)


def test_other_months_and_sources_are_apart(table: DeliveryTable):
    store = UsageStore(table)
    store.record(tally([event(1, userId="u1"), event(2, hour="2026-10-31T23", userId="u2")], [], NOW), NOW)
    store.record(tally([event(3, source="app", userId="u1"), event(4, source="app", userId="u9")], [], NOW), NOW)
    assert store.source_month("web", "2026-11").calls == 1
    assert store.source_month("web", "2026-10").calls == 1
    report = store.report(["web", "app"], "2026-11")
    assert [(usage.source_id, usage.mtus.total.value) for usage in report.sources] == [("web", 1), ("app", 2)]
    assert report.mtus.total.value == 2, "u1 is one person across the sources"
    assert store.monthly_mtus(["app"], "2026-11").total.value == 2
    assert [day.calls for day in store.daily("app", "2026-11")] == [2]


# Counters every batch, sketches at most a few at once then once a minute per key.

THIS_HOUR = "2026-11-30T12"  # NOW's: its keys' sketches wait for tokens


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def item(table: DeliveryTable, sk: str, source: str = "web") -> dict[str, Any]:
    key = {"pk": {"S": f"usage#{source}"}, "sk": {"S": sk}}
    return table.client.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item", {})


def sketch_writes(table: DeliveryTable, sk: str = f"{THIS_HOUR}#shardId-0#people", source: str = "web") -> int:
    return int(item(table, sk, source).get("version", {}).get("N", 0))


def test_counters_and_sketches_are_two_items_and_a_single_event_shows_at_once(table: DeliveryTable):
    call = event(1, hour=THIS_HOUR, userId="u1")
    UsageStore(table, clock=FakeClock()).record(tally([call], [call], NOW), NOW)
    counters = item(table, f"{THIS_HOUR}#shardId-0")
    assert {name: counters[name]["N"] for name in ("calls", "events")} == {"calls": "1", "events": "1"}
    assert "users" not in counters and "version" not in counters, "a write unit: no sketches, no read, no condition"
    sketches = item(table, f"{THIS_HOUR}#shardId-0#people")
    assert "calls" not in sketches and sketches["version"]["N"] == "1"
    usage = UsageStore(table).source_month("web", "2026-11")
    assert (usage.calls, usage.events, usage.mtus.total.value) == (1, 1, 1)
    assert UsageStore(table).on_day(["web"], "2026-11-30")["web"].calls == 1, "the sketch item counts nothing"


def test_many_batches_count_exactly_and_write_the_sketches_at_most_a_burst_and_once_a_minute(table: DeliveryTable):
    clock = FakeClock()
    store = UsageStore(table, clock=clock)
    for index in range(100):  # 100 batches in 10 s
        clock.seconds = index / 10
        store.record(tally([event(index, hour=THIS_HOUR, userId=f"u{index}")], [], NOW), NOW)
    assert sketch_writes(table) <= USAGE_SKETCH_BURST + 1
    usage = UsageStore(table).source_month("web", "2026-11")
    assert usage.calls == 100, "counters are written by every batch"
    assert usage.mtus.total.value < 100, "the rest waits in memory"

    clock.seconds += USAGE_SKETCH_SECONDS
    store.record(tally([event(1, source="app", hour=THIS_HOUR, userId="v1")], [], NOW), NOW)  # another source
    assert UsageStore(table).source_month("web", "2026-11").mtus.total.value == 100, "written by app's batch"
    assert UsageStore(table).source_month("app", "2026-11").mtus.total.value == 1


def test_the_sketches_of_an_hour_that_is_over_are_written_at_once(table: DeliveryTable):
    store = UsageStore(table, clock=FakeClock())  # the clock stands still: no token comes back
    for index in range(USAGE_SKETCH_BURST + 2):
        store.record(tally([event(index, hour=THIS_HOUR, userId=f"u{index}")], [], NOW), NOW)
    assert UsageStore(table).source_month("web", "2026-11").mtus.total.value == USAGE_SKETCH_BURST
    next_hour = NOW + timedelta(hours=1)
    store.record(tally([event(9, source="app", hour="2026-11-30T13")], [], next_hour), next_hour)
    assert UsageStore(table).source_month("web", "2026-11").mtus.total.value == USAGE_SKETCH_BURST + 2
    late = [event(index, hour=THIS_HOUR, userId=f"late{index}") for index in range(USAGE_SKETCH_BURST + 2)]
    for one in late:  # late messages of the hour that is over: each batch writes, tokens or not
        store.record(tally([one], [], next_hour), next_hour)
    assert UsageStore(table).source_month("web", "2026-11").mtus.total.value == 2 * (USAGE_SKETCH_BURST + 2)


def test_sketches_a_write_failed_to_store_are_written_by_a_later_batch(table: DeliveryTable):
    class FailingOnce:
        def __init__(self, client: Any) -> None:
            self.client, self.failed = client, False

        def update_item(self, **request: Any) -> Any:
            if request["Key"]["sk"]["S"].endswith("#people") and not self.failed:
                self.failed = True
                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
            return self.client.update_item(**request)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

    store = UsageStore(DeliveryTable(TABLE, FailingOnce(table.client)), clock=FakeClock())
    with pytest.raises(ClientError):
        store.record(tally([event(1, userId="u1")], [], NOW), NOW)
    assert UsageStore(table).source_month("web", "2026-11").calls == 1, "the counters were written"
    store.record(tally([event(2, source="app", userId="u2")], [], NOW), NOW)
    assert UsageStore(table).source_month("web", "2026-11").mtus.total.value == 1


def test_items_written_before_the_split_count_their_counters_and_their_sketches(table: DeliveryTable):
    users, anonymous, tied = people(message(1, userId="u1", anonymousId="a1"), message(2, anonymousId="a2")).serialize()
    old = {"calls": {"N": "2"}, "events": {"N": "2"}, "bytes": {"N": "100"}, "version": {"N": "1"}}
    old |= {"users": {"B": users}, "anonymous": {"B": anonymous}, "tied": {"B": tied}}
    key = {"pk": {"S": "usage#web"}, "sk": {"S": "2026-11-30T10#shardId-0"}}
    table.client.put_item(TableName=TABLE, Item=key | old)
    UsageStore(table).record(tally([event(3, userId="u2"), event(4, userId="u1")], [], NOW), NOW)
    usage = UsageStore(table).source_month("web", "2026-11")
    assert (usage.calls, usage.events, usage.bytes > 100) == (4, 2, True)
    assert usage.mtus.total.value == 3  # u1, u2, a2
    assert UsageStore(table).on_day(["web"], "2026-11-30")["web"].calls == 4


def test_a_month_is_checked():
    assert parse_month("2026-11") == "2026-11"
    for text in ("2026-13", "26-11", "2026-1", "november"):
        with pytest.raises(ValueError):
            parse_month(text)


# A batch counts once: what the router reports as settled.

WORKSPACE = compile_workspace(
    parse_workspace("""\
workspace: acme
sources: [{id: web, name: Web, write_key: wk_web_123}]
destinations: [{id: hooks, type: webhook, sources: [web], settings: {url: "http://h/1"}}]
""")
)


def record(sequence: int, message_id: str, user: str) -> KinesisRecord:
    body = {**message(sequence, userId=user), "messageId": message_id}
    return KinesisRecord("shardId-0", str(sequence), base64.b64encode(orjson.dumps(body)).decode())


def test_a_batch_retried_whole_settles_nothing_and_its_retry_settles_it_once(table: DeliveryTable):
    queue = MemoryQueue(fail_times=1)
    router = Router(lambda: WORKSPACE, MemoryDedupe(), MemoryArchive(), queue)
    store = UsageStore(table)
    batch = [record(1, "a", "u1"), record(2, "b", "u2")]
    for _ in range(2):  # the first attempt fails to fan out; Lambda retries the batch
        report = router.process(batch)
        store.record(tally(report.settled_received, report.settled_archived, NOW), NOW)
    usage = store.source_month("web", "2026-11")
    assert (usage.calls, usage.events, usage.mtus.total.value) == (2, 2, 2)


def test_a_batch_counted_then_retried_counts_its_calls_twice_but_not_its_people(table: DeliveryTable):
    # The router failed after writing usage: Lambda retries the batch, which is counted again.
    batch = tally([event(1, userId="u1"), event(2, anonymousId="a1")], [], NOW)
    store = UsageStore(table)
    for _ in range(2):
        store.record(batch, NOW)
    usage = UsageStore(table).source_month("web", "2026-11")
    assert (usage.calls, usage.mtus.total.value) == (4, 2)


def test_a_batch_retried_from_its_middle_settles_the_part_before(table: DeliveryTable):
    dedupe = MemoryDedupe(fail={"c"})
    router = Router(lambda: WORKSPACE, dedupe, MemoryArchive(), MemoryQueue())
    batch = [record(1, "a", "u1"), record(2, "b", "u2"), record(3, "c", "u3"), record(4, "d", "u4")]
    report = router.process(batch)
    assert report.first_failure == "3"
    assert [e.message_id for e in report.settled_received] == ["a", "b"]
    assert [e.message_id for e in report.settled_archived] == ["a", "b"]
    dedupe.fail.clear()
    retry = router.process(batch[2:])
    assert [e.message_id for e in retry.settled_received] == ["c", "d"]
