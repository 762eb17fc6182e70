"""What ingest refused of a source's requests, per minute and reason, for the Delivery Overview's
"failed on ingest" step (delivery/overview.py): key `ingest#<source>` in the delivery table.

Only a request with discarded messages writes (one update adding its counts), so the figure costs
nothing for valid traffic; a malformed request costs one DynamoDB write ($1.25 per million). A
request refused as a whole before its source is known (no or an unknown write key) has no source
to count under: those are the `RequestsRefused` metric.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from switchyard.delivery.table import DeliveryTable
from switchyard.timeutil import minute_key

RETENTION_DAYS = 30
KEY_PREFIX = "ingest#"
_PREFIX = "d_"


class DiscardStats:
    def __init__(self, table: DeliveryTable) -> None:
        self._table = table

    def record(self, source_id: str, discards: Mapping[str, int], at: datetime) -> None:
        if not discards:
            return
        expires_at = int((at + timedelta(days=RETENTION_DAYS)).timestamp())
        counts = {f"{_PREFIX}{reason}": count for reason, count in discards.items()}
        self._table.add_counts(f"{KEY_PREFIX}{source_id}", minute_key(at), counts, expires_at)


def read_discards(
    table: DeliveryTable, source_id: str, since: timedelta, now: datetime | None = None
) -> dict[str, int]:
    """Messages discarded per reason over the period, most frequent first."""
    now = now or datetime.now(UTC)
    totals = table.minute_totals(f"{KEY_PREFIX}{source_id}", now - since, now)
    discards = Counter({name[len(_PREFIX) :]: count for name, count in totals.items() if name.startswith(_PREFIX)})
    return dict(discards.most_common())
