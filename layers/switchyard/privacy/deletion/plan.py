"""Planning a deletion: suppress the ids first, then list every archived object version.

Suppressing first means nothing new of theirs is archived while the archive is rewritten (ingest
and the router drop their events). The listing is of versions, not objects: the archive bucket is
versioned, and a noncurrent version still holds what the current one no longer does. The manifest
(`_deletions/<id>/manifest.json`, a JSON list of batches of `{"key", "versions"}`) goes to S3 for
the workflow's Distributed Maps, so a failed execution can be redriven from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from switchyard import aws
from switchyard.asl import MapPlan
from switchyard.constants import DELETION_PREFIX
from switchyard.privacy.deletion.model import DeletionRequest
from switchyard.privacy.suppression import entries

ARCHIVE_PREFIX = "source_id="
ARCHIVE_SUFFIX = ".jsonl.gz"
# A worker reads ~100 objects in a few seconds; more objects per batch means fewer child executions
# (each state transition is billed) and a retry that redoes more.
OBJECTS_PER_BATCH = 100
MAX_CONCURRENCY = 40


class Suppressions(Protocol):
    def add(self, ids: set[str]) -> None: ...


@dataclass
class ArchivedObject:
    key: str
    versions: list[str]  # data versions, newest first (deletion markers hold nothing and are left)

    def to_item(self) -> dict[str, Any]:
        return {"key": self.key, "versions": self.versions}


def manifest_key(deletion_id: str) -> str:
    return f"{DELETION_PREFIX}{deletion_id}/manifest.json"


class DeletionPlanner:
    def __init__(self, bucket: str, suppressions: Suppressions, s3: Any = None) -> None:
        self._bucket = bucket
        self._suppressions = suppressions
        self._s3 = s3

    @property
    def _client(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3")
        return self._s3

    def archived_objects(self) -> list[ArchivedObject]:
        """Every archive object with its data versions (S3 lists a key's versions newest first)."""
        objects: dict[str, ArchivedObject] = {}
        paginator = self._client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=ARCHIVE_PREFIX):
            for version in page.get("Versions", []):
                key = version["Key"]
                if key.endswith(ARCHIVE_SUFFIX):
                    objects.setdefault(key, ArchivedObject(key, [])).versions.append(version["VersionId"])
        return list(objects.values())

    def plan(self, request: DeletionRequest) -> MapPlan:
        self._suppressions.add(entries(request.user_ids, request.anonymous_ids))
        objects = [item.to_item() for item in self.archived_objects()]
        batches = [objects[i : i + OBJECTS_PER_BATCH] for i in range(0, len(objects), OBJECTS_PER_BATCH)]
        manifest = manifest_key(request.id)
        self._client.put_object(
            Bucket=self._bucket, Key=manifest, Body=orjson.dumps(batches), ContentType="application/json"
        )
        return MapPlan(manifest, len(objects), len(batches), max(1, min(MAX_CONCURRENCY, len(batches))))
