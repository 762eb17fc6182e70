"""Replay: planning over 10,000 archive objects, and worker throughput against reading the archive.

With in-memory fakes for S3, SQS and the progress table. The worker's floor is what any replay
must do: inflate the archive objects, split the lines and parse each one.
"""

from __future__ import annotations

import gzip
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Figure, time_pair  # noqa: E402
from bench.router import stored_event  # noqa: E402

TITLE = "replay (bench/replay.py)"
OBJECTS = 10_000
EVENTS_PER_OBJECT = 200
WORKER_OBJECTS = 10


class FakeListing:
    """list_objects_v2 pages of 1,000 keys over OBJECTS objects spread across 24 hours."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.manifests: dict[str, bytes] = {}

    def get_paginator(self, name: str) -> FakeListing:
        return self

    def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:  # noqa: N803
        matching = [key for key in self.keys if key.startswith(Prefix)]
        for start in range(0, len(matching), 1000):
            yield {"Contents": [{"Key": key} for key in matching[start : start + 1000]]}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict:  # noqa: N803
        self.manifests[Key] = Body
        return {}


class FakeObjects:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803
        return {"Body": Readable(self.body)}


class Readable:
    """An S3 answer's Body: what get_object hands back."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


class CountingQueue:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, requests: list[Any]) -> None:
        for request in requests:
            request.to_body()  # what the real queue does to every request
        self.sent += len(requests)


class NoProgress:
    def add_progress(self, replay_id: str, counts: dict[str, int]) -> None:
        pass

    def status(self, replay_id: str) -> str:
        return "RUNNING"


def replay_request() -> Any:
    from switchyard.replay.model import ReplayDestination, ReplayRequest

    return ReplayRequest(
        id="rp-bench",
        source="web",
        destinations=(ReplayDestination("hooks", "Hooks"),),
        start="2026-11-30T00:00:00.000Z",
        end="2026-12-01T00:00:00.000Z",
        rate=1000,
        events=("Product Viewed",),
    )


def plan_figure() -> Figure:
    from switchyard.replay.plan import Planner

    keys = [
        f"source_id=web/date=2026-11-30/hour={i % 24:02d}/shardId-000000000000-{10**20 + i}.jsonl.gz"
        for i in range(OBJECTS)
    ]
    listing = FakeListing(keys)
    planner = Planner("archive", listing)
    request = replay_request()
    started = time.perf_counter()
    plan = planner.plan(request)
    seconds = time.perf_counter() - started
    assert plan.objects == OBJECTS
    return Figure(f"plan over {OBJECTS:,} archive objects ({plan.batches:,} batches)", seconds * 1000, "ms")


def worker_figure() -> Figure:
    from switchyard.replay.worker import ReplayWorker

    lines = b"\n".join(orjson.dumps(stored_event(i)) for i in range(EVENTS_PER_OBJECT)) + b"\n"
    body = gzip.compress(lines, compresslevel=3)
    queue = CountingQueue()
    worker = ReplayWorker("archive", queue, NoProgress(), FakeObjects(body), sleep=lambda _: None)
    request = replay_request()
    keys = [f"k{i}" for i in range(WORKER_OBJECTS)]

    def replay() -> None:
        counts = worker.run(request, keys, concurrency=1)
        assert counts["read"] == WORKER_OBJECTS * EVENTS_PER_OBJECT and counts["sent"] > 0

    def floor() -> None:
        for _ in keys:
            for line in gzip.decompress(body).splitlines():
                orjson.loads(line)

    worker_seconds, floor_seconds = time_pair(replay, floor, rounds=7, timer=time.process_time)
    events = WORKER_OBJECTS * EVENTS_PER_OBJECT
    return Figure(
        "replay worker per archived event (read, filter, hand off; all events match)",
        worker_seconds / events * 1e6,
        "us",
        floor=floor_seconds / events * 1e6,
    )


def run() -> list[Figure]:
    return [plan_figure(), worker_figure()]


if __name__ == "__main__":
    from bench.common import print_figures

    print_figures(TITLE, run())
