"""A per-destination rate limit shared by every delivery worker: one-second windows in DynamoDB.

One conditional update per batch and destination takes as many sends as the window has room for;
whatever does not fit waits for a later second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from switchyard.delivery.table import PK, SK, TTL, DeliveryTable


class RateLimiter:
    def __init__(self, table: DeliveryTable, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def take(self, destination_id: str, wanted: int, limit_per_second: int) -> int:
        """How many of `wanted` sends may go out now (0 when this second is used up)."""
        wanted = min(wanted, limit_per_second)
        second = int(self._clock())
        while wanted > 0:
            if self._try_take(destination_id, second, wanted, limit_per_second):
                return wanted
            used = self._used(destination_id, second)
            wanted = min(wanted, limit_per_second - used)
        return 0

    def _try_take(self, destination_id: str, second: int, count: int, limit: int) -> bool:
        try:
            self._table.client.update_item(
                TableName=self._table.name,
                Key={PK: {"S": f"rate#{destination_id}"}, SK: {"S": str(second)}},
                UpdateExpression="ADD used :n SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(used) OR used <= :room",
                ExpressionAttributeNames={"#ttl": TTL},
                ExpressionAttributeValues={
                    ":n": {"N": str(count)},
                    ":room": {"N": str(limit - count)},
                    ":ttl": {"N": str(second + 120)},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _used(self, destination_id: str, second: int) -> int:
        item = self._table.client.get_item(
            TableName=self._table.name,
            Key={PK: {"S": f"rate#{destination_id}"}, SK: {"S": str(second)}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["used"]["N"]) if item else 0
