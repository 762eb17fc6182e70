"""User deletion: a worker rewriting archive objects without one user, per object, against the
least any rewrite must do to the same object (inflate, split, parse every line, deflate what is
kept).

Worst case for the rewrite: every object holds one event of the user among 199 of others', so every
object is rewritten and its older version deleted. An in-memory S3 (versions kept as the archive
bucket keeps them) and dedupe table stand in for AWS: the figure is the worker's own CPU per object.
In AWS each object adds three S3 round trips (GET, PUT, list versions, ~20-50 ms each) and
one version DELETE, so a worker's real throughput is bounded by those, which the per-worker
objects/s figure below leaves out.
"""

from __future__ import annotations

import gzip
import itertools
import time
from collections.abc import Iterator
from typing import Any

import orjson

from bench.common import Figure, time_pair
from bench.replay import Readable
from bench.router import stored_event
from switchyard.privacy.deletion.model import Subjects
from switchyard.privacy.deletion.rewrite import ArchiveRewriter, Rewritten

TITLE = "User deletion (bench/deletion.py)"
OBJECTS = 20
EVENTS_PER_OBJECT = 200
TARGET_RATIO = 2.0
USER = "gone-user"


class VersionedBucket:
    """The S3 calls the rewrite makes, on one in-memory versioned bucket (newest version last)."""

    class exceptions:  # noqa: N801 - botocore's attribute name
        class ClientError(Exception):
            response: dict[str, Any] = {"Error": {"Code": "404"}}

        NoSuchKey = ClientError

    def __init__(self) -> None:
        self.versions: dict[str, list[tuple[str, bytes]]] = {}
        self._ids = itertools.count(1)

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str = "") -> dict[str, Any]:  # noqa: N803
        version = str(next(self._ids))
        self.versions.setdefault(Key, []).append((version, Body))
        return {"VersionId": version}

    def get_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict[str, Any]:  # noqa: N803
        if not self.versions.get(Key):
            raise self.exceptions.ClientError()
        version, body = (
            self.versions[Key][-1] if VersionId is None else (VersionId, dict(self.versions[Key])[VersionId])
        )
        return {"Body": Readable(body), "VersionId": version}

    def delete_object(self, Bucket: str, Key: str, VersionId: str) -> dict[str, Any]:  # noqa: N803
        self.versions[Key] = [entry for entry in self.versions[Key] if entry[0] != VersionId]
        return {}

    def get_paginator(self, name: str) -> VersionedBucket:
        return self

    def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:  # noqa: N803
        found = [
            {"Key": key, "VersionId": version}
            for key, entries in self.versions.items()
            if key.startswith(Prefix)
            for version, _ in reversed(entries)
        ]
        yield {"Versions": found}


class DedupeTable:
    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        return {}


def object_body(index: int) -> bytes:
    events = [stored_event(index * EVENTS_PER_OBJECT + i) for i in range(EVENTS_PER_OBJECT)]
    events[EVENTS_PER_OBJECT // 2]["userId"] = USER
    return gzip.compress(b"\n".join(orjson.dumps(event) for event in events) + b"\n", compresslevel=3, mtime=0)


def run() -> list[Figure]:
    bodies = [object_body(i) for i in range(OBJECTS)]
    subjects = Subjects(frozenset({USER}), frozenset())
    keys = [f"source_id=web/date=2026-11-30/hour=12/shard-{i}.jsonl.gz" for i in range(OBJECTS)]

    def rewrite() -> None:
        bucket = VersionedBucket()
        objects = [
            {"key": key, "versions": [bucket.put_object("a", key, body)["VersionId"]]}
            for key, body in zip(keys, bodies, strict=True)
        ]
        done = Rewritten()
        ArchiveRewriter("archive", "dedupe", bucket, DedupeTable()).rewrite(subjects, objects, done)
        assert done.counts["objects_rewritten"] == OBJECTS and done.counts["events_removed"] == OBJECTS, done.counts

    def floor() -> None:
        for body in bodies:
            kept = [line for line in gzip.decompress(body).splitlines() if line and orjson.loads(line)]
            gzip.compress(b"\n".join(kept) + b"\n", compresslevel=3, mtime=0)

    rewrite_seconds, floor_seconds = time_pair(rewrite, floor, rounds=7, min_seconds=0.2, timer=time.process_time)
    per_object = rewrite_seconds / OBJECTS
    return [
        Figure(
            f"deletion rewrite per archive object ({EVENTS_PER_OBJECT} events, 1 theirs)",
            per_object * 1e3,
            "ms",
            floor=floor_seconds / OBJECTS * 1e3,
            target=TARGET_RATIO,
        ),
        Figure("archive objects rewritten per second per worker (CPU only)", 1 / per_object, "obj/s"),
    ]


if __name__ == "__main__":
    from bench.common import print_figures

    print_figures(TITLE, run())
