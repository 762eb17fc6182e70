"""Event Delivery: per destination and minute, what was delivered, what was not, how fast, and why.

Each delivery invocation aggregates in memory and writes one update per destination and minute
(counters and a latency histogram) plus the latest sample of each error group it saw.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from switchyard.delivery.table import SK, DeliveryTable
from switchyard.timeutil import MINUTE_FORMAT, minute_key, parse_timestamp

# Latency histogram: bucket i holds latencies up to 1.1**i milliseconds (10% resolution).
_BUCKET_BASE = 1.1
STATS_RETENTION_DAYS = 30


class Count(StrEnum):
    """Event Delivery's counters per destination and minute (stored as `c_<name>`)."""

    RECEIVED = "received"  # first taken from the live lane: what the sources sent this destination
    REPLAYED = "replayed"  # first taken from the replay lane
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"  # final: refused, unsupported, discarded (dead letters included)
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    OMITTED = "omitted"  # parts an adapter left out of delivered events to meet a tool's limits
    FILTERED = "filtered"  # not for this destination (an unsupported call): neither delivered nor failed
    DEFERRED = "deferred"  # the circuit was open
    RATE_LIMITED = "rate_limited"
    OUT_OF_TIME = "out_of_time"
    INTERNAL_ERROR = "internal_error"
    DROPPED_BY_INSERT_FUNCTION = "dropped_by_insert_function"


# Each reason is counted under the step it belongs to (the Delivery Overview's), as `<prefix>_<label>`.
FAILED_PREFIX = "e"  # not delivered, final (dead letters included)
RETRYING_PREFIX = "r"
FILTERED_PREFIX = "f"
OMITTED_PREFIX = "o"  # delivered without some parts
REASON_PREFIXES = {Count.RETRIED: RETRYING_PREFIX, Count.FILTERED: FILTERED_PREFIX, Count.OMITTED: OMITTED_PREFIX}
REASON_PREFIX_NAMES = {FAILED_PREFIX, RETRYING_PREFIX, FILTERED_PREFIX, OMITTED_PREFIX}


def latency_bucket(milliseconds: float) -> int:
    return max(0, math.ceil(math.log(max(milliseconds, 1.0), _BUCKET_BASE)))


def bucket_upper_ms(bucket: int) -> float:
    return _BUCKET_BASE**bucket


@dataclass
class _Minute:
    counters: Counter[str] = field(default_factory=Counter)  # delivered, not_delivered, retried, ...
    latency: Counter[int] = field(default_factory=Counter)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (reason prefix, label) -> events


class DeliveryStats:
    """Collects one invocation's outcomes; `flush` writes them."""

    def __init__(self, table: DeliveryTable) -> None:
        self._table = table
        self._minutes: dict[tuple[str, str], _Minute] = defaultdict(_Minute)
        self._samples: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def delivered(
        self, destination_id: str, event: dict[str, Any], answered_at: float, *, measure_latency: bool = True
    ) -> float | None:
        """Counts a delivery; returns its end-to-end latency in ms (receivedAt to the answer)."""
        latency = None
        received = parse_timestamp(event.get("receivedAt")) if measure_latency else None
        if received is not None:
            latency = max(0.0, (answered_at - received.replace(tzinfo=UTC).timestamp()) * 1000)
        with self._lock:
            minute = self._minutes[(destination_id, _minute_of(answered_at))]
            minute.counters[Count.DELIVERED] += 1
            if latency is not None:
                minute.latency[latency_bucket(latency)] += 1
        return latency

    def failed(self, destination_id: str, label: str, at: float, *, counter: Count, sample: dict[str, Any]) -> None:
        """counter: `retried` (will be tried again), `not_delivered` (final), `dead_lettered`, or
        `filtered` (not for this destination)."""
        with self._lock:
            minute = self._minutes[(destination_id, _minute_of(at))]
            minute.counters[counter] += 1
            if counter is Count.DEAD_LETTERED:
                minute.counters[Count.NOT_DELIVERED] += 1
            minute.reasons[(REASON_PREFIXES.get(counter, FAILED_PREFIX), label)] += 1
            self._samples[(destination_id, label)] = {
                **sample,
                "at": datetime.fromtimestamp(at, UTC).isoformat(),
            }

    def count(self, destination_id: str, counter: Count, at: float, amount: int = 1) -> None:
        with self._lock:
            self._minutes[(destination_id, _minute_of(at))].counters[counter] += amount

    def flush(self) -> None:
        with self._lock:
            minutes, self._minutes = self._minutes, defaultdict(_Minute)
            samples, self._samples = self._samples, {}
        for (destination_id, minute), data in minutes.items():
            self._write_minute(destination_id, minute, data)
        expires_at = int(datetime.now(UTC).timestamp()) + STATS_RETENTION_DAYS * 86400
        for (destination_id, label), sample in samples.items():
            self._table.put_sample(f"errors#{destination_id}", label, sample, expires_at)

    def _write_minute(self, destination_id: str, minute: str, data: _Minute) -> None:
        counts = {f"c_{name}": count for name, count in data.counters.items()}
        counts |= {f"l_{bucket}": count for bucket, count in data.latency.items()}
        counts |= {f"{prefix}_{label}": count for (prefix, label), count in data.reasons.items()}
        self._table.add_counts(f"stats#{destination_id}", minute, counts, _expiry(minute))


def _minute_of(epoch_seconds: float) -> str:
    return minute_key(datetime.fromtimestamp(epoch_seconds, UTC))


def _expiry(minute: str) -> int:
    moment = datetime.strptime(minute, MINUTE_FORMAT).replace(tzinfo=UTC)
    return int(moment.timestamp()) + STATS_RETENTION_DAYS * 86400


@dataclass(frozen=True)
class LatencyPoint:
    start: datetime
    p95_ms: float | None  # None: nothing delivered live in that slice


@dataclass
class DeliveryReport:
    """One destination over a period, as the Delivery Overview shows it: what arrived, what was
    filtered, retried, failed and delivered, each with its reasons, and how fast."""

    destination_id: str
    since: datetime
    until: datetime
    delivered: int
    not_delivered: int
    retried: int
    dead_lettered: int
    filtered: int
    p95_latency_ms: float | None
    samples: dict[str, dict[str, Any]]
    received: int = 0  # first taken from the live lane
    replayed: int = 0  # first taken from the replay lane
    failed_reasons: dict[str, int] = field(default_factory=dict)  # final; dead letters included
    retrying_reasons: dict[str, int] = field(default_factory=dict)
    filtered_reasons: dict[str, int] = field(default_factory=dict)
    omitted_reasons: dict[str, int] = field(default_factory=dict)  # delivered without some parts
    dropped_by_insert_function: int = 0
    latency_trend: list[LatencyPoint] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        total = self.delivered + self.not_delivered
        return self.delivered / total if total else None

    @property
    def errors(self) -> dict[str, int]:
        """Every reason an event was not delivered (yet) or delivered incomplete, most frequent first."""
        merged = Counter(self.failed_reasons) + Counter(self.retrying_reasons) + Counter(self.omitted_reasons)
        return dict(merged.most_common())


TREND_POINTS = 12  # the latency trend's slices per period


def read_report(
    table: DeliveryTable, destination_id: str, since: timedelta, now: datetime | None = None
) -> DeliveryReport:
    now = now or datetime.now(UTC)
    start = now - since
    items = table.query_all(
        f"stats#{destination_id}",
        sk_from=minute_key(start),
        sk_to=minute_key(now),
    )
    slice_seconds = max(60.0, since.total_seconds() / TREND_POINTS)
    counters: Counter[str] = Counter()
    latency: Counter[int] = Counter()
    latency_by_slice: dict[int, Counter[int]] = defaultdict(Counter)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        minute = datetime.strptime(item[SK]["S"], MINUTE_FORMAT).replace(tzinfo=UTC)
        slice_index = int(max(0.0, (minute - start).total_seconds()) // slice_seconds)
        for name, value in item.items():
            prefix, _, label = name.partition("_")
            if not label:
                continue
            count = int(value["N"]) if "N" in value else 0
            if prefix == "c":
                counters[label] += count
            elif prefix == "l":
                latency[int(label)] += count
                latency_by_slice[slice_index][int(label)] += count
            elif prefix in REASON_PREFIX_NAMES:
                reasons[prefix][label] += count
    every_reason = set().union(*reasons.values()) if reasons else set()
    samples = {
        item[SK]["S"]: orjson.loads(item["sample"]["S"])
        for item in table.query_all(f"errors#{destination_id}")
        if item[SK]["S"] in every_reason
    }
    slices = math.ceil(since.total_seconds() / slice_seconds)
    trend = [
        LatencyPoint(start + timedelta(seconds=index * slice_seconds), percentile(latency_by_slice[index], 0.95))
        for index in range(slices)
    ]
    return DeliveryReport(
        destination_id=destination_id,
        since=start,
        until=now,
        delivered=counters[Count.DELIVERED],
        not_delivered=counters[Count.NOT_DELIVERED],
        retried=counters[Count.RETRIED],
        dead_lettered=counters[Count.DEAD_LETTERED],
        filtered=counters[Count.FILTERED],
        p95_latency_ms=percentile(latency, 0.95),
        samples=samples,
        received=counters[Count.RECEIVED],
        replayed=counters[Count.REPLAYED],
        failed_reasons=dict(reasons[FAILED_PREFIX].most_common()),
        retrying_reasons=dict(reasons[RETRYING_PREFIX].most_common()),
        filtered_reasons=dict(reasons[FILTERED_PREFIX].most_common()),
        omitted_reasons=dict(reasons[OMITTED_PREFIX].most_common()),
        dropped_by_insert_function=counters[Count.DROPPED_BY_INSERT_FUNCTION],
        latency_trend=trend,
    )


def percentile(histogram: Counter[int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    needed = math.ceil(total * fraction)
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= needed:
            return bucket_upper_ms(bucket)
    return None
