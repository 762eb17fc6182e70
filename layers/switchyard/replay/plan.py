"""Planning a replay: the archive objects of the source for the hours in range, in batches.

The manifest (a JSON list of batches, each a list of object keys) goes to S3 for the workflow's
Distributed Map; batches are sized so that a worker finishes well within its time-out at its
share of the requested rate, and concurrency is derived from the rate.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from switchyard import aws
from switchyard.asl import MapPlan
from switchyard.constants import REPLAY_MANIFEST_PREFIX
from switchyard.replay.model import ReplayRequest
from switchyard.router.archive import hours_between, prefix_for

# One worker sends at most this many events per second; more rate means more workers.
RATE_PER_WORKER = 100
MAX_CONCURRENCY = 40
# Archive objects hold at most one router batch (500 events); a worker should finish in ~10 min.
EVENTS_PER_OBJECT = 500
WORKER_SECONDS = 600
MAX_OBJECTS_PER_BATCH = 8


def concurrency_for(rate: int) -> int:
    return max(1, min(MAX_CONCURRENCY, math.ceil(rate / RATE_PER_WORKER)))


def objects_per_batch(rate: int, concurrency: int) -> int:
    per_worker = rate / concurrency
    return max(1, min(MAX_OBJECTS_PER_BATCH, math.floor(per_worker * WORKER_SECONDS / EVENTS_PER_OBJECT)))


class Planner:
    def __init__(self, bucket: str, s3: Any = None) -> None:
        self._bucket = bucket
        self._s3 = s3

    @property
    def _client(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3")
        return self._s3

    def list_objects(self, request: ReplayRequest) -> list[str]:
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for date, hour in hours_between(request.start_time(), request.end_time()):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix_for(request.source, date, hour)):
                keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def plan(self, request: ReplayRequest) -> MapPlan:
        keys = self.list_objects(request)
        concurrency = concurrency_for(request.rate)
        size = objects_per_batch(request.rate, concurrency)
        batches = [keys[i : i + size] for i in range(0, len(keys), size)]
        manifest = f"{REPLAY_MANIFEST_PREFIX}{request.id}/manifest.json"
        self._client.put_object(
            Bucket=self._bucket, Key=manifest, Body=orjson.dumps(batches), ContentType="application/json"
        )
        return MapPlan(manifest, len(keys), len(batches), min(concurrency, max(1, len(batches))))
