"""Replay records in the delivery table: parameters, status and progress counters.

| pk            | sk                  | what                                       |
|---------------|---------------------|--------------------------------------------|
| `replay#<id>` | `replay`            | the request, status, plan and counters     |
| `replays`     | `<requested>#<id>`  | index for `switchyard replay list`         |
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from switchyard.delivery.table import PK, SK, DeliveryTable
from switchyard.replay.model import ReplayRequest

COUNTERS = ("read", "matched", "filtered", "sent", "failed", "objects_done")
PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
_RECORD = "replay"  # the record's sort key


@dataclass
class ReplayRecord:
    request: ReplayRequest
    status: str
    execution_arn: str = ""
    objects: int = 0
    batches: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    error: str = ""
    finished_at: str = ""

    def counter(self, name: str) -> int:
        return self.counters.get(name, 0)

    @property
    def progress(self) -> float:
        """The share of its archive objects read, 0 to 1 (a finished replay of no objects is done)."""
        if self.objects:
            return self.counter("objects_done") / self.objects
        return 1.0 if self.status in FINISHED else 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ReplayStore:
    def __init__(self, table: DeliveryTable) -> None:
        self._table = table

    @staticmethod
    def _pk(replay_id: str) -> str:
        return f"replay#{replay_id}"

    def _key(self, replay_id: str) -> dict[str, Any]:
        return {PK: {"S": self._pk(replay_id)}, SK: {"S": _RECORD}}

    def create(self, request: ReplayRequest, execution_arn: str) -> None:
        client = self._table.client
        client.put_item(
            TableName=self._table.name,
            Item={
                **self._key(request.id),
                "request": {"S": orjson.dumps(request.to_input()).decode()},
                "status": {"S": PENDING},
                "execution_arn": {"S": execution_arn},
                "created_at": {"S": _now()},
            },
            ConditionExpression=f"attribute_not_exists({PK})",
        )
        client.put_item(
            TableName=self._table.name,
            Item={PK: {"S": "replays"}, SK: {"S": f"{request.requested_at}#{request.id}"}},
        )

    def planned(self, replay_id: str, objects: int, batches: int) -> None:
        self._update(
            replay_id,
            "SET #status = :running, objects = :objects, batches = :batches",
            {
                ":running": {"S": RUNNING},
                ":objects": {"N": str(objects)},
                ":batches": {"N": str(batches)},
                ":pending": {"S": PENDING},
            },
            condition="#status = :pending",
        )

    def add_progress(self, replay_id: str, counts: dict[str, int]) -> None:
        additions = {f"c_{name}": value for name, value in counts.items() if value}
        self._table.add_counts(self._pk(replay_id), _RECORD, additions, None)

    def finish(self, replay_id: str, status: str, error: str = "") -> None:
        """Final status, unless already finished (a cancel is not overwritten by the report)."""
        with contextlib.suppress(self._table.client.exceptions.ConditionalCheckFailedException):
            self._update(
                replay_id,
                "SET #status = :status, finished_at = :at, #error = :error",
                {
                    ":status": {"S": status},
                    ":at": {"S": _now()},
                    ":error": {"S": error[:2000]},
                    ":s": {"S": SUCCEEDED},
                    ":f": {"S": FAILED},
                    ":c": {"S": CANCELLED},
                },
                condition="NOT #status IN (:s, :f, :c)",
                extra_names={"#error": "error"},
            )

    def status(self, replay_id: str) -> str | None:
        item = self._table.client.get_item(
            TableName=self._table.name,
            Key=self._key(replay_id),
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
            ConsistentRead=True,
        ).get("Item")
        return item["status"]["S"] if item else None

    def get(self, replay_id: str) -> ReplayRecord | None:
        item = self._table.client.get_item(
            TableName=self._table.name, Key=self._key(replay_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return ReplayRecord(
            request=ReplayRequest.from_input(orjson.loads(item["request"]["S"])),
            status=item["status"]["S"],
            execution_arn=item.get("execution_arn", {}).get("S", ""),
            objects=int(item.get("objects", {}).get("N", "0")),
            batches=int(item.get("batches", {}).get("N", "0")),
            counters={name[2:]: int(value["N"]) for name, value in item.items() if name.startswith("c_")},
            error=item.get("error", {}).get("S", ""),
            finished_at=item.get("finished_at", {}).get("S", ""),
        )

    def list(self, limit: int = 20) -> list[ReplayRecord]:
        index = self._table.query_all("replays")
        ids = [item[SK]["S"].split("#", 1)[1] for item in sorted(index, key=lambda i: i[SK]["S"], reverse=True)]
        records = (self.get(replay_id) for replay_id in ids[:limit])
        return [record for record in records if record is not None]

    def _update(
        self,
        replay_id: str,
        expression: str,
        values: dict[str, Any],
        *,
        condition: str | None = None,
        extra_names: dict[str, str] | None = None,
    ) -> None:
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": self._key(replay_id),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {"#status": "status", **(extra_names or {})},
            "ExpressionAttributeValues": values,
        }
        if condition:
            request["ConditionExpression"] = condition
        self._table.client.update_item(**request)
