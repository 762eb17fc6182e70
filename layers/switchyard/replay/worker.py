"""A replay worker: read its archive objects, keep what matches, hand it to the replay lane.

Each kept event is rewritten for one destination (`integrations` = `{"All": false, "<name>": true}`),
marked as replayed with the replay id, and queued for the normal delivery path at the worker's
share of the requested rate. The worker stops early when the replay is cancelled.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from switchyard import aws
from switchyard.delivery.requests import DeliveryRequest
from switchyard.replay.model import REPLAY_LANE, ReplayRequest
from switchyard.replay.store import CANCELLED
from switchyard.router.archive import archive_lines

SEND_CHUNK = 10  # events queued per paced step (one SQS batch for one destination)
CANCEL_CHECK_SECONDS = 1.0


class RequestQueue(Protocol):
    def send(self, requests: Sequence[DeliveryRequest]) -> None: ...


class Progress(Protocol):
    def add_progress(self, replay_id: str, counts: dict[str, int]) -> None: ...

    def status(self, replay_id: str) -> str | None: ...


def replayed(event: dict[str, Any], request: ReplayRequest, destination_name: str) -> dict[str, Any]:
    copy = dict(event)
    copy["integrations"] = {"All": False, destination_name: True}
    copy["replay"] = {"id": request.id, "requestedAt": request.requested_at}
    return copy


class Pacer:
    """Keeps `sent / elapsed` at or under `rate` events per second by sleeping."""

    def __init__(self, rate: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._started = clock()
        self._sent = 0

    def wait_for(self, count: int) -> None:
        self._sent += count
        ahead = self._sent / self._rate - (self._clock() - self._started)
        if ahead > 0:
            self._sleep(ahead)


class ReplayWorker:
    def __init__(
        self,
        bucket: str,
        queue: RequestQueue,
        progress: Progress,
        s3: Any = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bucket = bucket
        self._queue = queue
        self._progress = progress
        self._s3 = s3
        self._clock = clock
        self._sleep = sleep
        self._last_check = 0.0
        self._cancelled_replays: set[str] = set()

    @property
    def _client(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3")
        return self._s3

    def read(self, key: str) -> list[dict[str, Any]]:
        body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return [orjson.loads(line) for line in archive_lines(body)]

    def run(self, request: ReplayRequest, objects: Sequence[str], concurrency: int) -> Counter[str]:
        """Replay this batch of objects; returns its counts (also added to the replay's progress)."""
        totals: Counter[str] = Counter()
        pacer = Pacer(request.rate / max(1, concurrency), self._clock, self._sleep)
        self._last_check = self._clock() - CANCEL_CHECK_SECONDS
        for key in objects:
            if self._cancelled(request):
                break
            counts = self._replay_object(request, key, pacer)
            self._progress.add_progress(request.id, {**counts, "objects_done": 1})
            totals.update(counts)
        return totals

    def _cancelled(self, request: ReplayRequest) -> bool:
        """Asks at most once a second whether an operator cancelled the replay (and remembers a yes)."""
        if request.id in self._cancelled_replays:
            return True
        if self._clock() - self._last_check < CANCEL_CHECK_SECONDS:
            return False
        self._last_check = self._clock()
        if self._progress.status(request.id) != CANCELLED:
            return False
        self._cancelled_replays.add(request.id)
        return True

    def _replay_object(self, request: ReplayRequest, key: str, pacer: Pacer) -> Counter[str]:
        counts: Counter[str] = Counter()
        events = self.read(key)
        counts["read"] = len(events)
        matching = [event for event in events if request.matches(event)]
        counts["matched"] = len(matching)
        counts["filtered"] = len(events) - len(matching)
        for start in range(0, len(matching), SEND_CHUNK):
            if self._cancelled(request):
                break
            chunk = matching[start : start + SEND_CHUNK]
            requests = [
                DeliveryRequest(destination.id, replayed(event, request, destination.name), lane=REPLAY_LANE)
                for destination in request.destinations
                for event in chunk
            ]
            pacer.wait_for(len(chunk))
            try:
                self._queue.send(requests)
            except Exception:  # noqa: BLE001 - counted as failed; the rest of the replay goes on
                counts["failed"] += len(requests)
                continue
            counts["sent"] += len(requests)
        return counts
