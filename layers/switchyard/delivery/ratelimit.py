"""A per-destination rate limit shared by every delivery worker: one-second windows in DynamoDB.

Live traffic and replays share one budget, so together they never exceed the destination's
limit; a replay may use at most half of each second, so it never starves live traffic. One
conditional update per batch and destination takes as many sends as the window has room for;
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

    def take(self, destination_id: str, wanted: int, limit_per_second: int, *, replay: bool = False) -> int:
        """How many of `wanted` sends may go out now (0 when this second is used up)."""
        replay_limit = max(1, limit_per_second // 2)
        wanted = min(wanted, replay_limit if replay else limit_per_second)
        second = int(self._clock())
        while wanted > 0:
            if self._try_take(destination_id, second, wanted, limit_per_second, replay_limit if replay else None):
                return wanted
            used, replay_used = self._used(destination_id, second)
            room = limit_per_second - used
            if replay:
                room = min(room, replay_limit - replay_used)
            wanted = min(wanted, room)
        return 0

    def _try_take(self, destination_id: str, second: int, count: int, limit: int, replay_limit: int | None) -> bool:
        condition = "(attribute_not_exists(used) OR used <= :room)"
        update = "ADD used :n"
        values = {":n": {"N": str(count)}, ":room": {"N": str(limit - count)}, ":ttl": {"N": str(second + 120)}}
        if replay_limit is not None:
            condition += " AND (attribute_not_exists(replay_used) OR replay_used <= :replay_room)"
            update += ", replay_used :n"
            values[":replay_room"] = {"N": str(replay_limit - count)}
        try:
            self._table.client.update_item(
                TableName=self._table.name,
                Key={PK: {"S": f"rate#{destination_id}"}, SK: {"S": str(second)}},
                UpdateExpression=f"{update} SET #ttl = :ttl",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#ttl": TTL},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _used(self, destination_id: str, second: int) -> tuple[int, int]:
        item = (
            self._table.client.get_item(
                TableName=self._table.name,
                Key={PK: {"S": f"rate#{destination_id}"}, SK: {"S": str(second)}},
                ConsistentRead=True,
            ).get("Item")
            or {}
        )
        return int(item.get("used", {}).get("N", "0")), int(item.get("replay_used", {}).get("N", "0"))
