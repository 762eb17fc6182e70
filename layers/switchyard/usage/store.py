r"""Usage in the delivery table: one item per source, hour and shard, written by the router after
each batch, read and merged by `switchyard usage` and the console.

| pk               | sk                          | what                                             |
|------------------|-----------------------------|--------------------------------------------------|
| `usage#<source>` | `<YYYY-MM-DDTHH>#<shard>`   | calls, events, bytes (counters), the three MTU sketches, a version |

Kinesis gives each shard one router invocation at a time (with `router_parallelization` above 1,
a few), so an item has one writer, or a few. A write is one UpdateItem: the counters are added
(ADD), the sketches replaced by their merge with the batch's, on the condition that the item's
version is the one the merge was made from; a writer that lost the race reads the item again and
merges again. The router keeps the items it wrote last in memory (no read per batch); a recycled
container reads them again. So no count is lost to a concurrent writer or a new container.

A batch is counted once it is settled (a retried batch by its retry). Should the router fail
between this write and the end of its invocation, the retry adds the batch's counters a second
time (the sketches are idempotent: MTUs are not affected).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from switchyard.delivery.table import PK, SK, TTL, DeliveryTable
from switchyard.usage import USAGE_PK_PREFIX
from switchyard.usage.people import Mtus, People
from switchyard.usage.tally import HourUsage, UsageKey

# This month against the same month a year ago.
RETENTION_DAYS = 400
MAX_ATTEMPTS = 5  # merges of one item lost to concurrent writers before the write gives up
REMEMBERED_ITEMS = 256  # items a router instance keeps in memory (the hours and sources it writes)
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
    def __init__(self, table: DeliveryTable, *, workers: int = 8) -> None:
        self._table = table
        self._remembered: OrderedDict[UsageKey, _Stored] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="usage")

    # Writing (the router).

    def record(self, hours: dict[UsageKey, HourUsage], at: datetime) -> None:
        """Add a settled batch's usage: one write per source, hour and shard, concurrently."""
        expiry = int((at + timedelta(days=RETENTION_DAYS)).timestamp())
        list(self._pool.map(lambda item: self._add(item[0], item[1], expiry), hours.items()))

    def _add(self, key: UsageKey, usage: HourUsage, expiry: int) -> None:
        with self._lock:
            stored = self._remembered.get(key)
        for _ in range(MAX_ATTEMPTS):
            if stored is None:
                stored = self._read(key)
            merged = stored.people.merged(usage.people)
            try:
                self._write(key, stored.version, merged, usage, expiry)
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
        item = self._table.client.get_item(
            TableName=self._table.name, Key=_key(key.source_id, key.hour, key.shard_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            return _Stored(0, People())
        return _Stored(int(item["version"]["N"]), _people(item))

    def _write(self, key: UsageKey, version: int, people: People, usage: HourUsage, expiry: int) -> None:
        users, anonymous, tied = people.serialize()
        values: dict[str, Any] = {
            ":calls": {"N": str(usage.calls)},
            ":events": {"N": str(usage.events)},
            ":bytes": {"N": str(usage.bytes)},
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
            Key=_key(key.source_id, key.hour, key.shard_id),
            UpdateExpression=(
                "ADD #calls :calls, #events :events, #bytes :bytes "
                "SET #users = :users, #anonymous = :anonymous, #tied = :tied, #version = :next, #ttl = :ttl"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={
                "#calls": "calls",
                "#events": "events",
                "#bytes": "bytes",
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
            totals = days.setdefault(item[SK]["S"][:10], [0, 0, 0])
            for index, name in enumerate(("calls", "events", "bytes")):
                if name in item:
                    totals[index] += int(item[name]["N"])
            sketches.append(_people(item))
        people = People().merged(*sketches)
        daily = tuple(DailyUsage(day, *totals) for day, totals in sorted(days.items()))
        return SourceUsage(source_id, month, daily, people.mtus()), people

    def _month_items(self, source_id: str, month: str) -> list[dict[str, Any]]:
        month = parse_month(month)
        return self._table.query_all(f"{USAGE_PK_PREFIX}{source_id}", sk_from=f"{month}-01T00", sk_to=f"{month}-31T23~")


def _key(source_id: str, hour: str, shard_id: str) -> dict[str, Any]:
    return {PK: {"S": f"{USAGE_PK_PREFIX}{source_id}"}, SK: {"S": f"{hour}#{shard_id}"}}


def _people(item: dict[str, Any]) -> People:
    return People.deserialize(item["users"]["B"], item["anonymous"]["B"], item["tied"]["B"])
