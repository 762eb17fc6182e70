"""Suppressed users (Segment's User Suppression): ingest drops every message whose userId or
anonymousId is suppressed, before the stream, answers the SDK as if it had taken it (so it does not
retry), and counts it (`suppressed`).

The set is one item of the config table (`pk = suppressions`), a DynamoDB string set of
`user:<userId>` and `anonymous:<anonymousId>` entries, changed by atomic ADD / DELETE updates so two
operators cannot overwrite each other; `switchyard apply` never touches it. Ingest and delivery
read it through `config.store.Cached`, as they read the workspace: at most every few seconds per
Lambda environment. An item holds at most 400 KB:
about 8,000 entries of 40 characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from switchyard import aws
from switchyard.constants import CONFIG_PK, CONFIG_SUPPRESSIONS_KEY

USER, ANONYMOUS = "user:", "anonymous:"
_IDS = "ids"


def entries(user_ids: Iterable[str] = (), anonymous_ids: Iterable[str] = ()) -> set[str]:
    return {USER + user_id for user_id in user_ids} | {ANONYMOUS + anonymous_id for anonymous_id in anonymous_ids}


def is_suppressed(message: Any, suppressed: frozenset[str]) -> bool:
    if not suppressed or not isinstance(message, dict):
        return False
    user_id, anonymous_id = message.get("userId"), message.get("anonymousId")
    return (user_id is not None and f"{USER}{user_id}" in suppressed) or (
        anonymous_id is not None and f"{ANONYMOUS}{anonymous_id}" in suppressed
    )


class SuppressionStore:
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self._table_name = table_name
        self._dynamodb = dynamodb

    @property
    def _client(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.client("dynamodb")
        return self._dynamodb

    def load(self) -> frozenset[str]:
        item = self._client.get_item(
            TableName=self._table_name, Key={CONFIG_PK: {"S": CONFIG_SUPPRESSIONS_KEY}}, ConsistentRead=True
        ).get("Item")
        return frozenset(item[_IDS]["SS"]) if item and _IDS in item else frozenset()

    def add(self, ids: set[str]) -> None:
        self._update("ADD", ids)

    def remove(self, ids: set[str]) -> None:
        self._update("DELETE", ids)

    def _update(self, action: str, ids: set[str]) -> None:
        if ids:
            self._client.update_item(
                TableName=self._table_name,
                Key={CONFIG_PK: {"S": CONFIG_SUPPRESSIONS_KEY}},
                UpdateExpression=f"{action} #ids :ids",
                ExpressionAttributeNames={"#ids": _IDS},
                ExpressionAttributeValues={":ids": {"SS": sorted(ids)}},
            )
