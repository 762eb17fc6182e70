r"""The delivery table: dead letters, Event Delivery statistics and rate-limit windows, by key prefix.

| pk                    | sk                          | what                                   |
|-----------------------|-----------------------------|----------------------------------------|
| `dlq#<destination>`   | `<failed at>#<messageId>`   | an event given up on, with its last error |
| `stats#<destination>` | `<YYYY-MM-DDTHH:MM>`        | counters and a latency histogram per minute |
| `errors#<destination>`| `<label>`                   | the latest sample of an error group    |
| `rate#<destination>`  | `<epoch second>`            | events sent in that second             |
| `violations#<source>` | `<YYYY-MM-DDTHH:MM>`        | plan violations, schema filter drops (router/violations.py) |
| `violation-samples#<source>` | `<event> \| <kind>`  | the latest sample of each              |
| `pii#<source>`        | `<YYYY-MM-DD>`              | where personal data was seen (privacy/inventory.py) |
| `usage#<source>`      | `<YYYY-MM-DDTHH>#<shard>`   | API calls, events, bytes (usage/store.py) |
| `usage#<source>`      | `<YYYY-MM-DDTHH>#<shard>#people` | its MTU sketches                  |
| `ingest#<source>`     | `<YYYY-MM-DDTHH:MM>`        | messages ingest discarded (ingest/discard_stats.py) |
| `deletion#<id>`       | `deletion`                  | a user deletion's audit record (privacy/deletion/store.py) |
| `deletions`           | `<requested at>#<id>`       | index for `switchyard users deletions` |
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from botocore.config import Config

from switchyard import aws
from switchyard.constants import DELIVERY_TABLE_PK, DELIVERY_TABLE_SK, DELIVERY_TABLE_TTL_ATTRIBUTE
from switchyard.timeutil import minute_key

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

    def add_counts(self, pk: str, sk: str, counts: Mapping[str, int], expires_at: int | None) -> None:
        """One UpdateItem adding each count to the attribute of its name (ADD), and the item's expiry
        (None: the item is kept, as an audit record is)."""
        if not counts:
            return
        names = {f"#f{i}": name for i, name in enumerate(counts)}
        values: dict[str, Any] = {f":v{i}": {"N": str(count)} for i, count in enumerate(counts.values())}
        expression = "ADD " + ", ".join(f"#f{i} :v{i}" for i in range(len(counts)))
        if expires_at is not None:
            names["#ttl"] = TTL
            values[":ttl"] = {"N": str(expires_at)}
            expression += " SET #ttl = :ttl"
        self.client.update_item(
            TableName=self.name,
            Key={PK: {"S": pk}, SK: {"S": sk}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def minute_totals(self, pk: str, start: datetime, end: datetime) -> Counter[str]:
        """Each count of a partition's per-minute items (`add_counts` under `minute_key` sort keys),
        summed over the minutes from `start` to `end`, both included."""
        totals: Counter[str] = Counter()
        for item in self.query_all(pk, sk_from=minute_key(start), sk_to=minute_key(end)):
            for name, value in item.items():
                if "N" in value and name != TTL:
                    totals[name] += int(value["N"])
        return totals

    def put_sample(self, pk: str, sk: str, sample: dict[str, Any], expires_at: int) -> None:
        """The latest sample of a group (an error, a violation): one item, overwritten by the next."""
        self.client.put_item(
            TableName=self.name,
            Item={
                PK: {"S": pk},
                SK: {"S": sk},
                "sample": {"S": orjson.dumps(sample, default=str).decode()},
                TTL: {"N": str(expires_at)},
            },
        )

    def query_all(self, pk: str, *, attributes: Sequence[str] = (), **conditions: Any) -> list[dict[str, Any]]:
        """Every item of a partition (optionally an sk range), following pagination; with
        `attributes`, only those (and the sort key) are read back."""
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
        if attributes:
            names |= {"#sk": SK} | {f"#a{i}": name for i, name in enumerate(attributes)}
            request["ProjectionExpression"] = ", ".join(["#sk", *(f"#a{i}" for i in range(len(attributes)))])
        while True:
            page = self.client.query(**request)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
