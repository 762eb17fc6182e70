"""Suppressed users: ingest drops their valid messages before the stream and answers as if it took
them; the set is read through a cache that keeps the last good read; the archive ties anonymousIds
to the suppressed userIds."""

from __future__ import annotations

import base64
import gzip
import io
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from switchyard.config.compiled import CompiledWorkspace, Source, write_key_hash
from switchyard.config.store import Cached
from switchyard.delivery.policy import Action
from switchyard.errors import ApiError
from switchyard.ingest.service import HttpRequest, IngestOutcome, IngestService
from switchyard.privacy.suppression import entries, is_suppressed
from switchyard.privacy.ties import tied_anonymous_ids
from switchyard.replay.model import REPLAY_LANE
from tests.support.delivery import FakeAdapter, FakeStats, make_deliverer, queued

WRITE_KEY = "wk_web_123"
WORKSPACE = CompiledWorkspace("test", sources=(Source("web", "Web", True, write_key_hash(WRITE_KEY)),))
SUPPRESSED = frozenset(entries(["u-gone", "42"], ["anon-gone"]))


class Stream:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def put(self, records: list[Any]) -> None:
        self.records.extend(records)


def post(path: str, body: dict[str, Any], suppressed: Any = lambda: SUPPRESSED) -> tuple[IngestOutcome, Stream]:
    stream = Stream()
    service = IngestService(lambda: WORKSPACE, stream, "us-west-2", suppressed=suppressed)
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    request = HttpRequest(headers={"content-type": "application/json", "authorization": auth}, body=orjson.dumps(body))
    outcome = IngestOutcome()
    service.receive(path, request, outcome)
    return outcome, stream


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"userId": "u-gone"}, True),
        ({"userId": 42}, True),  # ids are compared as text, as ingest stores them
        ({"anonymousId": "anon-gone", "userId": "someone"}, True),
        ({"userId": "u-here", "anonymousId": "anon-here"}, False),
        ({"anonymousId": "u-gone"}, False),  # a userId entry is not an anonymousId one
        ("not an object", False),
    ],
)
def test_a_message_is_suppressed_by_its_user_id_or_anonymous_id(message: Any, expected: bool):
    assert is_suppressed(message, SUPPRESSED) is expected


def test_a_suppressed_single_call_is_answered_as_taken_and_never_reaches_the_stream():
    outcome, stream = post("track", {"userId": "u-gone", "event": "Clicked"})
    assert (outcome.suppressed, outcome.accepted, stream.records) == (1, 0, [])


def test_a_batch_keeps_the_others_and_counts_the_suppressed():
    batch = [
        {"type": "track", "userId": "u-gone", "event": "A"},
        {"type": "track", "userId": "u-here", "event": "B"},
        {"type": "identify", "anonymousId": "anon-gone"},
    ]
    outcome, stream = post("batch", {"batch": batch})
    assert (outcome.suppressed, outcome.accepted, len(stream.records)) == (2, 1, 1)
    assert b"u-here" in stream.records[0].data


def test_without_the_suppression_list_nothing_is_taken():
    def unavailable() -> frozenset[str]:
        raise RuntimeError("ProvisionedThroughputExceededException")

    with pytest.raises(ApiError) as refused:
        post("track", {"userId": "u-here", "event": "Clicked"}, suppressed=unavailable)
    assert refused.value.status == 503


class FlakyStore:
    def __init__(self) -> None:
        self.answers: list[Any] = []

    def load(self) -> frozenset[str]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_cache_rereads_after_its_age_and_keeps_the_last_good_read_when_a_read_fails():
    store, now = FlakyStore(), [0.0]
    store.answers = [frozenset({"user:a"}), RuntimeError("throttled"), frozenset({"user:b"})]
    cached = Cached(store.load, 10, clock=lambda: now[0])
    assert cached.get() == {"user:a"}
    now[0] = 11
    assert cached.get() == {"user:a"}, "a failed re-read keeps the last set"
    now[0] = 22
    assert cached.get() == {"user:b"}


class ArchiveS3:
    """list_objects_v2 (paginated) and get_object over in-memory archive objects."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = {
            key: gzip.compress(b"\n".join(orjson.dumps(e) for e in events)) for key, events in objects.items()
        }

    def get_paginator(self, name: str) -> Any:
        objects = self.objects

        class Paginator:
            def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:  # noqa: N803
                return [{"Contents": [{"Key": key} for key in objects if key.startswith(Prefix)]}]

        return Paginator()

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        return {"Body": io.BytesIO(self.objects[Key])}


def test_the_archive_ties_anonymous_ids_to_the_users_within_the_days_asked():
    s3 = ArchiveS3(
        {
            "source_id=web/date=2026-11-30/hour=10/s-1.jsonl.gz": [
                {"userId": "u-gone", "anonymousId": "cookie-1"},
                {"userId": "u-here", "anonymousId": "cookie-2"},
            ],
            "source_id=app/date=2026-11-29/hour=23/s-9.jsonl.gz": [{"userId": "u-gone", "anonymousId": "device-7"}],
            "source_id=web/date=2026-10-01/hour=10/s-1.jsonl.gz": [{"userId": "u-gone", "anonymousId": "old-cookie"}],
        }
    )
    ties = tied_anonymous_ids(s3, "archive", ["web", "app"], {"u-gone"}, days=2, now=datetime(2026, 11, 30, tzinfo=UTC))
    assert ties.anonymous_ids == {"cookie-1", "device-7"} and ties.objects_read == 2


def test_delivery_skips_a_suppressed_users_events_already_queued_or_replayed():
    adapter, stats = FakeAdapter(), FakeStats()
    live, replayed, other = queued(0), queued(1), queued(2)
    live.request.event["userId"] = "u-gone"
    replayed.request.event["anonymousId"] = "anon-gone"
    replayed.request.lane = REPLAY_LANE
    deliverer = make_deliverer(adapter=adapter, stats=stats, suppressed=lambda: SUPPRESSED)
    outcomes = deliverer.deliver([live, replayed, other])
    assert [outcomes[key].decision.action for key in ("q0", "q1", "q2")] == [Action.SKIP, Action.SKIP, Action.DONE]
    assert [ids for ids, _ in adapter.calls] == [["m2"]]
    assert stats.failures.count(("filtered_suppressed_user", "filtered")) == 2
