"""Deduplication per (source, messageId) with conditional writes, one per event, run concurrently.

A claim remembers the stream record that made it, so when a batch is retried its own records
pass again instead of being mistaken for duplicates of themselves. Claims carry their expiry and
an expired claim counts as absent, because DynamoDB deletes TTL items only eventually.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from switchyard import aws
from switchyard.constants import DEDUPE_PK, DEDUPE_TTL_ATTRIBUTE, ROUTER_DEDUPE_CONCURRENCY
from switchyard.router.records import StreamEvent

_CLAIM_CONDITION = f"attribute_not_exists({DEDUPE_PK}) OR claimed_by = :me OR {DEDUPE_TTL_ATTRIBUTE} < :now"


@dataclass
class Claims:
    fresh: set[str] = field(default_factory=set)  # record ids that own their messageId
    duplicates: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)  # could not be decided now (throttling, errors)


def dynamodb_client(concurrency: int = ROUTER_DEDUPE_CONCURRENCY) -> Any:
    return aws.client(
        "dynamodb",
        config=Config(max_pool_connections=concurrency, retries={"max_attempts": 4, "mode": "standard"}),
    )


class DedupeStore:
    def __init__(
        self,
        table_name: str,
        dynamodb: Any = None,
        *,
        window_hours: float = 24,
        concurrency: int = ROUTER_DEDUPE_CONCURRENCY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table_name
        self._dynamodb = dynamodb
        self._window_seconds = int(window_hours * 3600)
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="dedupe")
        self._concurrency = concurrency

    @property
    def _client(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = dynamodb_client(self._concurrency)
        return self._dynamodb

    def claim(self, events: Sequence[StreamEvent]) -> Claims:
        """One conditional write per event, `concurrency` of them in flight at a time."""
        now = int(self._clock())
        client = self._client
        # One task per worker, each writing its share in turn: as many writes in flight as with a
        # task per event, without the cost of hundreds of futures per batch.
        shares = [events[start :: self._concurrency] for start in range(min(self._concurrency, len(events)))]
        claims = Claims()
        for share, outcomes in zip(
            shares, self._pool.map(lambda s: [self._claim_one(client, e, now) for e in s], shares), strict=True
        ):
            for event, outcome in zip(share, outcomes, strict=True):
                getattr(claims, outcome).add(event.record_id)
        return claims

    def _claim_one(self, client: Any, event: StreamEvent, now: int) -> str:
        try:
            client.put_item(
                TableName=self._table,
                Item={
                    DEDUPE_PK: {"S": f"{event.source_id}#{event.message_id}"},
                    "claimed_by": {"S": event.record_id},
                    DEDUPE_TTL_ATTRIBUTE: {"N": str(now + self._window_seconds)},
                },
                ConditionExpression=_CLAIM_CONDITION,
                ExpressionAttributeValues={":me": {"S": event.record_id}, ":now": {"N": str(now)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return "duplicates"
            return "failed"
        except Exception:  # noqa: BLE001 - connection trouble: decide this record on the retry
            return "failed"
        return "fresh"
