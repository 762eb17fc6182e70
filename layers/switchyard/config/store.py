"""The per-region config table: one item holds the whole applied workspace, so an apply is atomic."""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson
from botocore.exceptions import ClientError

from switchyard import aws
from switchyard.config.compiled import EMPTY_WORKSPACE, CompiledWorkspace
from switchyard.constants import CONFIG_PK, CONFIG_WORKSPACE_KEY


class ConcurrentApplyError(Exception):
    """Somebody applied another version between our read and our write; nothing was changed."""


@dataclass(frozen=True)
class StoredWorkspace:
    workspace: CompiledWorkspace
    version: int
    checksum: str
    applied_at: str


class ConfigStore:
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self._table_name = table_name
        self._dynamodb = dynamodb

    @property
    def _client(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.client("dynamodb")
        return self._dynamodb

    def load(self) -> StoredWorkspace | None:
        response = self._client.get_item(
            TableName=self._table_name,
            Key={CONFIG_PK: {"S": CONFIG_WORKSPACE_KEY}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        document = orjson.loads(gzip.decompress(item["document"]["B"]))
        return StoredWorkspace(
            workspace=CompiledWorkspace.from_document(document),
            version=int(item["version"]["N"]),
            checksum=item["checksum"]["S"],
            applied_at=item["applied_at"]["S"],
        )

    def current(self) -> CompiledWorkspace:
        stored = self.load()
        return stored.workspace if stored else EMPTY_WORKSPACE

    def save(self, workspace: CompiledWorkspace, expected_version: int | None) -> StoredWorkspace:
        """Write a new version, refusing if the stored version is not the one we read."""
        document = orjson.dumps(workspace.to_document(), option=orjson.OPT_SORT_KEYS)
        checksum = hashlib.sha256(document).hexdigest()
        version = (expected_version or 0) + 1
        applied_at = datetime.now(UTC).isoformat(timespec="seconds")
        condition: dict[str, Any]
        if expected_version is None:
            condition = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": CONFIG_PK},
            }
        else:
            condition = {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        try:
            self._client.put_item(
                TableName=self._table_name,
                Item={
                    CONFIG_PK: {"S": CONFIG_WORKSPACE_KEY},
                    "document": {"B": gzip.compress(document, mtime=0)},
                    "version": {"N": str(version)},
                    "checksum": {"S": checksum},
                    "applied_at": {"S": applied_at},
                },
                **condition,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentApplyError(
                    "Another apply changed the workspace meanwhile; nothing was changed. Apply again."
                ) from error
            raise
        return StoredWorkspace(workspace, version, checksum, applied_at)


T = TypeVar("T")


class Cached(Generic[T]):
    """A value re-read at most every `ttl_seconds` (Lambdas cache config for seconds).

    If a refresh fails the last good copy keeps serving, so a config-table hiccup does not turn
    into refused events; with no copy at all the error propagates (and ingest answers 503).
    """

    def __init__(self, load: Callable[[], T], ttl_seconds: float, clock: Any = time.monotonic) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._clock = clock
        self._value: T | None = None
        self._fetched_at = 0.0

    def get(self) -> T:
        now = self._clock()
        if self._value is None or now - self._fetched_at >= self._ttl:
            try:
                self._value = self._load()
            except Exception:
                if self._value is None:
                    raise
            self._fetched_at = now
        return self._value


class CachedWorkspace(Cached[CompiledWorkspace]):
    """The current workspace, cached as `Cached` says."""

    def __init__(self, store: ConfigStore, ttl_seconds: float, clock: Any = time.monotonic) -> None:
        super().__init__(store.current, ttl_seconds, clock)
