"""Events given up on, kept with their last error until an operator re-drives them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from switchyard.delivery.attempts import Attempt
from switchyard.delivery.queue import DeliveryQueue
from switchyard.delivery.requests import DeliveryRequest
from switchyard.delivery.table import PK, SK, DeliveryTable


@dataclass(frozen=True)
class DeadLetter:
    destination_id: str
    key: str
    failed_at: str
    request: DeliveryRequest
    last_error: str
    attempts: int
    details: dict[str, Any]

    @property
    def message_id(self) -> str:
        return self.request.event.get("messageId", "")


class DeadLetters:
    def __init__(self, table: DeliveryTable) -> None:
        self._table = table

    def put(self, request: DeliveryRequest, attempt: Attempt | None, attempts: int, reason: str) -> None:
        failed_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        message_id = request.event.get("messageId", "")
        details = {"request": attempt.request, "response": attempt.response} if attempt else {}
        self._table.client.put_item(
            TableName=self._table.name,
            Item={
                PK: {"S": f"dlq#{request.destination_id}"},
                SK: {"S": f"{failed_at}#{message_id}#{uuid.uuid4().hex[:8]}"},
                "request": {"S": request.to_body().decode()},
                "last_error": {"S": reason},
                "attempts": {"N": str(attempts)},
                "details": {"S": orjson.dumps(details).decode()},
            },
        )

    def list(self, destination_id: str) -> list[DeadLetter]:
        return [
            DeadLetter(
                destination_id=destination_id,
                key=item[SK]["S"],
                failed_at=item[SK]["S"].split("#", 1)[0],
                request=DeliveryRequest.from_body(item["request"]["S"]),
                last_error=item["last_error"]["S"],
                attempts=int(item["attempts"]["N"]),
                details=orjson.loads(item["details"]["S"]),
            )
            for item in self._table.query_all(f"dlq#{destination_id}")
        ]

    def redrive(self, destination_id: str, queue: DeliveryQueue) -> int:
        """Send every dead letter of the destination again; each is removed once it is queued."""
        letters = self.list(destination_id)
        for letter in letters:
            queue.send([letter.request])
            self._table.client.delete_item(
                TableName=self._table.name, Key={PK: {"S": f"dlq#{destination_id}"}, SK: {"S": letter.key}}
            )
        return len(letters)
