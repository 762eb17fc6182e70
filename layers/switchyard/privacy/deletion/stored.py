"""What the delivery table keeps of received events, cleared of the deleted users: Event
Delivery's error samples (`errors#<destination>`), tracking plans' violation samples
(`violation-samples#<source>`) and dead letters (`dlq#<destination>`).

Samples are matched on the ids' JSON text anywhere in them (a sample shows a request as the tool
received it, in whatever shape); dead letters on the queued event's userId and anonymousId.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from switchyard.config.compiled import CompiledWorkspace
from switchyard.delivery.requests import DeliveryRequest
from switchyard.delivery.table import PK, SK, DeliveryTable
from switchyard.privacy.deletion.model import Subjects


class StoredEvents:
    def __init__(self, table: DeliveryTable) -> None:
        self._table = table

    def clear(self, workspace: CompiledWorkspace, subjects: Subjects) -> Counter[str]:
        counts: Counter[str] = Counter()
        texts = subjects.texts()
        for destination in workspace.destinations:
            counts["error_samples_removed"] += self._clear_samples(f"errors#{destination.id}", texts)
            for item in self._table.query_all(f"dlq#{destination.id}"):
                if subjects.holds(DeliveryRequest.from_body(item["request"]["S"]).event):
                    self._delete(item)
                    counts["dead_letters_removed"] += 1
        for source in workspace.sources:
            counts["violation_samples_removed"] += self._clear_samples(f"violation-samples#{source.id}", texts)
        return counts

    def _clear_samples(self, pk: str, texts: list[bytes]) -> int:
        removed = 0
        for item in self._table.query_all(pk):
            sample = item.get("sample", {}).get("S", "").encode()
            if any(text in sample for text in texts):
                self._delete(item)
                removed += 1
        return removed

    def _delete(self, item: dict[str, Any]) -> None:
        self._table.client.delete_item(TableName=self._table.name, Key={PK: item[PK], SK: item[SK]})
