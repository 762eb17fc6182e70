"""The deletion workers: find the anonymousIds the archive ties to the users, then rewrite every
archived object version that holds their events without them.

- **Scan** (first pass): a tie is an event carrying one of the userIds and an anonymousId. The
  ties must all be known before any object is rewritten, since an anonymous event can sit in an
  object older than the identify that ties it.
- **Rewrite** (second pass): the current version of an object that holds their events is replaced
  by one without them (the other lines kept byte for byte), or deleted when nothing else is left;
  then every older version of the key is deleted, or the data would stay in the versioned bucket.
  A key whose current version is clean has its older versions read and deleted only if they hold
  the users' events. Their dedupe claims are removed as well.

Both passes are idempotent: a retried batch finds nothing left to remove, so each object is
rewritten once however often the workflow retries or is redriven.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import orjson

from switchyard import aws
from switchyard.constants import DEDUPE_PK
from switchyard.privacy.deletion.model import Subjects
from switchyard.router.archive import ARCHIVE_CONTENT_TYPE, archive_body, archive_lines

DEDUPE_DELETES_PER_CALL = 25  # BatchWriteItem's limit


class Progress(Protocol):
    def add_progress(self, deletion_id: str, counts: dict[str, int]) -> None: ...

    def add_ties(self, deletion_id: str, anonymous_ids: set[str]) -> None: ...


@dataclass
class Rewritten:
    """What one batch changed: counts, and the keys for the audit report."""

    counts: Counter[str] = field(default_factory=Counter)
    keys: list[dict[str, Any]] = field(default_factory=list)


class Action(StrEnum):
    """What the rewrite did to an object holding their events (the report's `action`)."""

    REWRITTEN = "rewritten"  # the current version replaced by one without them
    DELETED = "deleted"  # nothing of anyone else was in it: every version deleted
    OLDER_VERSIONS_DELETED = "older versions deleted"  # the current version was clean

    @property
    def counter(self) -> str:
        return "objects_" + self.value.replace(" ", "_")


@dataclass(frozen=True)
class Change:
    """What happened to one object: how, the messageIds of the events removed, versions deleted."""

    action: Action
    message_ids: list[str]
    versions_deleted: int


def source_of(key: str) -> str:
    """`source_id=<id>/date=.../...` -> `<id>`."""
    return key.split("/", 1)[0].removeprefix("source_id=")


class ArchiveRewriter:
    def __init__(self, bucket: str, dedupe_table: str, s3: Any = None, dynamodb: Any = None) -> None:
        self._bucket = bucket
        self._dedupe_table = dedupe_table
        self._s3 = s3
        self._dynamodb = dynamodb

    @property
    def _s3_client(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3")
        return self._s3

    @property
    def _dynamodb_client(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.client("dynamodb")
        return self._dynamodb

    # -- reading --------------------------------------------------------------------------------

    def read_lines(self, key: str, version: str) -> list[bytes]:
        return archive_lines(self._s3_client.get_object(Bucket=self._bucket, Key=key, VersionId=version)["Body"].read())

    # -- the two passes -------------------------------------------------------------------------

    def scan(self, subjects: Subjects, objects: Sequence[dict[str, Any]]) -> tuple[set[str], int]:
        """The anonymousIds tied to the userIds in these objects, and how many versions were read."""
        tied: set[str] = set()
        read = 0
        for item in objects:
            for version in item["versions"]:
                read += 1
                for line in self._read_if_present(item["key"], version):
                    anonymous_id = subjects.ties_in(orjson.loads(line))
                    if anonymous_id is not None:
                        tied.add(anonymous_id)
        return tied, read

    def rewrite(self, subjects: Subjects, objects: Sequence[dict[str, Any]], done: Rewritten) -> None:
        """Into `done` as it goes: if an object fails, what the batch changed before it is known."""
        for item in objects:
            self._rewrite_object(subjects, item["key"], list(item["versions"]), done)

    # -- one object -----------------------------------------------------------------------------

    def _rewrite_object(self, subjects: Subjects, key: str, versions: list[str], done: Rewritten) -> None:
        done.counts["objects_checked"] += 1
        found = self._read_current(key)
        current = found[0] if found is not None else None
        change = self._rewrite_current(subjects, key, *found) if found is not None else None
        if change is None:  # the current version is clean (or gone): older ones may still hold them
            change = self._delete_older_versions(subjects, key, versions, current)
        if change is None:
            return
        done.counts[change.action.counter] += 1
        done.counts["events_removed"] += len(change.message_ids)
        done.counts["versions_deleted"] += change.versions_deleted
        done.counts["dedupe_claims_removed"] += self._remove_claims(source_of(key), change.message_ids)
        done.keys.append({"key": key, "action": change.action.value, "versions_deleted": change.versions_deleted})

    def _rewrite_current(self, subjects: Subjects, key: str, current: str, lines: list[bytes]) -> Change | None:
        """The current version without their events (or the key gone when nothing else is left), and
        every older version deleted: each held what the current one held."""
        kept, removed = self._split(subjects, lines)
        if not removed:
            return None
        if not kept:
            return Change(
                Action.DELETED, _message_ids(removed), self._delete_versions(key, self._versions_except(key, None))
            )
        answer = self._s3_client.put_object(
            Bucket=self._bucket, Key=key, Body=archive_body(kept), ContentType=ARCHIVE_CONTENT_TYPE
        )
        new_version = answer.get("VersionId")
        if new_version in (None, "null"):  # an unversioned bucket: the put replaced the only copy
            return Change(Action.REWRITTEN, _message_ids(removed), 0)
        return Change(
            Action.REWRITTEN, _message_ids(removed), self._delete_versions(key, self._versions_except(key, new_version))
        )

    def _delete_older_versions(
        self, subjects: Subjects, key: str, versions: list[str], current: str | None
    ) -> Change | None:
        message_ids: list[str] = []
        deleted = 0
        for version in versions:
            if version == current:
                continue
            _, removed = self._split(subjects, self._read_if_present(key, version))
            if removed:
                message_ids += _message_ids(removed)
                deleted += self._delete_versions(key, [version])
        return Change(Action.OLDER_VERSIONS_DELETED, message_ids, deleted) if deleted else None

    @staticmethod
    def _split(subjects: Subjects, lines: list[bytes]) -> tuple[list[bytes], list[dict[str, Any]]]:
        kept: list[bytes] = []
        removed: list[dict[str, Any]] = []
        for line in lines:
            event = orjson.loads(line)
            if subjects.holds(event):
                removed.append(event)
            else:
                kept.append(line)
        return kept, removed

    def _read_current(self, key: str) -> tuple[str, list[bytes]] | None:
        """The key's current data version and its lines, in one GET (None: no object, or a deletion
        marker on top)."""
        try:
            answer = self._s3_client.get_object(Bucket=self._bucket, Key=key)
            return answer.get("VersionId") or "null", archive_lines(answer["Body"].read())
        except self._s3_client.exceptions.ClientError as error:
            if _absent(error):
                return None
            if _denied(error):  # S3 says 403, not 404, for a missing key to a role without s3:ListBucket
                listed = self._listed_versions(key)
                if not listed or listed[0][1]:
                    return None
            raise

    def _listed_versions(self, key: str) -> list[tuple[str, bool]]:
        """(version, is a deletion marker) of exactly this key, newest first."""
        found: list[tuple[str, bool, str]] = []
        paginator = self._s3_client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=key):
            found += [
                (v["VersionId"], False, v.get("LastModified", "")) for v in page.get("Versions", []) if v["Key"] == key
            ]
            found += [
                (m["VersionId"], True, m.get("LastModified", ""))
                for m in page.get("DeleteMarkers", [])
                if m["Key"] == key
            ]
        return [(version, marker) for version, marker, _ in sorted(found, key=lambda entry: entry[2], reverse=True)]

    def _versions_except(self, key: str, keep: str | None) -> list[str]:
        """Every version (deletion markers included) of exactly this key but `keep`."""
        return [version for version, _ in self._listed_versions(key) if version != keep]

    def _read_if_present(self, key: str, version: str) -> list[bytes]:
        """The version's lines, or none when an earlier attempt (or another deletion) removed it."""
        try:
            return self.read_lines(key, version)
        except self._s3_client.exceptions.ClientError as error:
            if _absent(error):
                return []
            if _denied(error) and version not in {listed for listed, _ in self._listed_versions(key)}:
                return []  # 403 for a version that is gone, as for a missing key (see _read_current)
            raise

    def _delete_versions(self, key: str, versions: list[str]) -> int:
        for version in versions:
            self._s3_client.delete_object(Bucket=self._bucket, Key=key, VersionId=version)
        return len(versions)

    def _remove_claims(self, source_id: str, message_ids: list[str]) -> int:
        """Their dedupe claims (`<source>#<messageId>`): a claim outlives the event otherwise."""
        keys = sorted({f"{source_id}#{message_id}" for message_id in message_ids})
        for start in range(0, len(keys), DEDUPE_DELETES_PER_CALL):
            pending = {
                self._dedupe_table: [
                    {"DeleteRequest": {"Key": {DEDUPE_PK: {"S": key}}}}
                    for key in keys[start : start + DEDUPE_DELETES_PER_CALL]
                ]
            }
            for _ in range(5):
                pending = self._dynamodb_client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise RuntimeError("dedupe claims could not be removed (throttled); the batch is retried")
        return len(keys)


def _absent(error: Any) -> bool:
    return error.response["Error"]["Code"] in ("404", "NoSuchKey", "NoSuchVersion", "405")


def _denied(error: Any) -> bool:
    return error.response["Error"]["Code"] in ("403", "AccessDenied")


def _message_ids(events: list[dict[str, Any]]) -> list[str]:
    return [str(event["messageId"]) for event in events if event.get("messageId")]
