"""Where personal data was seen: per source and day, how many events held each class of personal
data in each field (list positions as `*`), in the delivery table (`pii#<source>`, sk the day).

The router looks at the events it archives (not duplicates, not blocked ones): SAMPLE_PER_BATCH
events per source in the batch, picked at random from the whole batch, and counts them scaled to the
source's events in the batch, so the inventory costs about the same per batch whatever its size
(a field in one event of a thousand is found over a few batches, not in every one). It writes once
per batch and source: one update adding the batch's counts. At most MAX_FIELDS_PER_BATCH (class,
field) pairs per source and batch are counted, and keys that are not names (ids, uuids, emails used
as keys) are folded to `*`, so generated keys cannot make a write or the day's item grow with the
traffic; a source with thousands of distinct field names would still fill its day's item (400 KB),
after which that day's further counts are lost (logged).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from switchyard.delivery.table import DeliveryTable
from switchyard.privacy.pii import PiiScanner

RETENTION_DAYS = 90
MAX_FIELDS_PER_BATCH = 100
SAMPLE_PER_BATCH = 10
_SEPARATOR = " | "
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ $-]{0,63}")
_ID_LIKE = re.compile(r"[0-9A-Fa-f]{8}|[0-9]{6}")  # a long run of hex or digits: an id, not a name


def field_pattern(path: tuple[str, ...]) -> str:
    """`traits.cards.0` -> `traits.cards.*`: one row per field, whatever the list position. A key
    that is not a name (an id, a uuid, an email used as a key) is folded to `*` too: it would make
    a row per value, and could itself be personal data."""
    return ".".join(key if _NAME.fullmatch(key) and not _ID_LIKE.search(key) else "*" for key in path)


def count_pii(
    scanner: PiiScanner,
    messages: list[tuple[str, dict[str, Any]]],
    sample: int = SAMPLE_PER_BATCH,
    rng: random.Random | None = None,
) -> Counter[tuple[str, str, str]]:
    """(source, class, field) -> the source's events holding it, estimated from `sample` events per
    source in the batch, picked at random from the whole batch (an every-n-th pick would miss what
    alternates with n; a source with few events may go unseen in one batch, not in many); at most
    MAX_FIELDS_PER_BATCH pairs per source."""
    rng = rng or random.Random()
    totals = Counter(source_id for source_id, _ in messages)
    picked = sample * len(totals)
    looked_at = messages if len(messages) <= picked else rng.sample(messages, picked)
    sampled = Counter(source_id for source_id, _ in looked_at)
    seen: dict[str, Counter[tuple[str, str]]] = {source_id: Counter() for source_id in sampled}
    for source_id, message in looked_at:
        pairs = seen[source_id]
        for pair in {(found.kind, field_pattern(found.path)) for found in scanner.find(message)}:
            if pair in pairs or len(pairs) < MAX_FIELDS_PER_BATCH:
                pairs[pair] += 1
    counts: Counter[tuple[str, str, str]] = Counter()
    for source_id, pairs in seen.items():
        weight = totals[source_id] / sampled[source_id]
        for (kind, field), count in pairs.items():
            counts[(source_id, kind, field)] = max(1, round(count * weight))
    return counts


class PiiInventory:
    def __init__(self, table: DeliveryTable) -> None:
        self._table = table

    def record(self, counts: Counter[tuple[str, str, str]], at: datetime) -> None:
        by_source: dict[str, Counter[str]] = {}
        for (source_id, kind, field), count in counts.items():
            by_source.setdefault(source_id, Counter())[f"{kind}{_SEPARATOR}{field}"] += count
        expiry = int((at + timedelta(days=RETENTION_DAYS)).timestamp())
        for source_id, fields in by_source.items():
            self._table.add_counts(f"pii#{source_id}", at.strftime("%Y-%m-%d"), fields, expiry)


@dataclass
class InventoryReport:
    source_id: str
    days: int
    seen: dict[tuple[str, str], int]  # (class, field) -> events


def read_inventory(table: DeliveryTable, source_id: str, days: int, now: datetime | None = None) -> InventoryReport:
    now = now or datetime.now(UTC)
    first = (now - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    seen: Counter[tuple[str, str]] = Counter()
    for item in table.query_all(f"pii#{source_id}", sk_from=first, sk_to=now.strftime("%Y-%m-%d")):
        for name, value in item.items():
            if _SEPARATOR in name:
                kind, _, field = name.partition(_SEPARATOR)
                seen[(kind, field)] += int(value["N"])
    return InventoryReport(source_id, days, dict(sorted(seen.items())))
