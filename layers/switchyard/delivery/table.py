"""The delivery table: dead letters, Event Delivery statistics and rate-limit windows, by key prefix.

| pk                    | sk                          | what                                   |
|-----------------------|-----------------------------|----------------------------------------|
| `dlq#<destination>`   | `<failed at>#<messageId>`   | an event given up on, with its last error |
| `stats#<destination>` | `<YYYY-MM-DDTHH:MM>`        | counters and a latency histogram per minute |
| `errors#<destination>`| `<label>`                   | the latest sample of an error group    |
| `rate#<destination>`  | `<epoch second>`            | events sent in that second             |
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from switchyard import aws
from switchyard.constants import DELIVERY_TABLE_PK, DELIVERY_TABLE_SK, DELIVERY_TABLE_TTL_ATTRIBUTE

PK = DELIVERY_TABLE_PK
SK = DELIVERY_TABLE_SK
TTL = DELIVERY_TABLE_TTL_ATTRIBUTE


class DeliveryTable:
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self.name = table_name
        self._dynamodb = dynamodb

    @property
    def client(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.client("dynamodb", config=Config(max_pool_connections=32))
        return self._dynamodb

    def query_all(self, pk: str, **conditions: Any) -> list[dict[str, Any]]:
        """Every item of a partition (optionally an sk range), following pagination."""
        key_condition = "#pk = :pk"
        names = {"#pk": PK}
        values: dict[str, Any] = {":pk": {"S": pk}}
        if "sk_from" in conditions and "sk_to" in conditions:
            key_condition += " AND #sk BETWEEN :from AND :to"
            names["#sk"] = SK
            values[":from"] = {"S": conditions["sk_from"]}
            values[":to"] = {"S": conditions["sk_to"]}
        items: list[dict[str, Any]] = []
        request = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**request)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
