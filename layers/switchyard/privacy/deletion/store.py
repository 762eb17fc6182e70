"""User deletions' audit records in the delivery table: the request, status, progress and outcome.

| pk              | sk                    | what                                              |
|-----------------|-----------------------|---------------------------------------------------|
| `deletion#<id>` | `deletion`            | who asked, when, progress, ties, destinations' answers |
| `deletions`     | `<requested>#<id>`    | index for `switchyard users deletions`            |

The record never expires: it is the proof a deletion was carried out. It names the ids deleted (as
the request did) and no event data; which objects were rewritten is in the report object the finish
step writes beside the manifest (`report_key`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from switchyard.delivery.table import PK, SK, DeliveryTable
from switchyard.privacy.deletion.model import FINISHED, DeletionRequest, DeletionStatus

_INDEX = "deletions"
_TIED = "tied"


@dataclass
class DeletionRecord:
    request: DeletionRequest
    status: DeletionStatus
    execution_arn: str = ""
    objects: int = 0
    batches: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    tied_anonymous_ids: frozenset[str] = frozenset()
    destinations: list[dict[str, Any]] = field(default_factory=list)
    report_key: str = ""
    error: str = ""
    finished_at: str = ""

    def counter(self, name: str) -> int:
        return self.counters.get(name, 0)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DeletionStore:
    def __init__(self, table: DeliveryTable) -> None:
        self._table = table

    @staticmethod
    def _pk(deletion_id: str) -> str:
        return f"deletion#{deletion_id}"

    def _key(self, deletion_id: str) -> dict[str, Any]:
        return {PK: {"S": self._pk(deletion_id)}, SK: {"S": "deletion"}}

    def create(self, request: DeletionRequest, execution_arn: str) -> None:
        client = self._table.client
        client.put_item(
            TableName=self._table.name,
            Item={
                **self._key(request.id),
                "request": {"S": orjson.dumps(request.to_input()).decode()},
                "status": {"S": DeletionStatus.PENDING},
                "execution_arn": {"S": execution_arn},
                "created_at": {"S": _now()},
            },
            ConditionExpression=f"attribute_not_exists({PK})",
        )
        client.put_item(
            TableName=self._table.name, Item={PK: {"S": _INDEX}, SK: {"S": f"{request.requested_at}#{request.id}"}}
        )

    def planned(self, deletion_id: str, objects: int, batches: int) -> None:
        """Running, with the plan's size (again on a retried plan step: same listing, same numbers)."""
        self._table.client.update_item(
            TableName=self._table.name,
            Key=self._key(deletion_id),
            UpdateExpression="SET #status = :running, objects = :objects, batches = :batches",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":running": {"S": DeletionStatus.RUNNING},
                ":objects": {"N": str(objects)},
                ":batches": {"N": str(batches)},
            },
        )

    def add_ties(self, deletion_id: str, anonymous_ids: set[str]) -> None:
        if anonymous_ids:
            self._table.client.update_item(
                TableName=self._table.name,
                Key=self._key(deletion_id),
                UpdateExpression="ADD #tied :ids",
                ExpressionAttributeNames={"#tied": _TIED},
                ExpressionAttributeValues={":ids": {"SS": sorted(anonymous_ids)}},
            )

    def add_progress(self, deletion_id: str, counts: dict[str, int]) -> None:
        additions = {f"c_{name}": value for name, value in counts.items() if value}
        self._table.add_counts(self._pk(deletion_id), "deletion", additions, None)

    def finish(
        self,
        deletion_id: str,
        status: DeletionStatus,
        *,
        destinations: list[dict[str, Any]],
        report_key: str,
        error: str = "",
    ) -> None:
        """The outcome; a deletion that already finished keeps its first one (a retried finish step)."""
        finished = [status.value for status in FINISHED]
        with contextlib.suppress(self._table.client.exceptions.ConditionalCheckFailedException):
            self._table.client.update_item(
                TableName=self._table.name,
                Key=self._key(deletion_id),
                UpdateExpression=(
                    "SET #status = :status, finished_at = :at, #error = :error, destinations = :destinations, "
                    "report_key = :report"
                ),
                ConditionExpression="NOT #status IN (" + ", ".join(f":f{i}" for i in range(len(finished))) + ")",
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":at": {"S": _now()},
                    ":error": {"S": error[:2000]},
                    ":destinations": {"S": orjson.dumps(destinations).decode()},
                    ":report": {"S": report_key},
                    **{f":f{i}": {"S": value} for i, value in enumerate(finished)},
                },
            )

    def get(self, deletion_id: str) -> DeletionRecord | None:
        item = self._table.client.get_item(
            TableName=self._table.name, Key=self._key(deletion_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return DeletionRecord(
            request=DeletionRequest.from_input(orjson.loads(item["request"]["S"])),
            status=DeletionStatus(item["status"]["S"]),
            execution_arn=item.get("execution_arn", {}).get("S", ""),
            objects=int(item.get("objects", {}).get("N", "0")),
            batches=int(item.get("batches", {}).get("N", "0")),
            counters={name[2:]: int(value["N"]) for name, value in item.items() if name.startswith("c_")},
            tied_anonymous_ids=frozenset(item.get(_TIED, {}).get("SS", [])),
            destinations=orjson.loads(item["destinations"]["S"]) if "destinations" in item else [],
            report_key=item.get("report_key", {}).get("S", ""),
            error=item.get("error", {}).get("S", ""),
            finished_at=item.get("finished_at", {}).get("S", ""),
        )

    def list(self, limit: int = 20) -> list[DeletionRecord]:
        index = sorted(self._table.query_all(_INDEX), key=lambda item: item[SK]["S"], reverse=True)
        records = (self.get(item[SK]["S"].split("#", 1)[1]) for item in index[:limit])
        return [record for record in records if record is not None]
