r"""Usage in the delivery table, written by the router after each batch, read and merged by
`switchyard usage` and the console. Two items per source, hour and shard:

| pk               | sk                                 | what                                    |
|------------------|------------------------------------|-----------------------------------------|
| `usage#<source>` | `<YYYY-MM-DDTHH>#<shard>`          | calls, events, bytes (counters)         |
| `usage#<source>` | `<YYYY-MM-DDTHH>#<shard>#people`   | the three MTU sketches, a version       |

The counters are added by every settled batch: one unconditional UpdateItem (ADD), a write unit,
atomic whatever the writers. The sketches (up to ~7 write units) are written at most a few times
at once, then once a minute per key (usage/pending.py); a batch's ids wait in memory until then.
A sketch write replaces the sketches by their merge with the pending ones, on the condition that
the item's version is the one the merge was made from; a writer that lost the race reads the item
again and merges again. Kinesis gives each shard one router invocation at a time (with
`router_parallelization` above 1, a few), so an item has one writer, or a few. The router keeps
the sketches it wrote last in memory (no read per write); a recycled container reads them again.

What can be lost: the ids not yet written when a router container ends (its last minute or so of a
busy key's ids; those of an hour that is over are written by the first batch after it) are missing
from the MTUs. Counters are never lost that way. Items written before the split hold counters and
sketches together under the counters' key: they are read as both.

A batch is counted once it is settled (a retried batch by its retry). Should the router fail
between this write and the end of its invocation, the retry adds the batch's counters a second
time (the sketches are idempotent: MTUs are not affected).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from switchyard.delivery.table import PK, SK, TTL, DeliveryTable
from switchyard.usage import USAGE_PK_PREFIX, USAGE_SKETCH_SUFFIX
from switchyard.usage.pending import PendingSketches
from switchyard.usage.people import Mtus, People
from switchyard.usage.tally import HourUsage, UsageKey

# This month against the same month a year ago.
RETENTION_DAYS = 400
MAX_ATTEMPTS = 5  # merges of one item lost to concurrent writers before the write gives up
REMEMBERED_ITEMS = 256  # items a router instance keeps in memory (the hours and sources it writes)
# A sketch item is billed up to ~7 write units (a counters item one), so a key's sketches are
# written at most USAGE_SKETCH_BURST times at once, then once per USAGE_SKETCH_SECONDS, the ids of
# the batches in between waiting in memory: a quiet source is still written at once, and a busy
# one costs a sketch write per shard and minute, whatever its batches.
USAGE_SKETCH_BURST = 3
USAGE_SKETCH_SECONDS = 60
_COUNTERS = ("calls", "events", "bytes")  # the counters item's, as DailyUsage orders them
_SKETCHES = ("users", "anonymous", "tied")  # the sketch item's, as People.deserialize takes them
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class UsageWriteConflict(Exception):
    """Other writers kept changing an item; this batch's usage was not added."""


def parse_month(text: str) -> str:
    """`YYYY-MM`, checked."""
    if not _MONTH.match(text.strip()):
        raise ValueError(f"not a month: {text!r} (expected YYYY-MM, e.g. 2026-11)")
    return text.strip()


def month_of(at: datetime) -> str:
    return at.strftime("%Y-%m")


@dataclass(frozen=True)
class DailyUsage:
    day: str  # YYYY-MM-DD (UTC, received)
    calls: int
    events: int
    bytes: int


@dataclass(frozen=True)
class SourceUsage:
    source_id: str
    month: str
    days: tuple[DailyUsage, ...]  # days with usage, in order
    mtus: Mtus

    @property
    def calls(self) -> int:
        return sum(day.calls for day in self.days)

    @property
    def events(self) -> int:
        return sum(day.events for day in self.days)

    @property
    def bytes(self) -> int:
        return sum(day.bytes for day in self.days)


@dataclass(frozen=True)
class UsageReport:
    month: str
    sources: tuple[SourceUsage, ...]
    # Across the sources: each person once, however many sources saw them (not the sum).
    mtus: Mtus


@dataclass
class _Stored:
    version: int
    people: People


class UsageStore:
    def __init__(self, table: DeliveryTable, *, workers: int = 8, clock: Callable[[], float] = time.monotonic) -> None:
        self._table = table
        self._remembered: OrderedDict[UsageKey, _Stored] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="usage")
        self._pending = PendingSketches(clock, USAGE_SKETCH_BURST, USAGE_SKETCH_SECONDS)

    # Writing (the router).

    def record(self, hours: dict[UsageKey, HourUsage], at: datetime) -> None:
        """Add a settled batch's usage: its counters, one write per source, hour and shard, and the
        sketches that are due (this batch's, or other keys' still pending), concurrently."""
        expiry = int((at + timedelta(days=RETENTION_DAYS)).timestamp())
        for key, usage in hours.items():
            self._pending.add(key, usage.people)
        due = self._pending.due(at.strftime("%Y-%m-%dT%H"))
        counted = [self._pool.submit(self._count, key, usage, expiry) for key, usage in hours.items()]
        sketched = {key: self._pool.submit(self._sketch, key, people, expiry) for key, people in due.items()}
        wait([*counted, *sketched.values()])
        for key, future in sketched.items():
            if future.exception() is not None:
                self._pending.add(key, due[key])  # not lost: a later batch writes them
        for future in [*counted, *sketched.values()]:
            if (error := future.exception()) is not None:
                raise error

    def _count(self, key: UsageKey, usage: HourUsage, expiry: int) -> None:
        self._table.add_counts(
            f"{USAGE_PK_PREFIX}{key.source_id}",
            _counters_sk(key),
            {"calls": usage.calls, "events": usage.events, "bytes": usage.bytes},
            expiry,
        )

    def _sketch(self, key: UsageKey, people: People, expiry: int) -> None:
        with self._lock:
            stored = self._remembered.get(key)
        for _ in range(MAX_ATTEMPTS):
            if stored is None:
                stored = self._read(key)
            merged = stored.people.merged(people)
            try:
                self._write(key, stored.version, merged, expiry)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                stored = None  # another writer got there first: merge with what it wrote
                continue
            self._remember(key, _Stored(stored.version + 1, merged))
            return
        self._forget(key)
        raise UsageWriteConflict(f"{key}: changed by other writers {MAX_ATTEMPTS} times in a row")

    def _read(self, key: UsageKey) -> _Stored:
        response = self._table.client.get_item(TableName=self._table.name, Key=_sketch_key(key), ConsistentRead=True)
        item = response.get("Item")
        if item is None:
            return _Stored(0, People())
        return _Stored(int(item["version"]["N"]), _people(item))

    def _write(self, key: UsageKey, version: int, people: People, expiry: int) -> None:
        users, anonymous, tied = people.serialize()
        values: dict[str, Any] = {
            ":users": {"B": users},
            ":anonymous": {"B": anonymous},
            ":tied": {"B": tied},
            ":next": {"N": str(version + 1)},
            ":ttl": {"N": str(expiry)},
        }
        if version:
            condition = "#version = :version"
            values[":version"] = {"N": str(version)}
        else:
            condition = "attribute_not_exists(#version)"
        self._table.client.update_item(
            TableName=self._table.name,
            Key=_sketch_key(key),
            UpdateExpression=(
                "SET #users = :users, #anonymous = :anonymous, #tied = :tied, #version = :next, #ttl = :ttl"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={
                "#users": "users",
                "#anonymous": "anonymous",
                "#tied": "tied",
                "#version": "version",
                "#ttl": TTL,
            },
            ExpressionAttributeValues=values,
        )

    def _remember(self, key: UsageKey, stored: _Stored) -> None:
        with self._lock:
            self._remembered[key] = stored
            self._remembered.move_to_end(key)
            while len(self._remembered) > REMEMBERED_ITEMS:
                self._remembered.popitem(last=False)

    def _forget(self, key: UsageKey) -> None:
        with self._lock:
            self._remembered.pop(key, None)

    # Reading (the CLI, the console).

    def source_month(self, source_id: str, month: str) -> SourceUsage:
        """A source's usage per day of `month` (YYYY-MM) and its MTUs."""
        return self._summarize(source_id, month)[0]

    def daily(self, source_id: str, month: str) -> list[DailyUsage]:
        return list(self.source_month(source_id, month).days)

    def on_day(self, source_ids: Sequence[str], day: str) -> dict[str, DailyUsage]:
        """Each source's calls, events and bytes of one UTC day (YYYY-MM-DD), without the sketches:
        what the console's Sources page shows for today, a small read per source."""

        def read(source_id: str) -> DailyUsage:
            totals = [0, 0, 0]
            for item in self._table.query_all(
                f"{USAGE_PK_PREFIX}{source_id}", attributes=_COUNTERS, sk_from=f"{day}T00", sk_to=f"{day}T23~"
            ):
                for index, name in enumerate(_COUNTERS):
                    if name in item:
                        totals[index] += int(item[name]["N"])
            return DailyUsage(day, *totals)

        return dict(zip(source_ids, self._pool.map(read, source_ids), strict=True))

    def report(self, source_ids: Sequence[str], month: str) -> UsageReport:
        """Each source's month, and the MTUs across all of them (the sources' sketches merged)."""
        summaries = [self._summarize(source_id, month) for source_id in source_ids]
        everyone = People().merged(*(people for _, people in summaries))
        return UsageReport(month, tuple(usage for usage, _ in summaries), everyone.mtus())

    def monthly_mtus(self, source_ids: Sequence[str], month: str) -> Mtus:
        """MTUs of `month` across these sources (one source: that source's)."""
        return self.report(source_ids, month).mtus

    def _summarize(self, source_id: str, month: str) -> tuple[SourceUsage, People]:
        days: dict[str, list[int]] = {}
        sketches = []
        for item in self._month_items(source_id, month):
            # A counters item, a sketch item, or one written before they were split (both).
            if any(name in item for name in _COUNTERS):
                totals = days.setdefault(item[SK]["S"][:10], [0, 0, 0])
                for index, name in enumerate(_COUNTERS):
                    if name in item:
                        totals[index] += int(item[name]["N"])
            if all(name in item for name in _SKETCHES):
                sketches.append(_people(item))
        people = People().merged(*sketches)
        daily = tuple(DailyUsage(day, *totals) for day, totals in sorted(days.items()))
        return SourceUsage(source_id, month, daily, people.mtus()), people

    def _month_items(self, source_id: str, month: str) -> list[dict[str, Any]]:
        month = parse_month(month)
        return self._table.query_all(f"{USAGE_PK_PREFIX}{source_id}", sk_from=f"{month}-01T00", sk_to=f"{month}-31T23~")


def _counters_sk(key: UsageKey) -> str:
    return f"{key.hour}#{key.shard_id}"


def _sketch_key(key: UsageKey) -> dict[str, Any]:
    return {PK: {"S": f"{USAGE_PK_PREFIX}{key.source_id}"}, SK: {"S": _counters_sk(key) + USAGE_SKETCH_SUFFIX}}


def _people(item: dict[str, Any]) -> People:
    return People.deserialize(*(item[name]["B"] for name in _SKETCHES))
